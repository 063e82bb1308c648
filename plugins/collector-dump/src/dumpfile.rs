//! Writing a dump of a live process and reading back what groups it: a
//! minidump, or a full core from gdb's `gcore` where a minidump cannot be
//! written.

use std::path::{Path, PathBuf};

use minidump::{Minidump, MinidumpModuleList, MinidumpSystemInfo, MinidumpThreadList, Module};

/// `MINIDUMP_STREAM_TYPE::ExceptionStream`.
const EXCEPTION_STREAM: u32 = 6;

/// The signal a dumped thread was about to receive, as the kernel told it.
#[derive(Debug, Clone, Copy)]
pub struct Signal {
    pub number: i32,
    /// `si_code`.
    pub code: i32,
    pub address: Option<u64>,
}

/// Writes a minidump of process `pid` (which must be untraced: the writer
/// attaches to each thread), blaming thread `tid`. With `signal`, the dump's
/// exception record says what the thread was about to receive, as a dump
/// taken in a crash handler would.
pub fn write(pid: u32, tid: u32, signal: Option<Signal>, path: &Path) -> Result<(), String> {
    let mut dump =
        minidump_writer::minidump_writer::MinidumpWriterConfig::new(pid as i32, tid as i32)
            .write(&mut std::io::Cursor::new(Vec::new()))
            .map_err(|e| e.to_string())?;
    if let Some(signal) = signal {
        record_signal(&mut dump, signal).ok_or("cannot record the signal: not a minidump")?;
    }
    std::fs::write(path, dump).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Fills the exception record the writer left as "dump requested": its
/// code is the signal, its flags the `si_code`, its address the fault's
/// (the layout `minidump-writer` writes from a crash handler's context).
fn record_signal(dump: &mut [u8], signal: Signal) -> Option<()> {
    let u32_at = |dump: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(dump.get(at..at + 4)?.try_into().ok()?))
    };
    // The header: signature, version, stream count, directory offset; each
    // directory entry: type, size, offset.
    let (count, directory) = (u32_at(dump, 8)?, u32_at(dump, 12)? as usize);
    let entry = (0..count as usize)
        .map(|i| directory + i * 12)
        .find(|&entry| u32_at(dump, entry) == Some(EXCEPTION_STREAM))?;
    let stream = u32_at(dump, entry + 8)? as usize;
    // The stream: thread id, padding, then the record: code, flags, a
    // nested record's address, the exception's address.
    let mut put = |at: usize, bytes: &[u8]| -> Option<()> {
        dump.get_mut(stream + at..stream + at + bytes.len())?
            .copy_from_slice(bytes);
        Some(())
    };
    put(8, &(signal.number as u32).to_le_bytes())?;
    put(12, &(signal.code as u32).to_le_bytes())?;
    put(24, &signal.address.unwrap_or(0).to_le_bytes())
}

/// What a dump says of its crashing or hung thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The frame the dump is grouped by: the innermost frame outside the C
    /// and C++ runtimes (an `abort` is grouped by who called it, not by
    /// `abort`), else the innermost frame.
    pub signature: String,
    /// The thread's frames, innermost first, as `module+0xoffset`.
    pub frames: Vec<String>,
}

/// Libraries whose frames do not make a signature: the signal and abort
/// machinery of the C and C++ runtimes.
const RUNTIMES: [&str; 5] = [
    "libc.so",
    "libpthread.so",
    "libstdc++.so",
    "libgcc_s.so",
    "ld-linux",
];

/// Reads thread `tid`'s frames from a minidump, and its signature.
pub fn describe(path: &Path, tid: u32) -> Result<Described, String> {
    let dump = Minidump::read_path(path).map_err(|e| e.to_string())?;
    let threads: MinidumpThreadList = dump.get_stream().map_err(|e| e.to_string())?;
    let modules: MinidumpModuleList = dump.get_stream().map_err(|e| e.to_string())?;
    let system: MinidumpSystemInfo = dump.get_stream().map_err(|e| e.to_string())?;
    let memory = dump.get_memory();
    let thread = threads
        .threads
        .iter()
        .find(|t| t.raw.thread_id == tid)
        .or(threads.threads.first())
        .ok_or("the dump has no thread")?;
    let context = thread
        .context(&system, None)
        .ok_or("the thread has no context")?;
    let stack = memory
        .as_ref()
        .and_then(|memory| thread.stack_memory(memory));
    let frames: Vec<(Option<String>, String)> =
        crate::frames::unwind(&context, stack.as_ref(), &modules)
            .into_iter()
            .map(|address| match modules.module_at_address(address) {
                Some(module) => {
                    let name = file_name(&module.code_file());
                    let frame = format!("{name}+{:#x}", address - module.base_address());
                    (Some(name), frame)
                }
                None => (None, format!("{address:#x}")),
            })
            .collect();
    let in_runtime = |module: &Option<String>| {
        module
            .as_ref()
            .is_some_and(|name| RUNTIMES.iter().any(|runtime| name.starts_with(runtime)))
    };
    let signature = frames
        .iter()
        .find(|(module, _)| !in_runtime(module))
        .or(frames.first())
        .map(|(_, frame)| frame.clone())
        .expect("a walk has its first frame");
    Ok(Described {
        signature,
        frames: frames.into_iter().map(|(_, frame)| frame).collect(),
    })
}

