//! Unpacking payload archives (zip, tar.gz, tar) without letting an entry
//! write outside the destination, or the archive fill the disk.
//!
//! An archive may unpack to at most its `UnpackLimits`: so many bytes, so many
//! entries, and so many times its own size (past a floor, so that a small
//! archive of zeros stays harmless). A compression bomb is stopped at the
//! first byte past a limit, not after it is written; the caller removes
//! what was unpacked.
//!
//! An entry is refused when its path is absolute or has a `..`, when it
//! would write through a symbolic link, and when it is a link whose target
//! resolves outside the destination. Symbolic links are made last, once
//! every file and directory exists, so no entry can be written through one
//! and each target is checked against the tree as it finally is.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::config::UnpackLimits;
use crate::results::Unpacked;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Zip,
    TarGz,
    Tar,
}

impl Format {
    /// Told by the first bytes, not the name: URIs often have no suffix.
    fn sniff(path: &Path) -> Result<Self, String> {
        let mut head = Vec::with_capacity(512);
        File::open(path)
            .and_then(|f| f.take(512).read_to_end(&mut head))
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Ok(Format::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Ok(Format::TarGz)
        } else if head.get(257..262) == Some(b"ustar") {
            Ok(Format::Tar)
        } else {
            Err("it is not a zip, tar.gz or tar archive".into())
        }
    }
}

/// Unpacks `archive` into the directory `into`, which must exist, within
/// `limits`.
pub fn unpack(archive: &Path, into: &Path, limits: UnpackLimits) -> Result<Unpacked, String> {
    let size = std::fs::metadata(archive)
        .map_err(|e| format!("cannot read {}: {e}", archive.display()))?
        .len();
    let mut unpacker = Unpacker::new(into, limits, size)?;
    let open = || {
        File::open(archive)
            .map(BufReader::new)
            .map_err(|e| format!("cannot open {}: {e}", archive.display()))
    };
    match Format::sniff(archive)? {
        Format::Zip => unpack_zip(open()?, &mut unpacker)?,
        Format::TarGz => unpack_tar(flate2::bufread::GzDecoder::new(open()?), &mut unpacker)?,
        Format::Tar => unpack_tar(open()?, &mut unpacker)?,
    }
    unpacker.finish()
}

fn unpack_tar(reader: impl Read, unpacker: &mut Unpacker) -> Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("unreadable entry: {e}"))?;
        let name = entry
            .path()
            .map_err(|e| format!("unreadable entry name: {e}"))?
            .into_owned();
        let mode = entry.header().mode().ok();
        let link = || {
            entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.into_owned())
                .ok_or_else(|| format!("link `{}` has no target", name.display()))
        };
        match entry.header().entry_type() {
            tar::EntryType::Directory => unpacker.directory(&name, mode)?,
            tar::EntryType::Symlink => unpacker.symlink(&name, link()?)?,
            tar::EntryType::Link => unpacker.hard_link(&name, &link()?)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                unpacker.file(&name, mode, &mut entry)?
            }
            // Metadata entries (pax headers, GNU long names) are read by `tar`.
            tar::EntryType::XHeader
            | tar::EntryType::XGlobalHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            other => {
                return Err(format!(
                    "entry `{}` is a {other:?}, which payloads may not hold",
                    name.display()
                ))
            }
        }
    }
    Ok(())
}

fn unpack_zip(reader: BufReader<File>, unpacker: &mut Unpacker) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| e.to_string())?;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| format!("unreadable entry {index}: {e}"))?;
        let name = PathBuf::from(
            entry
                .name()
                .map_err(|e| format!("entry {index} has an unreadable name: {e}"))?
                .into_owned(),
        );
        let mode = entry.unix_mode();
        if entry.is_symlink() {
            let mut target = String::new();
            entry
                .read_to_string(&mut target)
                .map_err(|e| format!("link `{}`: unreadable target: {e}", name.display()))?;
            unpacker.symlink(&name, PathBuf::from(target))?;
        } else if entry.is_dir() {
            unpacker.directory(&name, mode)?;
        } else {
            unpacker.file(&name, mode, &mut entry)?;
        }
    }
    Ok(())
}

