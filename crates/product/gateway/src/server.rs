//! The connection server of the gateway, plain HTTP or TLS: a cap on open connections, a TLS
//! handshake timeout, a header-read timeout that also ends idle keep-alive connections, the
//! client's address on every request, and a clean stop (no new connections; those open finish
//! their requests). Per-request limits (body read, whole request, per-address rate) are layers
//! of the router.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How the server treats connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once; beyond, new ones are closed at once.
    pub max_connections: usize,
    /// A request's head must arrive within this, and an idle keep-alive connection is closed
    /// after it.
    pub header_read: Duration,
    /// A TLS handshake must finish within this.
    pub handshake: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_read: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the open connections
/// finish their requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors and the like: the listener itself is fine; pause briefly.
                Err(e) => {
                    tracing::warn!(target: "detail", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("paycore_connections_refused_total").increment(1);
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let (tls, limits, watcher) = (tls.clone(), limits.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => connection(tcp, peer, router, &limits, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.handshake, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => connection(stream, peer, router, &limits, watcher).await,
                        Ok(Err(e)) => {
                            tracing::debug!(target: "detail", error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(target: "detail", "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// One HTTP/1.1 connection, each request carrying the client's address.
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    limits: &ConnectionLimits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = router.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(target: "detail", error = %e, "connection ended with an error");
    }
}
