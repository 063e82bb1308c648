fn main() -> std::process::ExitCode {
    tune_allocator();
    proctor::cli::main()
}

/// One malloc arena for all the host's threads. glibc gives threads that
/// allocate at once arenas of their own, and the host's threads take turns
/// at the same data (a runtime thread reads a batch's results, another
/// writes the reports), so each arena grew to the run's size: the host's
/// peak memory was half as much again as its heap (11.5 KB a test on
/// 10,000 pytest tests, 7.3 KB with one arena, the CPU time the same).
///
/// And a fixed size from which blocks are mapped of their own. glibc
/// raises that size to that of each mapped block freed, up to 32 MB, so
/// after a batch's first large list was freed, every later one (a
/// batch's results, its attempts, the records) came from the heap, where
/// growing a list moves it and leaves its old room as a hole: the peak
/// memory of 10,000 tests was 1,398 bytes a test, 1,278 with the size
/// fixed at 256 KB (1,343 at glibc's first size, 128 KB). Mapped, a list
/// grows and shrinks in place, and gives its room back when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt sets a tunable of the allocator; nothing else runs yet.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    // SAFETY: as above.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