/// The most bytes an archive of `archive_size` bytes may unpack to.
fn byte_budget(limits: &UnpackLimits, archive_size: u64) -> u64 {
    let by_ratio = (archive_size as f64 * limits.ratio).min(u64::MAX as f64) as u64;
    by_ratio.max(limits.ratio_floor).min(limits.bytes)
}

struct Unpacker {
    /// The destination, canonical: every real path written must start with it.
    root: PathBuf,
    /// Made by `finish`, in archive order.
    symlinks: Vec<(PathBuf, PathBuf)>,
    unpacked: Unpacked,
    limits: UnpackLimits,
    /// The archive's own size, for the ratio.
    archive_size: u64,
    /// The most bytes it may unpack to, by the tighter of the limits.
    byte_budget: u64,
    entries: u64,
}

impl Unpacker {
    fn new(into: &Path, limits: UnpackLimits, archive_size: u64) -> Result<Self, String> {
        let root = into
            .canonicalize()
            .map_err(|e| format!("cannot open {}: {e}", into.display()))?;
        Ok(Self {
            root,
            symlinks: Vec::new(),
            unpacked: Unpacked::default(),
            byte_budget: byte_budget(&limits, archive_size),
            limits,
            archive_size,
            entries: 0,
        })
    }

    /// Counts one more entry, refusing one past the limit.
    fn count_entry(&mut self) -> Result<(), String> {
        self.entries += 1;
        match self.entries > self.limits.entries {
            true => Err(format!(
                "it holds more than {} entries (downloads.unpack_limits.entries)",
                self.limits.entries
            )),
            false => Ok(()),
        }
    }

    /// Why an archive that unpacked past its byte budget is refused: the
    /// limit that set the budget.
    fn over_budget(&self) -> String {
        match self.byte_budget < self.limits.bytes {
            true => format!(
                "it unpacks to more than {} times its own {} bytes \
                 (downloads.unpack_limits.ratio)",
                self.limits.ratio, self.archive_size
            ),
            false => format!(
                "it unpacks to more than {} bytes (downloads.unpack_limits.bytes)",
                self.limits.bytes
            ),
        }
    }

