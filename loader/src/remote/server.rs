//! The plugin process's side: load, create, answer until the host leaves.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader};
use std::os::fd::{FromRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proctor_plugin_api::abi::*;
use proctor_plugin_api::messages::PluginKind;

use super::wire::{read_frame, write_frame, Frame, CREATE_ID};
use super::{Order, REFUSED};
use crate::call::ProgressCell;
use crate::handles::{construct, invoke_here, Object, PluginVTable};
use crate::load_library;
use crate::workers::Workers;

/// How often a call's progress goes to the host, at most.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(50);

/// Serves the host over stdin and stdout until the host closes stdin, then
/// exits. The plugin's own writes to stdout go to stderr instead, and its
/// reads of stdin find nothing: neither can corrupt the frames.
pub fn serve() -> io::Result<()> {
    leave_with_the_host();
    let (input, output) = take_stdio()?;
    let mut input = BufReader::new(input);
    let output = Arc::new(Mutex::new(output));
    let order = match read_frame(&mut input)? {
        Some(Frame::Create(order)) => serde_json::from_str::<Order>(&order)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the host's first frame is no order: {other:?}"),
            ))
        }
    };
    let (library, kind, name, settings) = match order {
        Order::Describe { library } => {
            let described = match load_library(&library) {
                Ok(library) => Ok(serde_json::to_string(&library.description())
                    .expect("a description serializes")),
                Err(refusal) => Err(match serde_json::to_string(&refusal) {
                    Ok(refusal) => (REFUSED, refusal),
                    Err(_) => (PluginError::FAILED, refusal.to_string()),
                }),
            };
            return answer(&output, CREATE_ID, described);
        }
        Order::Create {
            library,
            kind,
            name,
            settings,
        } => (library, kind, name, settings),
    };
    let loaded = match load_library(&library) {
        Ok(library) => library.module(),
        Err(refusal) => Err(refusal),
    };
    let module = match loaded {
        Ok(module) => module,
        Err(refusal) => {
            let refused = Err((PluginError::FAILED, refusal.to_string()));
            return answer(&output, CREATE_ID, refused);
        }
    };
    let order = (name.as_str(), settings.as_str());
    match kind {
        PluginKind::Runner => serve_plugin::<RunnerVTableRef>(module, order, input, output),
        PluginKind::Downloader => serve_plugin::<DownloaderVTableRef>(module, order, input, output),
        PluginKind::Collector => serve_plugin::<CollectorVTableRef>(module, order, input, output),
        PluginKind::AttachmentProcessor => {
            serve_plugin::<AttachmentProcessorVTableRef>(module, order, input, output)
        }
    }
}

type Output = Arc<Mutex<File>>;

/// Creates plugin `name` with `settings`, then answers its calls.
fn serve_plugin<V: PluginVTable>(
    module: PluginLibraryRef,
    (name, settings): (&str, &str),
    mut input: BufReader<File>,
    output: Output,
) -> io::Result<()> {
    let object = match construct::<V>(module, name, settings) {
        Ok(object) => Arc::new(Object(object)),
        Err(e) => return answer(&output, CREATE_ID, Err((e.code, e.message.into_string()))),
    };
    answer(&output, CREATE_ID, Ok("null".to_owned()))?;
    // The calls under way, for the host's requests to stop them.
    let calls: Arc<Mutex<HashMap<u64, Arc<ProgressCell>>>> = Arc::default();
    loop {
        match read_frame(&mut input) {
            Ok(Some(Frame::Call {
                id,
                operation,
                request,
            })) => {
                let cell = Arc::new(ProgressCell::default());
                calls
                    .lock()
                    .expect("the calls' lock")
                    .insert(id, cell.clone());
                let (object, output, calls) = (object.clone(), output.clone(), calls.clone());
                let call = move || {
                    let sent = Mutex::new(Instant::now());
                    let report = |done, total: Option<u64>| {
                        let mut last = sent.lock().expect("the progress lock");
                        if last.elapsed() >= PROGRESS_INTERVAL {
                            *last = Instant::now();
                            let total = total.unwrap_or(u64::MAX);
                            let frame = Frame::Progress { id, done, total };
                            let _ = write_frame(
                                &mut *output.lock().expect("the output's lock"),
                                &frame,
                            );
                        }
                        cell.report(done, total)
                    };
                    let answered = invoke_here(&object, operation, &request, Some(&report))
                        .map_err(|e| (e.code, e.message.into_string()));
                    calls.lock().expect("the calls' lock").remove(&id);
                    if answer(&output, id, answered).is_err() {
                        // The host is gone.
                        std::process::exit(0);
                    }
                };
                // A frequent call answers at once: handing it to a pool
                // thread would cost more than making it. Should it hang,
                // the host kills the process at its deadline.
                match operation.frequent() {
                    true => call(),
                    false => Workers::global().run(call),
                }
            }
            Ok(Some(Frame::Stop { id })) => {
                if let Some(cell) = calls.lock().expect("the calls' lock").get(&id) {
                    cell.ask_to_stop();
                }
            }
            // The host closed the pipe: it ended or let the plugin go. Calls
            // still running are abandoned with the process.
            Ok(None) => std::process::exit(0),
            Ok(Some(frame)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a frame only a plugin sends: {frame:?}"),
                ))
            }
            Err(e) => return Err(e),
        }
    }
}

fn answer(output: &Output, id: u64, answer: Result<String, (u32, String)>) -> io::Result<()> {
    let mut output = output.lock().expect("the output's lock");
    write_frame(&mut *output, &Frame::Answer { id, answer })
}

/// Ends this process when the host that started it ends. The host closing
/// stdin says so, but a call that hangs on the thread reading it would not
/// hear it; and `PR_SET_PDEATHSIG` follows the host's thread that started
/// the process, not the host. So a thread looks whether the parent changed.
fn leave_with_the_host() {
    let host = std::os::unix::process::parent_id();
    let _ = std::thread::Builder::new()
        .name("host-watch".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            if std::os::unix::process::parent_id() != host {
                std::process::exit(0);
            }
        });
}

/// Takes stdin and stdout for the frames, and leaves the plugin an empty
/// stdin and a stdout that is stderr.
fn take_stdio() -> io::Result<(File, File)> {
    fn check(result: libc::c_int) -> io::Result<libc::c_int> {
        if result < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(result)
        }
    }
    // SAFETY: duplicates and replaces the process's standard descriptors
    // before any other thread uses them; each new descriptor is owned once.
    unsafe {
        let input: RawFd = check(libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3))?;
        let output: RawFd = check(libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3))?;
        let null = check(libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY))?;
        check(libc::dup2(null, 0))?;
        libc::close(null);
        check(libc::dup2(2, 1))?;
        Ok((File::from_raw_fd(input), File::from_raw_fd(output)))
    }
}
