//! Closing a connection whose TLS handshake failed so that the peer reads the
//! alert. In TLS 1.3 a client sends its certificate and its first request
//! together; when the server refuses the certificate, it sends an alert and
//! closes, and the request it never read makes the kernel answer with a
//! reset, which can destroy the alert in the client's receive buffer (curl
//! then reports "Broken pipe" instead of "TLS alert, handshake failure").

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Longest a refused connection is kept open after its alert.
pub const LINGER: Duration = Duration::from_millis(500);
/// Most bytes read (and dropped) from a refused connection.
pub const LINGER_BYTES: usize = 64 * 1024;

/// Shuts the write side (FIN after the alert already written), then reads and
/// drops what the peer still sends until it closes, for at most [`LINGER`] and
/// [`LINGER_BYTES`]; the connection is closed when `io` drops. The caller
/// still holds the connection's place among the unauthenticated ones, so
/// lingering connections stay within the listener's bounds.
pub async fn linger_close<S>(mut io: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(LINGER, async {
        let _ = io.shutdown().await;
        let mut buf = [0_u8; 4096];
        let mut total = 0_usize;
        while total < LINGER_BYTES {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total = total.saturating_add(n),
            }
        }
    })
    .await;
}