    /// An entry's path, relative and free of `.`, or why it is refused.
    fn relative(name: &Path) -> Result<PathBuf, String> {
        let mut relative = PathBuf::new();
        for component in name.components() {
            match component {
                Component::Normal(part) => relative.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(format!(
                        "entry `{}` leaves the destination: its path has `..`",
                        name.display()
                    ))
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(format!("entry `{}` has an absolute path", name.display()))
                }
            }
        }
        Ok(relative)
    }

    /// The real path to write an entry at: its parent directories made, and
    /// checked to be inside the destination.
    fn place(&self, name: &Path) -> Result<PathBuf, String> {
        let relative = Self::relative(name)?;
        let Some(file_name) = relative.file_name() else {
            return Ok(self.root.clone());
        };
        let parent = self.root.join(relative.parent().unwrap_or(Path::new("")));
        std::fs::create_dir_all(&parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        let parent = parent
            .canonicalize()
            .map_err(|e| format!("cannot open {}: {e}", parent.display()))?;
        if !parent.starts_with(&self.root) {
            return Err(format!(
                "entry `{}` leaves the destination through a link",
                name.display()
            ));
        }
        let path = parent.join(file_name);
        if path.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            return Err(format!(
                "entry `{}` would be written through a link",
                name.display()
            ));
        }
        Ok(path)
    }

    fn directory(&mut self, name: &Path, mode: Option<u32>) -> Result<(), String> {
        self.count_entry()?;
        let path = self.place(name)?;
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        set_mode(&path, mode.map(|m| m | 0o700))
    }

    fn file(
        &mut self,
        name: &Path,
        mode: Option<u32>,
        content: &mut dyn Read,
    ) -> Result<(), String> {
        self.count_entry()?;
        let path = self.place(name)?;
        let left = self.byte_budget.saturating_sub(self.unpacked.bytes);
        // One byte past what is left tells a file that would exceed it.
        let written = File::create(&path)
            .and_then(|mut file| std::io::copy(&mut content.take(left + 1), &mut file))
            .map_err(|e| format!("cannot unpack `{}`: {e}", name.display()))?;
        if written > left {
            return Err(self.over_budget());
        }
        set_mode(&path, mode)?;
        self.unpacked.files += 1;
        self.unpacked.bytes += written;
        Ok(())
    }

    /// A tar hard link: its target is another entry's path.
    fn hard_link(&mut self, name: &Path, target: &Path) -> Result<(), String> {
        self.count_entry()?;
        let path = self.place(name)?;
        let source = self.root.join(Self::relative(target)?);
        let real = source
            .canonicalize()
            .ok()
            .filter(|r| r.starts_with(&self.root));
        let Some(real) = real else {
            return Err(format!(
                "hard link `{}` points at `{}`, which is not a file inside the destination",
                name.display(),
                target.display()
            ));
        };
        std::fs::hard_link(&real, &path)
            .map_err(|e| format!("cannot link `{}`: {e}", name.display()))?;
        self.unpacked.files += 1;
        Ok(())
    }

    fn symlink(&mut self, name: &Path, target: PathBuf) -> Result<(), String> {
        self.count_entry()?;
        Self::relative(name)?;
        if target.has_root() {
            return Err(format!(
                "link `{}` points at the absolute path `{}`",
                name.display(),
                target.display()
            ));
        }
        self.symlinks.push((name.to_path_buf(), target));
        Ok(())
    }

    /// Makes the symbolic links, each checked against the finished tree.
    fn finish(self) -> Result<Unpacked, String> {
        for (name, target) in &self.symlinks {
            let path = self.place(name)?;
            if path.symlink_metadata().is_ok() {
                return Err(format!(
                    "link `{}` would replace another entry",
                    name.display()
                ));
            }
            let parent = path.parent().expect("placed paths have a parent");
            if !self.resolves_inside(parent, target) {
                return Err(format!(
                    "link `{}` points outside the destination (`{}`)",
                    name.display(),
                    target.display()
                ));
            }
            make_symlink(target, &path)
                .map_err(|e| format!("cannot link `{}`: {e}", name.display()))?;
        }
        Ok(Unpacked {
            files: self.unpacked.files + self.symlinks.len() as u64,
            bytes: self.unpacked.bytes,
        })
    }

    /// Whether `target`, read from the real directory `from`, stays inside
    /// the destination. Links already made are followed; a `..` after a
    /// part that does not exist yet is refused, since a later link could
    /// turn that part into one that climbs out.
    fn resolves_inside(&self, from: &Path, target: &Path) -> bool {
        let mut at = from.to_path_buf();
        let mut exists = true;
        for component in target.components() {
            match component {
                Component::CurDir => {}
                Component::ParentDir if exists => {
                    at.pop();
                }
                Component::Normal(part) => {
                    at.push(part);
                    match at.canonicalize() {
                        Ok(real) => at = real,
                        Err(_) => exists = false,
                    }
                }
                _ => return false,
            }
            if !at.starts_with(&self.root) {
                return false;
            }
        }
        true
    }
}

#[cfg(unix)]
fn make_symlink(target: &Path, path: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, path)
}

#[cfg(not(unix))]
fn make_symlink(_target: &Path, _path: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "symbolic links are only unpacked on Unix",
    ))
}

