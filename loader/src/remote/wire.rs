//! Frames between the host and a plugin process, over the process's stdin
//! and stdout: a little-endian `u32` length of what follows, a tag byte, a
//! `u64` call id, and the tag's payload. Requests and answers stay the
//! JSON documents of the plugin API, carried as they are.

use std::io::{self, Read, Write};

use crate::call::Operation;

/// A frame of more than this is a broken peer, not a message.
const MAX_FRAME: u32 = 1 << 30;

/// The call id of the creation, the first exchange.
pub(crate) const CREATE_ID: u64 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Host to plugin, once, first: a [`super::CreateOrder`] as JSON.
    Create(String),
    /// Host to plugin: make call `id`.
    Call {
        id: u64,
        operation: Operation,
        request: String,
    },
    /// Plugin to host: call `id` answered.
    Answer {
        id: u64,
        answer: Result<String, (u32, String)>,
    },
    /// Plugin to host: call `id`'s progress, `total` `u64::MAX` when unknown.
    Progress { id: u64, done: u64, total: u64 },
    /// Host to plugin: ask call `id` to stop at its next progress report.
    Stop { id: u64 },
}

const CREATE: u8 = 1;
const CALL: u8 = 2;
const ANSWER: u8 = 3;
const ERROR: u8 = 4;
const PROGRESS: u8 = 5;
const STOP: u8 = 6;

/// Writes `frame` whole, in one write where the writer allows.
pub(crate) fn write_frame(out: &mut impl Write, frame: &Frame) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(&[0; 4]);
    let (tag, id) = match frame {
        Frame::Create(_) => (CREATE, CREATE_ID),
        Frame::Call { id, .. } => (CALL, *id),
        Frame::Answer { id, answer } => (if answer.is_ok() { ANSWER } else { ERROR }, *id),
        Frame::Progress { id, .. } => (PROGRESS, *id),
        Frame::Stop { id } => (STOP, *id),
    };
    bytes.push(tag);
    bytes.extend_from_slice(&id.to_le_bytes());
    match frame {
        Frame::Create(order) => bytes.extend_from_slice(order.as_bytes()),
        Frame::Call {
            operation, request, ..
        } => {
            bytes.push(operation.code());
            bytes.extend_from_slice(request.as_bytes());
        }
        Frame::Answer { answer, .. } => match answer {
            Ok(response) => bytes.extend_from_slice(response.as_bytes()),
            Err((code, message)) => {
                bytes.extend_from_slice(&code.to_le_bytes());
                bytes.extend_from_slice(message.as_bytes());
            }
        },
        Frame::Progress { done, total, .. } => {
            bytes.extend_from_slice(&done.to_le_bytes());
            bytes.extend_from_slice(&total.to_le_bytes());
        }
        Frame::Stop { .. } => {}
    }
    let length = u32::try_from(bytes.len() - 4)
        .ok()
        .filter(|length| *length <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a frame over 1 GiB"))?;
    bytes[..4].copy_from_slice(&length.to_le_bytes());
    out.write_all(&bytes)?;
    out.flush()
}

