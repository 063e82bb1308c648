//! Output written in batches: what a subscriber makes of per-test events
//! is held here until [`Subscriber::flush`](crate::events::Subscriber::flush)
//! and then written with one write, so lines never interleave and a
//! thousand results cost one system call. Whatever is held when it is
//! dropped is written then: a run that ends without a last pause keeps it.

use std::io::Write;
use std::sync::{Mutex, MutexGuard};

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

    /// Lets `make` add to what is held.
    pub fn hold(&self, make: impl FnOnce(&mut Vec<u8>)) {
        make(&mut self.lock().bytes);
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
