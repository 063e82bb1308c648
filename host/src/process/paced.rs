//! Reading a process's output pipe in batches.
//!
//! A framework that prints a line a test (pytest's progress, our pytest
//! plugin's events) would wake the host once a test if its pipe were read
//! as soon as it held anything. So a pipe is read at most once a
//! [`READ_INTERVAL`] while its process runs, taking whatever the interval
//! brought. Between reads it is not registered with the runtime's poller
//! at all: that registration is edge-triggered and lasts as long as the
//! pipe, so every write would still wake a runtime thread while the reader
//! waits out its interval (measured on 10,000 pytest tests: two context
//! switches a test with the standing registration, paced or not; a third
//! of one with the pipe registered only while a read waits for data).
//!
//! A process that prints rarely is read as soon as it prints; one that
//! fills a quarter of a read or more is read again at once, so that pacing
//! never holds back a process that prints a lot (a read that finds the
//! writer between two writes comes short of full); once it has ended,
//! what is left is read at once, so that its end is not learnt an interval
//! late.
//!
//! A pipe is made to hold [`PIPE_CAPACITY`] where the system allows: a
//! burst (a framework reporting every test it collected at once) then
//! waits in the pipe for the next read instead of blocking its writer for
//! the rest of an interval each time the default 64 KiB fill up. Linux
//! counts a pipe's capacity against its user, used or not, and past
//! `pipe-user-pages-soft` (64 MiB by default) makes every new pipe of an
//! unprivileged user two pages: so the host's enlarged pipes hold
//! [`PIPES_BUDGET`] between them, a quarter of that, and a pipe past it
//! keeps the default.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::watch;
use tokio::time::Instant;

/// The least time between two reads of a pipe while its process runs.
/// Every read costs the host a read, a log file's write and a wake-up,
/// and the live events it brings their parsing call and journal write:
/// on 10,000 pytest tests, 20.4 µs of host CPU a test read every 2 ms,
/// 17.5 every 10, 16.6 every 20, with the same wall time. Twenty
/// milliseconds is still far below what a person watching the progress
/// or a test's time limit would notice.
pub const READ_INTERVAL: Duration = Duration::from_millis(20);

/// What a paced pipe is asked to hold: Linux's `pipe-max-size` by
/// default, the most an unprivileged process may ask for. Its pages are
/// only taken as output fills them.
pub const PIPE_CAPACITY: usize = 1024 * 1024;

/// What the host's enlarged pipes hold between them: sixteen, two for
/// each of eight processes at once.
pub const PIPES_BUDGET: usize = 16 * PIPE_CAPACITY;

/// The share of [`PIPES_BUDGET`] the host's pipes hold now.
static PIPES: Budget = Budget::new(PIPES_BUDGET);

/// The read end of a pipe, non-blocking, read no more than once an
/// interval until its process has ended.
pub struct PacedPipe {
    pipe: File,
    last_read: Option<Instant>,
    ended: watch::Receiver<bool>,
    _enlarged: Option<Claim>,
}

impl PacedPipe {
    /// Takes `pipe` over, made non-blocking; `ended` turns true once its
    /// process has.
    pub fn new(pipe: OwnedFd, ended: watch::Receiver<bool>) -> io::Result<Self> {
        set_nonblocking(&pipe)?;
        let enlarged = enlarge(&pipe, &PIPES);
        Ok(Self {
            pipe: File::from(pipe),
            last_read: None,
            ended,
            _enlarged: enlarged,
        })
    }

    /// Reads what the pipe holds once the interval since the last read is
    /// over, waiting for data when there is none; 0 at its end. A read
    /// that fills a quarter of `buffer` or more is followed by the next at
    /// once: a process printing that much is never held back by the pacing.
    pub async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        // A pipe that always holds data never makes the read wait: without
        // this the copier would never yield, and a test flooding its output
        // would starve the runtime (its timeout never heard). Tokio's own
        // pipes take the same budget.
        tokio::task::consume_budget().await;
        self.pace().await;
        let read = self.read_when_ready(buffer).await?;
        self.last_read = (read < buffer.len().div_ceil(4)).then(Instant::now);
        Ok(read)
    }

    /// Waits out the rest of the interval, unless the process has ended.
    async fn pace(&mut self) {
        let Some(next) = self.last_read.map(|at| at + READ_INTERVAL) else {
            return;
        };
        if next <= Instant::now() || *self.ended.borrow() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            // An error means the process is gone: no reason to wait either.
            _ = self.ended.wait_for(|&ended| ended) => {}
        }
    }

    async fn read_when_ready(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.pipe.read(buffer) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait_for_data().await?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                read => return read,
            }
        }
    }

    /// Registers the pipe with the runtime's poller for as long as it
    /// takes data to come.
    async fn wait_for_data(&mut self) -> io::Result<()> {
        let fd = self.pipe.as_raw_fd();
        // SAFETY: `fd` stays open, the same pipe, while registered: the
        // registration ends with this function, which borrows its owner.
        let registered = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        registered.readable().await.map(drop)
    }
}

