//! The HTTP server: every connection bounded, so that slow or idle clients
//! cannot starve the others. At most `max_connections` are open (further
//! clients wait in the listen queue); a request's head must arrive within
//! `header_timeout_secs` of the connection's start or of the previous
//! response; a request body that stalls, or a client that reads nothing of
//! a response, for `idle_timeout_secs` has its connection closed
//! ([`watchdog`]). A handler that takes its time is not cut. On shutdown,
//! listening stops, open connections finish their request in flight, then
//! the server returns.

mod watchdog;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use fastsaas_core::Settings;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use watchdog::{Watch, WatchedBody, WatchedIo};

/// The longest header or idle timeout honoured (a day).
const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// How long shutdown waits for open connections to finish.
const DRAIN_FOR: Duration = Duration::from_secs(30);

/// The bounds of each connection, from the settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    max_connections: usize,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl Limits {
    pub(crate) fn from_settings(settings: &Settings) -> Limits {
        // A day is longer than any deadline worth having, and keeps the
        // watchdog's instants far from overflowing.
        let timeout = |secs: u64| Duration::from_secs(secs.clamp(1, MAX_TIMEOUT_SECS));
        Limits {
            max_connections: settings.max_connections.max(1),
            header_timeout: timeout(settings.header_timeout_secs),
            idle_timeout: timeout(settings.idle_timeout_secs),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
/// Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&open).acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: pass, then retry.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A connection without delay waits for nothing: it is best effort.
        let _ = stream.set_nodelay(true);
        let deadlines = Watch::new(limits.header_timeout, limits.idle_timeout);
        // The socket holds the slot: an upgraded connection, which hyper
        // hands to its handler with the socket, counts until it closes.
        let io = TokioIo::new(WatchedIo::new(stream, slot, Arc::clone(&deadlines)));
        let router = router.clone();
        let service = {
            let deadlines = Arc::clone(&deadlines);
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                deadlines.request_started();
                let deadlines = Arc::clone(&deadlines);
                let mut request = request.map(|body| Body::new(WatchedBody::request(body, Arc::clone(&deadlines))));
                request.extensions_mut().insert(ConnectInfo(peer));
                let response = router.clone().oneshot(request);
                async move {
                    let response = response.await?;
                    Ok::<_, std::convert::Infallible>(response.map(|body| WatchedBody::response(body, deadlines)))
                }
            })
        };
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service).with_upgrades();
            let mut connection = pin!(connection);
            let expired = deadlines.expired();
            let mut expired = pin!(expired);
            let finished = tokio::select! {
                finished = connection.as_mut() => Some(finished),
                why = expired.as_mut() => {
                    tracing::debug!(%peer, "closing a connection: {why}");
                    None
                },
                () = stopped(&mut stopping) => {
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        finished = connection.as_mut() => Some(finished),
                        why = expired.as_mut() => {
                            tracing::debug!(%peer, "closing a connection while shutting down: {why}");
                            None
                        },
                    }
                }
            };
            if let Some(Err(err)) = finished {
                tracing::debug!(error = %err, %peer, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: having them all back
    // means every connection has finished.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_FOR, open.acquire_many(all)).await.is_err() {
        tracing::warn!("connections still open after {} s; stopping anyway", DRAIN_FOR.as_secs());
    }
    Ok(())
}

/// Resolves once the server is stopping (or its sender is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_longest_timeouts_do_not_overflow_the_watchdog() {
        let settings = Settings { header_timeout_secs: u64::MAX, idle_timeout_secs: u64::MAX, ..Settings::default() };
        let limits = Limits::from_settings(&settings);
        let watch = Watch::new(limits.header_timeout, limits.idle_timeout);
        let expired = tokio::time::timeout(Duration::from_secs(3 * MAX_TIMEOUT_SECS), watch.expired()).await;
        assert_eq!(expired.ok(), Some(watchdog::Expired::Head));
    }
}
