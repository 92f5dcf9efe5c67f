//! The deadlines of one connection, kept by one timer.
//!
//! A connection may wait for a client for three reasons, each bounded:
//! for a request head (the header timeout, from the moment the previous
//! response has gone or the connection was accepted), for more of a request
//! body, and for the client to read what is written (both the idle
//! timeout). A handler that takes its time is none of these.
//!
//! Each clock measures one wait: a client that sends or reads a little
//! before each timeout runs out keeps its connection (a minimum rate is
//! not enforced), and a handler that stops reading its body after it found
//! none counts as waiting for it until it drops the body. An upgraded
//! connection leaves the watchdog (its protocol bounds its own silence) but
//! keeps its slot until it closes.
//!
//! The request path only writes timestamps ([`Watch`]); one
//! [`Watch::expired`] per connection sleeps until the earliest deadline
//! they imply, waking at least once per shorter timeout to find the waits
//! that started meanwhile. Arming a timer per request instead (hyper's
//! header timeout, or a timer per read and write) wakes the runtime's timer
//! driver with a system call on most requests: measured, 2.2 wake-up
//! writes per request before, 0.4 with this watchdog (docs/PERFORMANCE.md,
//! "Timers per request").

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

/// What the connection waits for, as milliseconds since [`Watch::epoch`]
/// plus one; zero when it is not waiting for that.
#[derive(Debug)]
pub(crate) struct Watch {
    epoch: Instant,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// Since when the connection waits for a request head.
    head: AtomicU64,
    /// Requests whose response has not been sent yet.
    open_requests: AtomicU64,
    /// Since when a handler waits for more of its request body.
    body: AtomicU64,
    /// Since when a write waits for the client to read.
    write: AtomicU64,
}

/// Why a connection was closed by its watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No complete request head within the header timeout.
    Head,
    /// A request body stalled for the idle timeout.
    Body,
    /// The client read nothing of the response for the idle timeout.
    Write,
}

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Expired::Head => "no complete request head within the header timeout",
            Expired::Body => "the request body stalled for the idle timeout",
            Expired::Write => "the client read nothing for the idle timeout",
        })
    }
}

impl Watch {
    /// The watch of a connection accepted now: it waits for its first head.
    pub(crate) fn new(header_timeout: Duration, idle_timeout: Duration) -> Arc<Watch> {
        Arc::new(Watch {
            epoch: Instant::now(),
            header_timeout,
            idle_timeout,
            head: AtomicU64::new(1),
            open_requests: AtomicU64::new(0),
            body: AtomicU64::new(0),
            write: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// A request head has arrived: its handler runs untimed.
    pub(crate) fn request_started(&self) {
        self.open_requests.fetch_add(1, Ordering::Relaxed);
        self.head.store(0, Ordering::Relaxed);
    }

    /// A response has been sent (its body dropped by the connection): once
    /// none is left, the wait for the next head begins.
    fn response_sent(&self) {
        if self.open_requests.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.head.store(self.now(), Ordering::Relaxed);
        }
    }

    /// Starts the clock of `since` unless it runs already.
    fn stalled(&self, since: &AtomicU64) {
        if since.load(Ordering::Relaxed) == 0 {
            since.store(self.now(), Ordering::Relaxed);
        }
    }

    /// Stops the clock of `since`: what it waited for came.
    fn moved(since: &AtomicU64) {
        if since.load(Ordering::Relaxed) != 0 {
            since.store(0, Ordering::Relaxed);
        }
    }

    /// A write went through. If it had waited, and the response it carried
    /// was already handed over, the wait for the next head starts now: the
    /// head clock does not run while the response is still leaving.
    fn write_moved(&self) {
        if self.write.load(Ordering::Relaxed) != 0 {
            self.write.store(0, Ordering::Relaxed);
            if self.head.load(Ordering::Relaxed) != 0 {
                self.head.store(self.now(), Ordering::Relaxed);
            }
        }
    }

    /// The earliest deadline, in the clock of `now`, and what it bounds.
    fn deadline(&self) -> Option<(u64, Expired)> {
        let millis = |timeout: Duration| u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX / 2);
        let write = self.write.load(Ordering::Relaxed);
        // While a write waits, the response is still leaving: the wait
        // for the next head has not begun.
        let head = if write == 0 { self.head.load(Ordering::Relaxed) } else { 0 };
        [
            (head, millis(self.header_timeout), Expired::Head),
            (self.body.load(Ordering::Relaxed), millis(self.idle_timeout), Expired::Body),
            (write, millis(self.idle_timeout), Expired::Write),
        ]
        .into_iter()
        .filter(|(since, _, _)| *since != 0)
        .map(|(since, timeout, why)| (since.saturating_add(timeout), why))
        .min_by_key(|(deadline, _)| *deadline)
    }

    /// Resolves when a deadline of the connection has passed.
    ///
    /// A wait can expire no sooner than the shorter timeout after it
    /// starts, and nothing wakes the watchdog when one starts; so it wakes
    /// at least that often, and then sleeps until the earliest deadline it
    /// finds: each deadline is met on time without a timer per request.
    pub(crate) async fn expired(&self) -> Expired {
        let check_every = self.header_timeout.min(self.idle_timeout);
        let sleep = tokio::time::sleep(check_every);
        tokio::pin!(sleep);
        loop {
            let now = self.now();
            let next_check = Instant::now() + check_every;
            let wake = match self.deadline() {
                Some((deadline, why)) if deadline <= now => return why,
                Some((deadline, _)) => next_check.min(self.epoch + Duration::from_millis(deadline - 1)),
                None => next_check,
            };
            sleep.as_mut().reset(wake);
            sleep.as_mut().await;
        }
    }
}

/// The socket of a watched connection, holding the connection's slot
/// until it closes: a write the client does not take starts the write
/// clock.
#[derive(Debug)]
pub(crate) struct WatchedIo<T> {
    inner: T,
    _slot: OwnedSemaphorePermit,
    watch: Arc<Watch>,
}

impl<T> WatchedIo<T> {
    pub(crate) fn new(inner: T, slot: OwnedSemaphorePermit, watch: Arc<Watch>) -> WatchedIo<T> {
        WatchedIo { inner, _slot: slot, watch }
    }

