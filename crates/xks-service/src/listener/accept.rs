//! The accept loop and the TLS handshake both services run, written once: an
//! accepted connection is admitted by [`Connections`] (or dropped at the
//! bound), handed to the service's own connection task, and at shutdown the
//! listener closes and open connections get ten seconds to finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::{Admitted, Connections};

/// Accepts until `shutdown`, runs `connection` for each admitted one on its
/// own task, then waits (at most 10 s) for the open connections to finish.
pub async fn accept_loop<F, Fut>(listener: TcpListener, connections: Arc<Connections>, mut shutdown: watch::Receiver<bool>, connection: F)
where
    F: Fn(TcpStream, SocketAddr, Admitted, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Some(admitted) = connections.admit() else {
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(tcp, peer, admitted, shutdown.clone()));
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    if !connections.closed(Duration::from_secs(10)).await {
        tracing::warn!("some connections did not finish within 10 s");
    }
}

/// Why a TLS handshake gave no connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The peer failed it (the alert was sent and the connection closed).
    Failed,
    /// Not finished within the timeout.
    TimedOut,
    /// The connection was evicted to make room for a new one.
    Evicted,
}

/// The server side of a TLS handshake on an admitted connection, within
/// `timeout`. A failure is logged with the peer (the reason stays in our log;
/// the client reads only the alert) and counted by `failed` before the
/// connection closes, so a client that saw the refusal finds it counted.
///
/// # Errors
/// [`HandshakeFailure`].
pub async fn tls_handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    timeout: Duration,
    admitted: &Admitted,
    peer: SocketAddr,
    failed: impl FnOnce(),
) -> Result<TlsStream<TcpStream>, HandshakeFailure> {
    let handshake = tokio::select! {
        r = tokio::time::timeout(timeout, acceptor.accept(tcp).into_fallible()) => r,
        () = admitted.evicted() => return Err(HandshakeFailure::Evicted),
    };
    match handshake {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err((e, tcp))) => {
            tracing::info!(%peer, error = %e, "TLS handshake failed");
            failed();
            // The client reads the alert rather than a reset (AWS's
            // conformance client's negative mTLS test looks for it).
            admitted.close_refused(tcp).await;
            Err(HandshakeFailure::Failed)
        }
        Err(_) => {
            tracing::info!(%peer, "TLS handshake timed out");
            failed();
            Err(HandshakeFailure::TimedOut)
        }
    }
}
