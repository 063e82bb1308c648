//! A request made on a thread of its own, so that the download can answer
//! the host while the network does not answer it.
//!
//! A blocking read cannot be interrupted: a server that sends its headers
//! and then nothing held the download in `read` until `stall_timeout_seconds`
//! passed (60 s by default), deaf to a host asked to stop. So the request,
//! and the copy of its body into the part file, run on a transfer thread;
//! the download's own thread waits for it at most [`CANCEL_CHECK`] at a
//! time, reporting the bytes written so far and asking the host whether to
//! go on. Cancelled, it returns at once. The transfer thread, left behind,
//! stops at its next read, or when its blocked read gives up; what it
//! writes meanwhile goes to a part file already removed.
//!
//! The body is written by the transfer thread itself, through its own
//! handle on the part file: handing each buffer to the download's thread
//! instead halved the throughput on loopback (allocations and a wake-up a
//! read).

use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use proctor_sdk::Progress;
use ureq::http::response::Parts;
use ureq::typestate::WithoutBody;
use ureq::RequestBuilder;

/// How often a download waiting asks the host whether to go on.
const CANCEL_CHECK: Duration = Duration::from_millis(100);

/// What the transfer thread says, in order: the answer's head, then, if
/// the body was asked for, how its copy ended.
pub enum Delivery {
    /// The status and headers, and the body's announced length.
    Head(Parts, Option<u64>),
    /// The request failed before an answer came.
    Refused(ureq::Error),
    /// The body was copied whole.
    End,
    /// A read of the body failed.
    Broke(std::io::Error),
    /// A write to the part file failed.
    WriteFailed(std::io::Error),
}

/// Why waiting for the transfer thread ended without a word from it.
pub enum NotDelivered {
    /// The host asked the download to stop.
    Cancelled,
    /// The transfer thread ended without saying how: it panicked.
    Lost,
}

/// What both threads see.
#[derive(Default)]
struct Shared {
    /// Body bytes written to the part file.
    written: AtomicU64,
    /// Set when the download no longer waits for the thread.
    abandoned: AtomicBool,
}

/// A request under way on its transfer thread; abandoned when dropped.
pub struct RequestThread {
    deliveries: Receiver<Delivery>,
    /// Tells the thread to copy the body, once the head is judged.
    go: Option<SyncSender<()>>,
    shared: Arc<Shared>,
}

impl RequestThread {
    /// Makes `request` on a new thread, which copies the body, when asked
    /// to, into `file` in reads of `buffer_size` bytes.
    pub fn start(
        request: RequestBuilder<WithoutBody>,
        file: File,
        buffer_size: usize,
    ) -> std::io::Result<Self> {
        let (sender, deliveries) = mpsc::sync_channel(1);
        let (go, going) = mpsc::sync_channel(1);
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("http-transfer".into())
            .spawn(move || {
                let last = transfer(request, (file, buffer_size), (&sender, &going), &theirs);
                let _ = sender.send(last);
            })?;
        Ok(Self {
            deliveries,
            go: Some(go),
            shared,
        })
    }

    /// Asks the thread to copy the body into the part file.
    pub fn copy_body(&mut self) {
        if let Some(go) = self.go.take() {
            let _ = go.send(());
        }
    }

    /// The body bytes the thread has written so far.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// The thread's next word, reporting to the host before each wait,
    /// with `done` of `total` bytes and what the thread wrote since, so
    /// that a download waiting on a silent server still hears a stop.
    pub fn next(
        &self,
        progress: &Progress,
        done: u64,
        total: Option<u64>,
    ) -> Result<Delivery, NotDelivered> {
        let done = || done + self.written();
        let heard = hearing_the_host(progress, (done, total), |most| {
            match self.deliveries.recv_timeout(most) {
                Ok(delivery) => Some(Ok(delivery)),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(Err(NotDelivered::Lost)),
            }
        });
        heard.unwrap_or(Err(NotDelivered::Cancelled))
    }
}

/// Waits until `step` answers, letting it wait at most [`CANCEL_CHECK`] at
/// a time and reporting `done()` of `total` bytes to the host before each
/// step; `None` once the host answers that the download is to stop.
pub fn hearing_the_host<T>(
    progress: &Progress,
    (done, total): (impl Fn() -> u64, Option<u64>),
    mut step: impl FnMut(Duration) -> Option<T>,
) -> Option<T> {
    loop {
        if !progress.report(done(), total) {
            return None;
        }
        if let Some(answer) = step(CANCEL_CHECK) {
            return Some(answer);
        }
    }
}

impl Drop for RequestThread {
    fn drop(&mut self) {
        self.shared.abandoned.store(true, Ordering::Relaxed);
    }
}

/// The transfer thread: makes the request, hands over its head, and copies
/// the body when told to; answers its last word.
fn transfer(
    request: RequestBuilder<WithoutBody>,
    (mut file, buffer_size): (File, usize),
    (to, going): (&SyncSender<Delivery>, &Receiver<()>),
    shared: &Shared,
) -> Delivery {
    let response = match request.call() {
        Ok(response) => response,
        Err(e) => return Delivery::Refused(e),
    };
    let (head, body) = response.into_parts();
    let length = body.content_length();
    if to.send(Delivery::Head(head, length)).is_err() || going.recv().is_err() {
        // The download went on without the body.
        return Delivery::End;
    }
    let mut reader = body.into_reader();
    let mut buffer = vec![0u8; buffer_size];
    while !shared.abandoned.load(Ordering::Relaxed) {
        let read = match reader.read(&mut buffer) {
            Ok(0) => return Delivery::End,
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Delivery::Broke(e),
        };
        if let Err(e) = file.write_all(&buffer[..read]) {
            return Delivery::WriteFailed(e);
        }
        shared.written.fetch_add(read as u64, Ordering::Relaxed);
    }
    Delivery::End
}
