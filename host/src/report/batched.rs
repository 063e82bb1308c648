//! Output written in batches: what a subscriber makes of per-test events
//! is held here until [`Subscriber::flush`](crate::events::Subscriber::flush)
//! and then written with one write, so lines never interleave and a
//! thousand results cost one system call. What is held never grows past
//! [`HELD_AT_MOST`]: a batch of ten thousand results that end at once is
//! written a few hundred kilobytes at a time, not held whole (the whole
//! was the run's peak of memory). Whatever is held when it is dropped is
//! written then: a run that ends without a last pause keeps it.

use std::io::Write;
use std::sync::{Mutex, MutexGuard};

/// Past this many bytes held, what is held is written at once: large
/// enough that a write is rare, small enough to be no one's peak.
pub(super) const HELD_AT_MOST: usize = 256 * 1024;

/// Held bytes and where they go, shared by the threads that emit events.
pub(super) struct Batched<W: Write> {
    held: Mutex<Held<W>>,
    /// What the output is, for the error when a write fails.
    name: &'static str,
}

struct Held<W> {
    out: W,
    bytes: Vec<u8>,
}

impl<W: Write> Batched<W> {
    pub fn new(out: W, name: &'static str) -> Self {
        Self {
            held: Mutex::new(Held {
                out,
                bytes: Vec::new(),
            }),
            name,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held<W>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets `make` add to what is held; writes it out when that is more
    /// than [`HELD_AT_MOST`]. `make` adds whole lines, so none is split.
    pub fn hold(&self, make: impl FnOnce(&mut Vec<u8>)) {
        let mut held = self.lock();
        make(&mut held.bytes);
        if held.bytes.len() > HELD_AT_MOST {
            held.write_out(self.name);
        }
    }

    /// Adds what `make` makes to what is held and writes it all out, in
    /// one write that no other thread's line can come between.
    pub fn write_with(&self, make: impl FnOnce(&mut Vec<u8>)) {
        let mut held = self.lock();
        make(&mut held.bytes);
        held.write_out(self.name);
    }

    /// Writes what is held with one write. Kept on the caller's task on
    /// purpose: handed to a thread, a line could be lost with a host
    /// killed right after.
    pub fn write_out(&self) {
        self.lock().write_out(self.name);
    }
}

impl<W: Write> Held<W> {
    fn write_out(&mut self, name: &str) {
        if self.bytes.is_empty() {
            return;
        }
        if let Err(e) = self.out.write_all(&self.bytes) {
            tracing::error!("cannot write to {name}: {e}");
        }
        self.bytes.clear();
    }
}

impl<W: Write> Drop for Batched<W> {
    fn drop(&mut self) {
        let name = self.name;
        let held = self.held.get_mut().unwrap_or_else(|p| p.into_inner());
        held.write_out(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Keeps each write apart, to count them.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Writes {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn held_lines_are_written_together_until_they_pass_the_bound() {
        let writes = Writes::default();
        let batched = Batched::new(writes.clone(), "test output");
        let line = [b'x'; 99];
        let add_line = |bytes: &mut Vec<u8>| {
            bytes.extend_from_slice(&line);
            bytes.push(b'\n');
        };
        for _ in 0..10 {
            batched.hold(add_line);
        }
        assert!(
            writes.0.lock().unwrap().is_empty(),
            "nothing is written before a pause"
        );
        batched.write_out();
        assert_eq!(writes.0.lock().unwrap().len(), 1, "ten lines, one write");

        // Ten thousand lines ending at once: a few writes, none holding
        // more than the bound and a line, each of whole lines.
        let lines = 10_000;
        for _ in 0..lines {
            batched.hold(add_line);
        }
        drop(batched);
        let writes = writes.0.lock().unwrap();
        let batch = &writes[1..];
        assert!(
            batch.len() > 1 && batch.len() < 10,
            "{} writes",
            batch.len()
        );
        for write in batch {
            assert!(write.len() <= HELD_AT_MOST + 100);
            assert_eq!(write.len() % 100, 0, "a write ends mid-line");
        }
        assert_eq!(batch.iter().map(Vec::len).sum::<usize>(), lines * 100);
    }
}