    fn track<R>(&self, poll: Poll<R>) -> Poll<R> {
        match poll {
            Poll::Pending => self.watch.stalled(&self.watch.write),
            Poll::Ready(_) => self.watch.write_moved(),
        }
        poll
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.track(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.track(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.track(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.track(poll)
    }
}

/// Which way a [`WatchedBody`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

/// A body of a watched connection. Waiting for more of a request body
/// starts the body clock; a response body dropped by the connection has
/// been sent (or abandoned), so the wait for the next head may begin.
#[derive(Debug)]
pub(crate) struct WatchedBody<B> {
    inner: B,
    watch: Arc<Watch>,
    direction: Direction,
}

impl<B> WatchedBody<B> {
    pub(crate) fn request(inner: B, watch: Arc<Watch>) -> WatchedBody<B> {
        WatchedBody { inner, watch, direction: Direction::Request }
    }

    pub(crate) fn response(inner: B, watch: Arc<Watch>) -> WatchedBody<B> {
        WatchedBody { inner, watch, direction: Direction::Response }
    }
}

impl<B: Body + Unpin> Body for WatchedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if self.direction == Direction::Request {
            match poll {
                Poll::Pending => self.watch.stalled(&self.watch.body),
                Poll::Ready(_) => Watch::moved(&self.watch.body),
            }
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for WatchedBody<B> {
    fn drop(&mut self) {
        match self.direction {
            // A handler that stops reading no longer waits for the client.
            Direction::Request => Watch::moved(&self.watch.body),
            Direction::Response => self.watch.response_sent(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_secs(5);
    const IDLE: Duration = Duration::from_secs(60);

    /// When `watch` expires, counted from now, and why (`None`: not within an hour).
    async fn expiry(watch: &Watch) -> Option<(Duration, Expired)> {
        let started = Instant::now();
        let why = tokio::time::timeout(Duration::from_secs(3600), watch.expired()).await.ok()?;
        Some((started.elapsed(), why))
    }

    /// When `watch` expires, counted from now, when `change` happens to it
    /// `after` the watchdog has started.
    async fn expiry_with(
        watch: &Arc<Watch>,
        after: Duration,
        change: impl FnOnce(&Watch),
    ) -> Option<(Duration, Expired)> {
        let waiting = tokio::spawn({
            let watch = Arc::clone(watch);
            async move { expiry(&watch).await }
        });
        tokio::time::sleep(after).await;
        change(watch);
        waiting.await.unwrap_or_else(|err| panic!("the watchdog: {err}"))
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_has_the_header_timeout_to_send_a_head() {
        let watch = Watch::new(HEADER, IDLE);
        assert_eq!(expiry(&watch).await, Some((HEADER, Expired::Head)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_is_not_timed() {
        let watch = Watch::new(HEADER, IDLE);
        watch.request_started();
        assert_eq!(expiry(&watch).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_has_the_idle_timeout() {
        let watch = Watch::new(HEADER, IDLE);
        watch.request_started();
        watch.stalled(&watch.body);
        assert_eq!(expiry(&watch).await, Some((IDLE, Expired::Body)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_that_starts_later_but_ends_sooner_is_met() {
        let watch = Watch::new(HEADER, IDLE);
        watch.request_started();
        // The body stalls (its deadline a minute away), then comes, and
        // the response is sent: the next head is due in five seconds.
        watch.stalled(&watch.body);
        let after = Duration::from_secs(1);
        let expired = expiry_with(&watch, after, |watch| {
            Watch::moved(&watch.body);
            watch.response_sent();
        })
        .await;
        assert_eq!(expired, Some((after + HEADER, Expired::Head)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_head_clock_starts_when_a_waiting_response_has_left() {
        let watch = Watch::new(HEADER, IDLE);
        watch.request_started();
        watch.response_sent();
        watch.stalled(&watch.write);
        // The client reads the rest of the response after half a minute.
        let after = Duration::from_secs(30);
        let expired = expiry_with(&watch, after, Watch::write_moved).await;
        assert_eq!(expired, Some((after + HEADER, Expired::Head)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_head_waits_while_the_response_is_still_leaving() {
        let watch = Watch::new(HEADER, IDLE);
        watch.request_started();
        watch.response_sent();
        // The last bytes of the response wait for the client to read.
        watch.stalled(&watch.write);
        assert_eq!(expiry(&watch).await, Some((IDLE, Expired::Write)));
    }
}
