//! The `screenshot` collector: when a test fails or crashes, or a process
//! tree hangs (before it is killed), a PNG of the X display, attached to
//! that attempt (a hang's, to the source). Without a display (no `display`
//! setting and no `DISPLAY`) it does nothing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use proctor_sdk::messages::{Attachment, CollectorResponse, LifecycleEvent, Outcome, Owner};
use proctor_sdk::{export_plugins, Collector, Error, Result};
use serde::Deserialize;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat};

/// A PNG image of the screen.
pub const KIND: &str = "proctor://collector/screenshot/png/1";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The X display, e.g. `:99`; default: `DISPLAY`.
    #[serde(default)]
    display: Option<String>,
}

pub struct Screenshot {
    display: Option<String>,
    results_dir: Mutex<Option<PathBuf>>,
}

/// Grabs the root window of `display` and writes it to `path` as PNG.
pub fn capture(display: &str, path: &Path) -> std::result::Result<(u16, u16), String> {
    let (conn, screen) = x11rb::connect(Some(display)).map_err(|e| e.to_string())?;
    let screen = &conn.setup().roots[screen];
    let (width, height) = (screen.width_in_pixels, screen.height_in_pixels);
    let image = conn
        .get_image(ImageFormat::Z_PIXMAP, screen.root, 0, 0, width, height, !0)
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| e.to_string())?;
    if image.depth != 24 && image.depth != 32 {
        return Err(format!("a {}-bit display is not supported", image.depth));
    }
    // 24- and 32-bit Z pixmaps hold a pixel in 4 bytes, blue first.
    let rgb: Vec<u8> = image
        .data
        .chunks_exact(4)
        .flat_map(|pixel| [pixel[2], pixel[1], pixel[0]])
        .collect();
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width.into(), height.into());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&rgb))
        .map_err(|e| e.to_string())?;
    Ok((width, height))
}

/// A test id as a file name.
fn file_name(test: &str) -> String {
    test.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Screenshot {
    fn take(
        &self,
        name: &str,
        source: &str,
        owner: Owner,
        why: &str,
    ) -> Result<Option<Attachment>> {
        let Some(display) = &self.display else {
            return Ok(None);
        };
        let results_dir = self
            .results_dir
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::msg("a test ended before the session started"))?;
        let dir = results_dir.join("screenshots").join(source);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::msg(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(format!("{name}.png"));
        let (width, height) = capture(display, &path)
            .map_err(|e| Error::msg(format!("cannot capture display {display}: {e}")))?;
        Ok(Some(Attachment {
            kind: KIND.into(),
            path,
            owner,
            description: format!("the screen ({width}x{height}) when {why}"),
        }))
    }
}

impl Collector for Screenshot {
    const NAME: &'static str = "screenshot";
    const DESCRIPTION: &'static str = "Captures the screen when a test fails or hangs";
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        let display = settings
            .display
            .or_else(|| std::env::var("DISPLAY").ok())
            .filter(|d| !d.is_empty());
        Ok(Self {
            display,
            results_dir: Mutex::new(None),
        })
    }

    fn on_event(&self, event: LifecycleEvent) -> Result<CollectorResponse> {
        let mut response = CollectorResponse::default();
        let attachment = match event {
            LifecycleEvent::SessionStarted { results_dir, .. } => {
                *self.results_dir.lock().unwrap_or_else(|p| p.into_inner()) = Some(results_dir);
                None
            }
            // A hang is captured before the kill; its timed-out test is not again.
            LifecycleEvent::TestFinished {
                source,
                test,
                attempt,
                outcome: outcome @ (Outcome::Failed | Outcome::Crashed),
                ..
            } => {
                let name = format!("{}-attempt-{attempt}", file_name(&test));
                let why = format!("{test} {}", outcome.as_str());
                let owner = Owner::Attempt {
                    source: source.clone(),
                    test,
                    attempt,
                };
                self.take(&name, &source, owner, &why)?
            }
            LifecycleEvent::HangDetected { source, pid, .. } => {
                let owner = Owner::Source {
                    source: source.clone(),
                };
                let why = format!("process {pid} hung");
                self.take(&format!("hang-{pid}"), &source, owner, &why)?
            }
            _ => None,
        };
        response.attachments.extend(attachment);
        Ok(response)
    }
}

export_plugins!(collector Screenshot);
