//! Reading a request body, bounded in size and in time. Every request's body
//! is read before it is answered, errors included: an answer sent while the
//! client is still sending makes HTTP/2 servers reset the stream, and common
//! clients (curl) then drop the answer. A body over the size bound is read and
//! discarded up to [`DRAIN_LIMIT`] more bytes for the same reason.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};

/// Bytes beyond `max_body_bytes` read and discarded before an over-size
/// answer; a larger body is answered at once (its stream is then reset).
pub const DRAIN_LIMIT: usize = 1 << 20;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the bound.
    TooLarge,
    /// Not received within the time bound.
    Timeout,
    /// The connection or stream failed mid-body.
    Unreadable,
}

/// Reads the whole body: at most `max` bytes kept, within `timeout`.
///
/// # Errors
/// [`BodyError`].
pub async fn read(body: Incoming, max: usize, timeout: Duration) -> Result<Bytes, BodyError> {
    tokio::time::timeout(timeout, collect(body, max)).await.map_err(|_| BodyError::Timeout)?
}

async fn collect(mut body: Incoming, max: usize) -> Result<Bytes, BodyError> {
    let declared = hyper::body::Body::size_hint(&body).exact();
    if declared.is_some_and(|n| n > (max + DRAIN_LIMIT) as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Unreadable)?;
        let Ok(data) = frame.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen <= max {
            chunks.push(data);
        } else if seen > max + DRAIN_LIMIT {
            return Err(BodyError::TooLarge);
        } else {
            chunks.clear();
        }
    }
    if seen > max {
        return Err(BodyError::TooLarge);
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    })
}
