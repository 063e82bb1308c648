//! Output written in batches: what a subscriber makes of per-test events
//! is held here until [`Subscriber::flush`](crate::events::Subscriber::flush)
//! and then written with one write, so lines never interleave and a
//! thousand results cost one system call. Whatever is held when it is
//! dropped is written then: a run that ends without a last pause keeps it.

use std::io::Write;

pub(super) struct Batched<W: Write> {
    out: W,
    bytes: Vec<u8>,
    /// What `out` is, for the error when a write fails.
    name: &'static str,
}

impl<W: Write> Batched<W> {
    pub fn new(out: W, name: &'static str) -> Self {
        Self {
            out,
            bytes: Vec::new(),
            name,
        }
    }

    /// Where to put what is to be held.
    pub fn bytes(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Writes what is held with one write. Kept on the caller's task on
    /// purpose: handed to a thread, a line could be lost with a host
    /// killed right after.
    pub fn write_out(&mut self) {
        if self.bytes.is_empty() {
            return;
        }
        if let Err(e) = self.out.write_all(&self.bytes) {
            tracing::error!("cannot write to {}: {e}", self.name);
        }
        self.bytes.clear();
    }
}

impl<W: Write> Drop for Batched<W> {
    fn drop(&mut self) {
        self.write_out();
    }
}