/// Asks for `pipe` to hold [`PIPE_CAPACITY`] when `budget` has room for
/// it. A refusal (a smaller `pipe-max-size`) leaves it as it was: the pipe
/// works the same, its writer only blocks sooner.
fn enlarge(pipe: &OwnedFd, budget: &'static Budget) -> Option<Claim> {
    let claim = budget.claim(PIPE_CAPACITY)?;
    let capacity = libc::c_int::try_from(PIPE_CAPACITY).expect("the capacity fits a C int");
    // SAFETY: fcntl on an open descriptor the caller owns; no pointers.
    if unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, capacity) } < 0 {
        tracing::debug!("a pipe kept its capacity: {}", io::Error::last_os_error());
        return None;
    }
    Some(claim)
}

/// Bytes of pipe capacity shared out up to a limit.
struct Budget {
    held: AtomicUsize,
    limit: usize,
}

impl Budget {
    const fn new(limit: usize) -> Self {
        Self {
            held: AtomicUsize::new(0),
            limit,
        }
    }

    /// `bytes` of the budget, until the claim is dropped; none when that
    /// would take it past its limit.
    fn claim(&'static self, bytes: usize) -> Option<Claim> {
        let more = |held: usize| Some(held + bytes).filter(|&total| total <= self.limit);
        let claimed = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, more);
        claimed.ok().map(|_| Claim {
            budget: self,
            bytes,
        })
    }
}

