//! A request made on a thread of its own, so that the download can answer
//! the host while the network does not answer it.
//!
//! A blocking call cannot be interrupted: a server that accepts the
//! connection and then sends nothing held the download until the attempt's
//! timeout, deaf to a host asked to stop. So the request runs on a
//! [`Detached`] thread, which the download waits for hearing the host, and
//! the body is copied by a [`BackgroundCopy`](proctor_sdk::BackgroundCopy),
//! which does the same for each read. Cancelled, the download returns at
//! once; the thread left behind ends when its call does.

use proctor_sdk::{Detached, Lost, Progress};
use ureq::http::response::Parts;
use ureq::typestate::WithoutBody;
use ureq::{Body, RequestBuilder};

/// How the request ended.
pub enum Answer {
    /// The status and headers, the body's announced length, and the body.
    Head(Parts, Option<u64>, Body),
    /// The request failed before an answer came.
    Refused(ureq::Error),
}

/// Makes `request` on a thread of its own, and waits for its answer
/// reporting `done` of `total` bytes to the host: `None` once the host
/// asked the download to stop, `Lost` if the thread panicked.
pub fn request_hearing_the_host(
    request: RequestBuilder<WithoutBody>,
    progress: &Progress,
    done: u64,
    total: Option<u64>,
) -> std::io::Result<Option<Result<Answer, Lost>>> {
    let thread = Detached::spawn("http-request", move || match request.call() {
        Ok(response) => {
            let (head, body) = response.into_parts();
            Answer::Head(head, body.content_length(), body)
        }
        Err(e) => Answer::Refused(e),
    })?;
    Ok(thread.wait(progress, || done, total))
}
