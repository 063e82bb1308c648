//! Writes a minidump of each given process, for the dump compression
//! benchmark: `dump OUTPUT_DIR PID...` (needs the right to ptrace them).

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: dump OUTPUT_DIR PID..."));
    std::fs::create_dir_all(&dir).unwrap();
    for pid in args {
        let pid: i32 = pid.parse().expect("a pid");
        let path = dir.join(format!("{pid}-{}.dmp", std::process::id()));
        let mut file = std::fs::File::create(&path).unwrap();
        minidump_writer::minidump_writer::MinidumpWriterConfig::new(pid, pid)
            .write(&mut file)
            .unwrap_or_else(|e| panic!("cannot dump {pid}: {e}"));
    }
}
