//! Reading a request body whole into one buffer, so that a body held against
//! `--max-body-bytes-in-flight` costs its own bytes, and giving those bytes back to the system
//! once the body is parsed.
//!
//! Why not `axum::body::to_bytes`: it collects the chunks hyper hands over (a 1 MiB body comes
//! in several, hyper's read buffer stops growing at about 400 KiB) and then copies them into one
//! buffer, so a body is held twice for a moment. (Alone, this change did not lower the peak
//! measured in the body-flood test: the allocator's retention, below, dominated it.)

use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;

/// Most of a refused body read and thrown away before the refusal goes out ([`discard`]).
const DISCARD_BYTES: usize = 16 << 20;
/// Longest time spent on it.
const DISCARD_TIME: Duration = Duration::from_secs(2);

/// Reads and throws away what is left of a body the ingress refuses (too large, or headers it
/// will not take), up to
/// [`DISCARD_BYTES`] and [`DISCARD_TIME`], holding none of it. A server that answers and closes
/// while its client is still sending leaves unread bytes in its socket; closing it then sends a
/// reset, and the client, still writing, reports a broken pipe instead of the 413 (RFC 9112
/// section 9.6). Measured: a 2 MiB body refused unread was a broken pipe for the client in 2 of 12
/// runs of the hostile-bodies test. Beyond the bounds the connection is closed all the same.
pub async fn discard(mut body: Body) {
    let drain = async {
        let mut read = 0;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, bytes::Bytes::len);
            if read > DISCARD_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIME, drain).await;
}

/// Makes every allocation of 128 KiB or more a mapping of its own, unmapped when freed.
///
/// Why: glibc raises its mmap threshold each time such a block is freed (up to 32 MiB), and
/// from then on 1 MiB bodies are carved from its arenas, which keep the pages resident after
/// the body is dropped and fragment across threads. In the body-flood test (500 clients at once,
/// 1 MiB bodies, a 32 MiB budget, three runs each) the ingress's peak resident memory grew
/// 73-86 MiB with the moving threshold (108 MiB once in CI) and 31-41 MiB with it fixed at
/// 128 KiB. Small allocations, all a case needs, are untouched.
pub fn give_large_blocks_back_when_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; it is called before any body is read.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Why a request body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("body could not be read: {0}")]
    Broken(#[source] axum::Error),
}

/// Reads `body` into one buffer sized to the `declared` length up front (grown as it comes if
/// the client did not say), refusing it as soon as it passes `limit` bytes.
pub async fn read_whole(
    mut body: Body,
    declared: Option<usize>,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyError::Broken)?.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > limit {
            drop(bytes);
            discard(body).await;
            return Err(BodyError::TooLarge(limit));
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_past_the_limit_is_too_large_and_a_broken_one_is_broken() {
        let big = Body::from(vec![b'x'; 64]);
        let e = read_whole(big, None, 16).await.expect_err("over the limit");
        assert!(matches!(e, BodyError::TooLarge(16)), "{e}");
        let broken = futures::stream::iter([
            Ok(bytes::Bytes::from_static(b"[{")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let e = read_whole(Body::from_stream(broken), None, 1 << 20)
            .await
            .expect_err("the stream broke");
        assert!(matches!(e, BodyError::Broken(_)), "{e}");
    }

    #[tokio::test]
    async fn chunks_are_joined_in_order_into_a_buffer_of_the_declared_size() {
        let chunks = futures::stream::iter(
            [&b"[{\"a\":"[..], b"1}", b"]"].map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from(c))),
        );
        let read = read_whole(Body::from_stream(chunks), Some(10), 64)
            .await
            .expect("read");
        assert_eq!(read, b"[{\"a\":1}]");
        assert_eq!(read.capacity(), 10, "sized once to the declared length");
    }

    #[tokio::test]
    async fn a_body_exactly_at_the_limit_is_read() {
        let read = read_whole(Body::from(vec![b'y'; 16]), Some(16), 16)
            .await
            .expect("at the limit");
        assert_eq!(read.len(), 16);
    }

    #[tokio::test]
    async fn a_refused_body_is_read_to_its_end_but_no_further_than_the_bound() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use futures::StreamExt as _;
        let chunk = bytes::Bytes::from(vec![b'x'; 1 << 20]);
        for (chunks, expect_read) in [(3, 3), (40, DISCARD_BYTES / (1 << 20) + 1)] {
            let read = Arc::new(AtomicUsize::new(0));
            let counted = read.clone();
            let chunk = chunk.clone();
            let body = futures::stream::iter(0..chunks).map(move |_| {
                counted.fetch_add(1, Ordering::Relaxed);
                Ok::<_, std::io::Error>(chunk.clone())
            });
            discard(Body::from_stream(body)).await;
            assert_eq!(read.load(Ordering::Relaxed), expect_read, "{chunks} chunks");
        }
    }
}