fn file_name(path: &str) -> String {
    Path::new(path).file_name().map_or_else(
        || path.to_owned(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// Writes a full core of process `pid` (which must be untraced) with gdb's
/// `gcore`, which leaves the process as it found it.
pub fn write_core(pid: u32, path: &Path) -> Result<(), String> {
    // gcore names the file PREFIX.PID.
    let prefix = path.with_extension("");
    let output = std::process::Command::new("gcore")
        .arg("-o")
        .arg(&prefix)
        .arg(pid.to_string())
        .output()
        .map_err(|e| format!("cannot run gcore (install gdb): {e}"))?;
    let written = PathBuf::from(format!("{}.{pid}", prefix.display()));
    if !output.status.success() || !written.exists() {
        let _ = std::fs::remove_file(&written);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!("gcore failed ({}): {last}", output.status));
    }
    std::fs::rename(&written, path).map_err(|e| format!("cannot rename {}: {e}", written.display()))
}

/// The frame thread `tid` was at, from an ELF core: its registers
/// (`NT_PRSTATUS`) and the mapped files (`NT_FILE`), a module's base being
/// its lowest mapping, as in a minidump, so that a crash outside the
/// runtimes has one signature in either format. A core is not unwound: its
/// signature is its top frame.
pub fn describe_core(path: &Path, tid: u32) -> Result<Described, String> {
    use goblin::elf::note::{NT_FILE, NT_PRSTATUS};
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let elf = goblin::elf::Elf::parse(&bytes).map_err(|e| e.to_string())?;
    let (pid_at, pc_at) = match elf.header.e_machine {
        goblin::elf::header::EM_X86_64 => (32, 112 + 16 * 8),
        goblin::elf::header::EM_AARCH64 => (32, 112 + 32 * 8),
        machine => return Err(format!("no registers known for ELF machine {machine}")),
    };
    let u64_at = |data: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
    };
    let mut pcs = Vec::new();
    let mut files: Vec<(u64, String)> = Vec::new();
    for note in elf
        .iter_note_headers(&bytes)
        .into_iter()
        .flatten()
        .flatten()
    {
        match note.n_type {
            NT_PRSTATUS => {
                let pid = note
                    .desc
                    .get(pid_at..pid_at + 4)
                    .map(|b| u32::from_le_bytes(b.try_into().expect("four bytes")));
                pcs.extend(u64_at(note.desc, pc_at).map(|pc| (pid, pc)));
            }
            NT_FILE => {
                let count = u64_at(note.desc, 0).unwrap_or(0) as usize;
                let names = note.desc.get(16 + count * 24..).unwrap_or(&[]);
                let names = names.split(|&b| b == 0).map(|n| String::from_utf8_lossy(n));
                for (i, name) in names.take(count).enumerate() {
                    if let Some(start) = u64_at(note.desc, 16 + i * 24) {
                        files.push((start, name.into_owned()));
                    }
                }
            }
            _ => {}
        }
    }
    let pc = pcs
        .iter()
        .find(|(pid, _)| *pid == Some(tid))
        .or(pcs.first())
        .map(|(_, pc)| *pc)
        .ok_or("the core has no thread")?;
    // The mapping holding pc is the last that starts at or below it.
    files.sort();
    let Some((_, module)) = files.iter().rev().find(|(start, _)| *start <= pc) else {
        let top = format!("{pc:#x}");
        return Ok(Described {
            signature: top.clone(),
            frames: vec![top],
        });
    };
    let base = files
        .iter()
        .filter(|(_, name)| name == module)
        .map(|(start, _)| *start)
        .min()
        .expect("the module has a mapping");
    let top = format!("{}+{:#x}", file_name(module), pc - base);
    Ok(Described {
        signature: top.clone(),
        frames: vec![top],
    })
}