/// A share of a [`Budget`], given back when dropped.
struct Claim {
    budget: &'static Budget,
    bytes: usize,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Sets `O_NONBLOCK` on `fd`: tokio's pipes clear it when they hand their
/// descriptor over, and the supervisor's read of the host's status must
/// not wait on a pipe a plugin's forked process may hold.
pub(crate) fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on an open descriptor the caller owns; no pointers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A non-blocking pipe: its paced read end, and its write end.
    fn pipe(ended: watch::Receiver<bool>) -> (PacedPipe, File) {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        let reader = PacedPipe::new(OwnedFd::from(reader), ended).expect("non-blocking");
        (reader, File::from(OwnedFd::from(writer)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_comes_an_interval_after_the_last() {
        let (_ended_signal, ended) = watch::channel(false);
        let (mut pipe, mut writer) = pipe(ended);
        let mut buffer = [0u8; 64];
        writer.write_all(b"first\n").unwrap();
        let started = Instant::now();
        assert_eq!(pipe.read(&mut buffer).await.unwrap(), 6);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "the first read is at once"
        );
        writer.write_all(b"a\nb\n").unwrap();
        assert_eq!(pipe.read(&mut buffer).await.unwrap(), 4);
        assert_eq!(started.elapsed(), READ_INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_fills_a_quarter_of_the_buffer_is_followed_at_once() {
        let (_ended_signal, ended) = watch::channel(false);
        let (mut pipe, mut writer) = pipe(ended);
        let mut buffer = [0u8; 64];
        writer.write_all(&[b'x'; 16]).unwrap();
        let started = Instant::now();
        assert_eq!(pipe.read(&mut buffer).await.unwrap(), 16);
        writer.write_all(&[b'x'; 15]).unwrap();
        assert_eq!(pipe.read(&mut buffer).await.unwrap(), 15);
        assert_eq!(started.elapsed(), Duration::ZERO, "the second read at once");
        writer.write_all(b"x").unwrap();
        assert_eq!(pipe.read(&mut buffer).await.unwrap(), 1);
        assert_eq!(
            started.elapsed(),
            READ_INTERVAL,
            "the third after a short one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_fills_the_buffer_is_followed_at_once() {
        let (_ended_signal, ended) = watch::channel(false);
        let (mut pipe, mut writer) = pipe(ended);
        writer.write_all(&[b'x'; 48]).unwrap();
        let started = Instant::now();
        let mut buffer = [0u8; 16];
        for _ in 0..3 {
            assert_eq!(pipe.read(&mut buffer).await.unwrap(), 16);
        }
        assert_eq!(started.elapsed(), Duration::ZERO, "never held back");
    }

    #[tokio::test]
    async fn a_burst_waits_in_the_pipe_without_blocking_its_writer() {
        let (_ended_signal, ended) = watch::channel(false);
        let (mut pipe, mut writer) = pipe(ended);
        set_nonblocking(&writer).unwrap();
        // Eight times what a pipe holds by default, written before any read.
        let burst = vec![b'x'; 512 * 1024];
        writer
            .write_all(&burst)
            .expect("the pipe took the burst whole");
        drop(writer);
        let (mut bytes, mut buffer) = (0, vec![0u8; 64 * 1024]);
        loop {
            match pipe.read(&mut buffer).await.unwrap() {
                0 => break,
                read => bytes += read,
            }
        }
        assert_eq!(bytes, burst.len());
    }

    #[test]
    fn pipes_past_the_budget_keep_their_default_capacity() {
        let budget: &'static Budget = Box::leak(Box::new(Budget::new(2 * PIPE_CAPACITY)));
        let capacity = |pipe: &OwnedFd| {
            // SAFETY: fcntl on an open descriptor; no pointers.
            let bytes = unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_GETPIPE_SZ) };
            usize::try_from(bytes).expect("a pipe's capacity")
        };
        let pipes: Vec<OwnedFd> = (0..3)
            .map(|_| OwnedFd::from(std::io::pipe().expect("a pipe").0))
            .collect();
        let mut claims: Vec<Option<Claim>> =
            pipes.iter().map(|pipe| enlarge(pipe, budget)).collect();
        let capacities: Vec<usize> = pipes.iter().map(capacity).collect();
        assert_eq!(capacities[..2], [PIPE_CAPACITY; 2]);
        assert!(capacities[2] < PIPE_CAPACITY, "{capacities:?}");
        assert!(claims[2].is_none());
        // A pipe dropped gives its share back to the next.
        claims[0] = None;
        let next = OwnedFd::from(std::io::pipe().expect("a pipe").0);
        assert!(enlarge(&next, budget).is_some());
        assert_eq!(capacity(&next), PIPE_CAPACITY);
    }

    #[tokio::test(start_paused = true)]
    async fn once_the_process_ended_what_is_left_is_read_at_once() {
        let (ended_signal, ended) = watch::channel(false);
        let (mut pipe, mut writer) = pipe(ended);
        let mut buffer = [0u8; 64];
        writer.write_all(b"first\n").unwrap();
        pipe.read(&mut buffer).await.unwrap();
        writer.write_all(b"last\n").unwrap();
        ended_signal.send_replace(true);
        let started = Instant::now();
        assert_eq!(pipe.read(&mut buffer).await.unwrap(), 5);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_fast_writer_is_read_no_more_than_once_an_interval() {
        let (_ended_signal, ended) = watch::channel(false);
        let (mut pipe, mut writer) = pipe(ended);
        let writing = std::thread::spawn(move || {
            for _ in 0..200 {
                writer.write_all(b"line\n").unwrap();
                std::thread::sleep(Duration::from_micros(50));
            }
        });
        let started = Instant::now();
        let (mut reads, mut bytes, mut buffer) = (0, 0, [0u8; 4096]);
        loop {
            let read = pipe.read(&mut buffer).await.unwrap();
            if read == 0 {
                break;
            }
            reads += 1;
            bytes += read;
        }
        writing.join().unwrap();
        assert_eq!(bytes, 200 * 5, "everything written was read");
        let intervals = started.elapsed().as_secs_f64() / READ_INTERVAL.as_secs_f64();
        assert!(
            f64::from(reads) <= intervals.ceil() + 1.0,
            "{reads} reads in {intervals:.1} intervals"
        );
    }

    #[tokio::test]
    async fn a_read_waits_for_data_and_ends_at_the_pipes_end() {
        let (_ended_signal, ended) = watch::channel(false);
        let (mut pipe, mut writer) = pipe(ended);
        let writing = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            writer.write_all(b"late\n").unwrap();
        });
        let mut buffer = [0u8; 64];
        assert_eq!(pipe.read(&mut buffer).await.unwrap(), 5);
        writing.join().unwrap();
        assert_eq!(
            pipe.read(&mut buffer).await.unwrap(),
            0,
            "the writer closed it"
        );
    }

    #[tokio::test]
    async fn a_pipe_handed_over_blocking_never_blocks_the_runtime() {
        let (_ended_signal, ended) = watch::channel(false);
        let (mut pipe, writer) = pipe(ended);
        // Were the read blocking, it would return only at the pipe's end.
        let closing = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            drop(writer);
        });
        let mut buffer = [0u8; 64];
        let waited = tokio::time::timeout(Duration::from_millis(50), pipe.read(&mut buffer)).await;
        assert!(
            waited.is_err(),
            "the read waited without blocking: {waited:?}"
        );
        closing.join().unwrap();
    }

    #[tokio::test]
    async fn a_pipe_that_never_runs_dry_still_lets_other_tasks_run() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (_ended_signal, ended) = watch::channel(false);
        let (mut pipe, mut writer) = pipe(ended);
        // Writes until the pipe is closed, at the end of the test.
        std::thread::spawn(move || while writer.write_all(&[b'x'; 4096]).is_ok() {});
        std::thread::sleep(Duration::from_millis(50));
        let ran = std::sync::Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
        // Every read fills the buffer from a full pipe: none has to wait.
        let mut buffer = [0u8; 16];
        for _ in 0..1000 {
            assert_eq!(pipe.read(&mut buffer).await.unwrap(), 16);
        }
        assert!(ran.load(Ordering::SeqCst), "the other task never ran");
    }
}
