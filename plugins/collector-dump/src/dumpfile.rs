//! Writing a minidump of a live process and reading back what groups it.

use std::path::Path;

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

/// `module+0xoffset` of the instruction thread `tid` was at.
pub fn signature(path: &Path, tid: u32) -> Result<String, String> {
    let dump = Minidump::read_path(path).map_err(|e| e.to_string())?;
    let threads: MinidumpThreadList = dump.get_stream().map_err(|e| e.to_string())?;
    let modules: MinidumpModuleList = dump.get_stream().map_err(|e| e.to_string())?;
    let system: MinidumpSystemInfo = dump.get_stream().map_err(|e| e.to_string())?;
    let thread = threads
        .threads
        .iter()
        .find(|t| t.raw.thread_id == tid)
        .or(threads.threads.first())
        .ok_or("the dump has no thread")?;
    let context = thread
        .context(&system, None)
        .ok_or("the thread has no context")?;
    let ip = context.get_instruction_pointer();
    Ok(match modules.module_at_address(ip) {
        Some(module) => {
            let file = module.code_file();
            let name = Path::new(file.as_ref())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.into_owned());
            format!("{name}+{:#x}", ip - module.base_address())
        }
        None => format!("{ip:#x}"),
    })
}