/// Reads the next frame; `None` at the end of the stream between frames.
pub(crate) fn read_frame(input: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut length = [0; 4];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = u32::from_le_bytes(length);
    if !(9..=MAX_FRAME).contains(&length) {
        return Err(invalid(format!("a frame of {length} bytes")));
    }
    let mut bytes = vec![0; length as usize];
    input.read_exact(&mut bytes)?;
    let (tag, rest) = (bytes[0], &bytes[1..]);
    let id = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
    let payload = &rest[8..];
    let text = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec()).map_err(|_| invalid("a frame of invalid UTF-8".into()))
    };
    let fixed = |at: usize, bytes: &[u8]| -> io::Result<u64> {
        let field = bytes
            .get(at..at + 8)
            .ok_or_else(|| invalid("a short progress frame".into()))?;
        Ok(u64::from_le_bytes(field.try_into().expect("8 bytes")))
    };
    let frame = match tag {
        CREATE => Frame::Create(text(payload)?),
        CALL => {
            let (&code, request) = payload
                .split_first()
                .ok_or_else(|| invalid("a call without an operation".into()))?;
            let operation = Operation::from_code(code)
                .ok_or_else(|| invalid(format!("an unknown operation {code}")))?;
            Frame::Call {
                id,
                operation,
                request: text(request)?,
            }
        }
        ANSWER => Frame::Answer {
            id,
            answer: Ok(text(payload)?),
        },
        ERROR => {
            if payload.len() < 4 {
                return Err(invalid("a short error frame".into()));
            }
            let code = u32::from_le_bytes(payload[..4].try_into().expect("4 bytes"));
            Frame::Answer {
                id,
                answer: Err((code, text(&payload[4..])?)),
            }
        }
        PROGRESS => Frame::Progress {
            id,
            done: fixed(0, payload)?,
            total: fixed(8, payload)?,
        },
        STOP => Frame::Stop { id },
        other => return Err(invalid(format!("an unknown frame tag {other}"))),
    };
    Ok(Some(frame))
}

/// The first frame of `buffer` and its length in bytes, once it is whole.
pub(crate) fn split_frame(buffer: &[u8]) -> io::Result<Option<(Frame, usize)>> {
    let Some(length) = buffer.get(..4) else {
        return Ok(None);
    };
    let length = u32::from_le_bytes(length.try_into().expect("4 bytes"));
    if !(9..=MAX_FRAME).contains(&length) {
        return Err(invalid(format!("a frame of {length} bytes")));
    }
    let whole = 4 + length as usize;
    if buffer.len() < whole {
        return Ok(None);
    }
    let frame = read_frame(&mut &buffer[..whole])?.expect("a whole frame");
    Ok(Some((frame, whole)))
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_reads_back_as_written() {
        let frames = [
            Frame::Create(r#"{"name":"pytest"}"#.into()),
            Frame::Call {
                id: 7,
                operation: Operation::ParseOutput,
                request: r#"{"lines":["é"]}"#.into(),
            },
            Frame::Answer {
                id: 7,
                answer: Ok("[]".into()),
            },
            Frame::Answer {
                id: 8,
                answer: Err((2, "panicked".into())),
            },
            Frame::Progress {
                id: 9,
                done: 10,
                total: u64::MAX,
            },
            Frame::Stop { id: 9 },
        ];
        let mut stream = Vec::new();
        for frame in &frames {
            write_frame(&mut stream, frame).unwrap();
        }
        let mut input = stream.as_slice();
        for frame in &frames {
            assert_eq!(read_frame(&mut input).unwrap().as_ref(), Some(frame));
        }
        assert_eq!(read_frame(&mut input).unwrap(), None);
        // Split from a buffer as they arrive, whole or not yet.
        let mut rest = stream.as_slice();
        for frame in &frames {
            assert!(split_frame(&rest[..5]).unwrap().is_none());
            let (split, length) = split_frame(rest).unwrap().expect("whole");
            assert_eq!(&split, frame);
            rest = &rest[length..];
        }
        assert!(split_frame(rest).unwrap().is_none());
    }

    #[test]
    fn a_cut_or_hostile_stream_is_an_error_not_a_panic_or_an_allocation() {
        let mut stream = Vec::new();
        write_frame(&mut stream, &Frame::Stop { id: 1 }).unwrap();
        let cut = &stream[..stream.len() - 1];
        assert!(read_frame(&mut &cut[..]).is_err());
        let huge = u32::MAX.to_le_bytes();
        assert!(read_frame(&mut &huge[..]).is_err());
        let mut unknown = 9u32.to_le_bytes().to_vec();
        unknown.push(99);
        unknown.extend_from_slice(&0u64.to_le_bytes());
        assert!(read_frame(&mut unknown.as_slice()).is_err());
        let mut short = 10u32.to_le_bytes().to_vec();
        short.push(PROGRESS);
        short.extend_from_slice(&[0; 9]);
        assert!(read_frame(&mut short.as_slice()).is_err());
    }
}