/// Applies an archive's permission bits, without set-id or sticky bits.
fn set_mode(path: &Path, mode: Option<u32>) -> Result<(), String> {
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    }
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    enum Entry<'a> {
        File(&'a str, &'a [u8], u32),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
        HardLink(&'a str, &'a str),
    }

    /// A tar with names written raw, so hostile ones survive the builder.
    fn tar_of(entries: &[Entry]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in entries {
            let mut header = tar::Header::new_ustar();
            let (name, kind, content, link, mode): (&str, _, &[u8], &str, u32) = match entry {
                Entry::File(n, c, m) => (n, tar::EntryType::Regular, c, "", *m),
                Entry::Dir(n) => (n, tar::EntryType::Directory, b"", "", 0o755),
                Entry::Symlink(n, t) => (n, tar::EntryType::Symlink, b"", t, 0o777),
                Entry::HardLink(n, t) => (n, tar::EntryType::Link, b"", t, 0o644),
            };
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            header.set_entry_type(kind);
            header.set_size(content.len() as u64);
            header.set_mode(mode);
            header.set_cksum();
            builder.append(&header, content).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn unpack_bytes(archive: &[u8]) -> (tempfile::TempDir, Result<Unpacked, String>) {
        unpack_within(archive, UnpackLimits::default())
    }

    fn unpack_within(
        archive: &[u8],
        limits: UnpackLimits,
    ) -> (tempfile::TempDir, Result<Unpacked, String>) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("archive");
        std::fs::write(&file, archive).unwrap();
        let into = dir.path().join("into");
        std::fs::create_dir(&into).unwrap();
        let result = unpack(&file, &into, limits);
        (dir, result)
    }

    #[test]
    fn a_compression_bomb_stops_at_the_first_byte_past_its_ratio() {
        // 64 MiB of zeros, gzipped to about 64 KiB: a thousand times.
        let zeros = vec![0u8; 64 << 20];
        let tar = tar_of(&[Entry::File("zeros", &zeros, 0o644)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let bomb = gz.finish().unwrap();
        let limits = UnpackLimits {
            ratio: 100.0,
            ratio_floor: 0,
            ..UnpackLimits::default()
        };
        let (dir, result) = unpack_within(&bomb, limits);
        let error = result.unwrap_err();
        assert!(
            error.starts_with("it unpacks to more than 100 times its own")
                && error.ends_with("(downloads.unpack_limits.ratio)"),
            "{error}"
        );
        let written = std::fs::metadata(dir.path().join("into/zeros"))
            .unwrap()
            .len();
        assert_eq!(
            written,
            100 * bomb.len() as u64 + 1,
            "stopped at the first byte past"
        );
        // Under the default floor the same archive is harmless and unpacks.
        assert!(unpack_bytes(&bomb).1.is_ok());
    }

    #[test]
    fn an_archive_past_the_byte_or_entry_limit_is_refused_naming_the_setting() {
        let big = tar_of(&[Entry::File("a", &[7; 3000], 0o644)]);
        let limits = UnpackLimits {
            bytes: 2000,
            ..UnpackLimits::default()
        };
        let error = unpack_within(&big, limits).1.unwrap_err();
        assert_eq!(
            error,
            "it unpacks to more than 2000 bytes (downloads.unpack_limits.bytes)"
        );
        let many = tar_of(&[
            Entry::Dir("d"),
            Entry::File("d/a", b"a", 0o644),
            Entry::File("d/b", b"b", 0o644),
        ]);
        let limits = UnpackLimits {
            entries: 2,
            ..UnpackLimits::default()
        };
        let error = unpack_within(&many, limits).1.unwrap_err();
        assert_eq!(
            error,
            "it holds more than 2 entries (downloads.unpack_limits.entries)"
        );
        assert!(unpack_bytes(&many).1.is_ok());
    }

    fn refused(entries: &[Entry]) -> String {
        let (dir, result) = unpack_bytes(&tar_of(entries));
        assert!(!dir.path().join("outside").exists());
        result.unwrap_err()
    }

    #[test]
    fn files_directories_modes_and_inner_links_unpack() {
        let archive = tar_of(&[
            Entry::Dir("bin"),
            Entry::File("bin/run", b"#!/bin/sh\n", 0o755),
            Entry::File("lib/v1/libx.so", b"elf", 0o644),
            Entry::Symlink("lib/libx.so", "v1/libx.so"),
            Entry::Symlink("bin/lib", "../lib"),
            Entry::HardLink("bin/run-again", "bin/run"),
        ]);
        let (dir, result) = unpack_bytes(&archive);
        assert_eq!(
            result.unwrap(),
            Unpacked {
                files: 5,
                bytes: 13
            }
        );
        let into = dir.path().join("into");
        assert_eq!(std::fs::read(into.join("bin/lib/libx.so")).unwrap(), b"elf");
        assert_eq!(
            std::fs::read(into.join("bin/run-again")).unwrap(),
            b"#!/bin/sh\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(into.join("bin/run"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755);
        }
    }

    #[test]
    fn entries_that_leave_the_destination_are_refused() {
        let error = refused(&[Entry::File("a/../../outside", b"x", 0o644)]);
        assert!(
            error.contains("leaves the destination: its path has `..`"),
            "{error}"
        );
        let error = refused(&[Entry::File("/tmp/outside", b"x", 0o644)]);
        assert!(error.contains("has an absolute path"), "{error}");
        let error = refused(&[Entry::Symlink("up", "../outside")]);
        assert!(
            error.contains("link `up` points outside the destination"),
            "{error}"
        );
        let error = refused(&[Entry::Symlink("etc", "/etc")]);
        assert!(
            error.contains("points at the absolute path `/etc`"),
            "{error}"
        );
        let error = refused(&[Entry::HardLink("passwd", "../outside")]);
        assert!(error.contains("its path has `..`"), "{error}");
    }

    #[test]
    fn links_cannot_be_chained_out_of_the_destination() {
        // `a` climbs through `b`, which does not exist yet: `b` could become
        // a link to `.`, and `a` would then point above the destination.
        let error = refused(&[Entry::Symlink("a", "b/../.."), Entry::Symlink("b", ".")]);
        assert!(error.contains("link `a` points outside"), "{error}");
        // A link through another link that stays inside is fine...
        let (_dir, result) = unpack_bytes(&tar_of(&[
            Entry::Dir("d/e"),
            Entry::Symlink("here", "d"),
            Entry::Symlink("there", "here/e/.."),
        ]));
        result.unwrap();
        // ...and one that climbs out through it is not.
        let error = refused(&[
            Entry::Symlink("here", "."),
            Entry::Symlink("out", "here/.."),
        ]);
        assert!(error.contains("link `out` points outside"), "{error}");
    }

    #[test]
    fn links_neither_replace_entries_nor_get_written_through() {
        let error = refused(&[Entry::File("f", b"x", 0o644), Entry::Symlink("f", ".")]);
        assert!(
            error.contains("link `f` would replace another entry"),
            "{error}"
        );
        let error = refused(&[Entry::Symlink("l", "."), Entry::Symlink("l", "d")]);
        assert!(
            error.contains("entry `l` would be written through a link"),
            "{error}"
        );
    }

    #[test]
    fn zip_archives_unpack_with_the_same_rules() {
        let zip_of = |entries: &[(&str, &[u8])]| {
            let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .unix_permissions(0o755);
            for (name, content) in entries {
                writer.start_file(*name, options).unwrap();
                writer.write_all(content).unwrap();
            }
            writer.finish().unwrap().into_inner()
        };
        let (dir, result) = unpack_bytes(&zip_of(&[("tools/run.sh", b"echo")]));
        assert_eq!(result.unwrap().files, 1);
        assert_eq!(
            std::fs::read(dir.path().join("into/tools/run.sh")).unwrap(),
            b"echo"
        );
        let (_dir, result) = unpack_bytes(&zip_of(&[("../outside", b"x")]));
        let error = result.unwrap_err();
        assert!(error.contains("its path has `..`"), "{error}");
    }

    #[test]
    fn other_files_are_not_archives() {
        let (_dir, result) = unpack_bytes(b"just some text that is long enough");
        assert_eq!(
            result.unwrap_err(),
            "it is not a zip, tar.gz or tar archive"
        );
    }
}
