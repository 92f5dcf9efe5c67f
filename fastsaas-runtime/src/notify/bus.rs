//! How the processes of one app wake each other: a recipient has new
//! notifications (read from the database by its sockets, `notify::store`),
//! a task was enqueued (claimed from the database by the workers), or a
//! committed change made cached reads stale (`cache`). The bus carries
//! wake-ups, never the notifications or tasks themselves, so a lost or
//! repeated wake-up loses or repeats nothing: sockets also catch up at
//! every ping, and workers at every poll. Caches are off while the bus is
//! down, and forget everything when it is up again.
//!
//! One [`Bus`], an implementation per deployment, chosen by the settings:
//! [`InProcess`] for one process (SQLite); [`Postgres`] for replicas sharing
//! a PostgreSQL database (`LISTEN`/`NOTIFY`: the wake-up is sent by the
//! writing transaction itself, at its commit, and never for a rollback);
//! [`Redis`] when `REDIS_URL` is set (pub/sub, published once the writer
//! has committed).

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DbBackend, Statement};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use super::hub::Hub;
use crate::cache::{Caches, Forget, Invalidation};

/// The channel of notification wake-ups; the payload is the recipient id.
const CHANNEL: &str = "fastsaas_notifications";

/// The channel of task wake-ups (no payload).
const TASKS_CHANNEL: &str = "fastsaas_tasks";

/// The channel of cache invalidations; the payload is an [`Invalidation`].
const CACHE_CHANNEL: &str = "fastsaas_cache";

/// What a wake-up says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// `recipient` has new notifications.
    Recipient(Uuid),
    /// A task was enqueued.
    Tasks,
    /// A committed change made these cached reads stale.
    Forget(Invalidation),
}

impl Wake {
    fn channel(&self) -> &'static str {
        match self {
            Wake::Recipient(_) => CHANNEL,
            Wake::Tasks => TASKS_CHANNEL,
            Wake::Forget(_) => CACHE_CHANNEL,
        }
    }

    fn payload(&self) -> String {
        match self {
            Wake::Recipient(recipient) => recipient.to_string(),
            Wake::Tasks => String::new(),
            Wake::Forget(invalidation) => invalidation.encode(),
        }
    }
}

/// What a process's wake-ups wake: its sockets, its workers, its caches.
#[derive(Clone, Debug)]
pub(crate) struct Listeners {
    pub(crate) hub: Arc<Hub>,
    pub(crate) tasks: Arc<Notify>,
    pub(crate) caches: Arc<Caches>,
}

/// Carries wake-ups between the processes of an app.
pub(crate) trait Bus: Debug + Send + Sync {
    /// The statement the writing transaction runs to send `wake` as it
    /// commits, if this bus sends it that way.
    fn in_transaction(&self, backend: DbBackend, wake: Wake) -> Option<Statement>;

    /// Once the writing transaction has committed; for an enqueue in a
    /// caller's own transaction, right after the enqueue (a hint that may
    /// come before the commit: workers that find nothing look again
    /// shortly after, and at every poll).
    fn committed(&self, wake: Wake);
}

/// One process: a commit wakes the sockets of this process (the enqueuer
/// wakes the workers itself).
#[derive(Debug)]
pub(crate) struct InProcess(pub(crate) Arc<Hub>);

impl Bus for InProcess {
    fn in_transaction(&self, _: DbBackend, _: Wake) -> Option<Statement> {
        None
    }

    fn committed(&self, wake: Wake) {
        if let Wake::Recipient(recipient) = wake {
            self.0.wake(recipient);
        }
    }
}

/// Replicas on one PostgreSQL database: `NOTIFY` in the writing
/// transaction, and a listening connection per process that wakes its
/// sockets and workers (its own writes come back to it the same way).
#[derive(Debug)]
pub(crate) struct Postgres {
    /// Dropped with the bus, which stops the listener.
    _stop: oneshot::Sender<()>,
}

impl Postgres {
    /// Starts listening on `url` for `listeners`. The listener reconnects
    /// by itself; after each (re)connection it wakes every socket, which
    /// catches up from the database on what it missed, and the workers,
    /// and has the caches forget what they hold.
    pub(crate) fn start(url: String, listeners: Listeners) -> Postgres {
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(async move {
            tokio::select! {
                () = stay_connected("the notification listener", &listeners.caches, || listen(url.clone(), listeners.clone())) => {}
                _ = stopped => {}
            }
        });
        Postgres { _stop: stop }
    }
}

impl Bus for Postgres {
    fn in_transaction(&self, backend: DbBackend, wake: Wake) -> Option<Statement> {
        let values = [wake.channel().into(), wake.payload().into()];
        Some(Statement::from_sql_and_values(backend, "SELECT pg_notify($1, $2)", values))
    }

    fn committed(&self, _: Wake) {}
}

/// Replicas that share a Redis server: a wake-up is published once its
/// writer has committed, and a subscribed connection per process wakes its
/// sockets and workers. The channels are named as on PostgreSQL: apps that
/// share a Redis server wake each other needlessly, and lose nothing by it.
/// An invalidation is published by the script that also applies it to the
/// shared second level of the rows cache ([`crate::cache::SharedRows`]).
#[derive(Debug)]
pub(crate) struct Redis {
    publish: mpsc::Sender<Wake>,
    caches: Arc<Caches>,
    /// Set when an invalidation could not even be queued: the publisher
    /// then has every replica forget everything, once it can.
    invalidation_dropped: Arc<std::sync::atomic::AtomicBool>,
    /// Dropped with the bus, which stops the subscriber and the publisher.
    _stop: oneshot::Sender<()>,
}

/// Wake-ups waiting to be published, at most: past that, Redis is not
/// keeping up, and more are dropped (sockets catch up at their next ping,
/// workers at their next poll).
const PUBLISH_QUEUE: usize = 4096;

impl Redis {
    /// Connects to `url` (a `redis://` address, read here: a bad one is an
    /// error; TLS is not built in) to publish, and subscribes for
    /// `listeners`. Both connections are made, and made again when lost, in
    /// the background; after each (re)subscription every socket is woken,
    /// and the workers, and the caches forget what they hold.
    pub(crate) fn start(url: &str, listeners: Listeners) -> Result<Redis, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let publisher = client.clone();
        let (stop, stopped) = oneshot::channel();
        let (publish, queued) = mpsc::channel(PUBLISH_QUEUE);
        let invalidation_dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dropped = Arc::clone(&invalidation_dropped);
        let caches = Arc::clone(&listeners.caches);
        tokio::spawn(async move {
            let publishing = publish_all(&publisher, &listeners.caches, queued, &dropped);
            tokio::select! {
                () = stay_connected("the Redis bus", &listeners.caches, || subscribe(client.clone(), listeners.clone())) => {}
                () = publishing => {}
                _ = stopped => {}
            }
        });
        Ok(Redis { publish, caches, invalidation_dropped, _stop: stop })
    }
}

impl Bus for Redis {
    fn in_transaction(&self, _: DbBackend, _: Wake) -> Option<Statement> {
        None
    }

    fn committed(&self, wake: Wake) {
        let invalidation = matches!(wake, Wake::Forget(_));
        if self.publish.try_send(wake).is_err() {
            if invalidation {
                tracing::warn!("the Redis bus is behind; every replica will forget what it cached");
                if let Some(shared) = self.caches.shared() {
                    shared.dropped();
                }
                self.invalidation_dropped.store(true, std::sync::atomic::Ordering::Release);
            } else {
                tracing::debug!("the Redis bus is behind; a wake-up was dropped");
            }
        }
    }
}

/// Publishes the queued wake-ups on one connection, made again when lost.
/// A wake-up is tried twice (once more on a new connection if the old one
/// was lost); an invalidation, until it is delivered, since a replica that
/// misses it would serve what it made stale. When one could not even be
/// queued (`dropped`), every replica is told to forget everything first.
async fn publish_all(
    client: &redis::Client,
    caches: &Caches,
    mut queued: mpsc::Receiver<Wake>,
    dropped: &std::sync::atomic::AtomicBool,
) {
    let mut connection = None;
    let mut retry = Duration::from_millis(100);
    while let Some(wake) = queued.recv().await {
        let (wake, replaced) = if dropped.swap(false, std::sync::atomic::Ordering::AcqRel) {
            let everything = Invalidation { sender: Some(caches.id()), forget: Forget::Everything, shared: true };
            (Wake::Forget(everything), Some(matches!(wake, Wake::Forget(_))))
        } else {
            (wake, None)
        };
        let tries = if matches!(wake, Wake::Forget(_)) { usize::MAX } else { 2 };
        for _ in 0..tries {
            let publisher = match &mut connection {
                Some(publisher) => publisher,
                None => match client.get_multiplexed_async_connection().await {
                    Ok(made) => connection.insert(made),
                    Err(err) => {
                        tracing::warn!(error = %err, "the Redis bus cannot connect to publish; retrying");
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(Duration::from_secs(5));
                        continue;
                    }
                },
            };
            match publish(publisher, caches, &wake).await {
                Ok(()) => {
                    retry = Duration::from_millis(100);
                    if let (Wake::Forget(_), Some(shared)) = (&wake, caches.shared()) {
                        // A replacement stands for what was dropped, and
                        // for the invalidation it replaced, if it was one.
                        let count = u64::from(replaced.unwrap_or(true));
                        shared.published(count, replaced.is_some());
                    }
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "the Redis bus could not publish; reconnecting");
                    connection = None;
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// Publishes `wake`; an invalidation, with the script that also applies it
/// to the second level of the rows cache. When Redis refuses the script
/// (out of memory, a read-only replica, a key of the wrong type), the
/// invalidation is published alone, marked as not applied there, so that
/// every process, this one included, distrusts the second level until it
/// has moved its generation of everything.
async fn publish(
    publisher: &mut redis::aio::MultiplexedConnection,
    caches: &Caches,
    wake: &Wake,
) -> redis::RedisResult<()> {
    let plain = |payload: String| {
        let mut command = redis::cmd("PUBLISH");
        command.arg(wake.channel()).arg(payload);
        command
    };
    let (Wake::Forget(invalidation), Some(shared)) = (wake, caches.shared()) else {
        return plain(wake.payload()).query_async::<i64>(publisher).await.map(drop);
    };
    let script = shared.forget_and_publish(&invalidation.forget, wake.channel(), &wake.payload());
    match script.invoke_async::<i64>(publisher).await {
        Ok(_) => Ok(()),
        Err(err) if crate::cache::connection_failed(&err) => Err(err),
        Err(err) => {
            tracing::warn!(error = %err, "Redis refused to apply an invalidation to the shared rows; distrusting them");
            shared.distrust();
            let unapplied = Invalidation { shared: false, ..invalidation.clone() };
            plain(unapplied.encode()).query_async::<i64>(publisher).await.map(drop)
        }
    }
}

/// How a listening session ended.
enum Session {
    /// No connection was made.
    Failed(String),
    /// The connection listened, then was lost.
    Lost(String),
}

/// Keeps a listening connection until the process ends: each `session`
/// connects, calls [`catch_up`] once it listens, and hears the connection
/// until it is lost; then `caches` are off until another is made (waiting
/// longer after each failure, up to 5 s).
async fn stay_connected<F, S>(what: &str, caches: &Caches, mut session: F)
where
    F: FnMut() -> S,
    S: Future<Output = Session>,
{
    let mut retry = Duration::from_millis(100);
    loop {
        let ended = session().await;
        caches.suspend();
        match ended {
            Session::Lost(why) => {
                retry = Duration::from_millis(100);
                tracing::warn!("{what} {why}; reconnecting");
            }
            Session::Failed(why) => tracing::warn!(error = %why, "{what} cannot listen; retrying"),
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(Duration::from_secs(5));
    }
}

/// Wake-ups sent while nobody listened were lost: every socket and the
/// workers catch up from the database once a new connection listens
/// (sockets also catch up at every ping, workers at every poll), and the
/// caches start afresh.
fn catch_up(listeners: &Listeners) {
    listeners.caches.resume();
    listeners.hub.wake_all();
    listeners.tasks.notify_one();
}

/// Wakes the sockets, the workers or the caches that `channel` and
/// `payload` name.
fn wake(channel: &str, payload: &str, listeners: &Listeners) {
    match channel {
        TASKS_CHANNEL => listeners.tasks.notify_one(),
        CACHE_CHANNEL => listeners.caches.heard(&Invalidation::decode(payload)),
        _ => match payload.parse::<Uuid>() {
            Ok(recipient) => listeners.hub.wake(recipient),
            Err(_) => tracing::warn!("a wake-up without a recipient"),
        },
    }
}

/// How often the subscriber pings Redis, and how long it waits for the
/// answer: a connection that died without a word (a dropped NAT entry, a
/// failover) is found out within these.
const REDIS_PING: Duration = Duration::from_secs(10);
const REDIS_PONG: Duration = Duration::from_secs(5);

async fn subscribe(client: redis::Client, listeners: Listeners) -> Session {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&[CHANNEL, TASKS_CHANNEL, CACHE_CHANNEL]).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    let pubsub = match tokio::time::timeout(REDIS_PONG, connect).await {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(err)) => return Session::Failed(err.to_string()),
        Err(_) => return Session::Failed("no answer from Redis".to_owned()),
    };
    catch_up(&listeners);
    let (mut sink, mut messages) = pubsub.split();
    let mut pings = tokio::time::interval(REDIS_PING);
    pings.tick().await;
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => {
                    let payload: String = message.get_payload().unwrap_or_default();
                    wake(message.get_channel_name(), &payload, &listeners);
                }
                None => return Session::Lost("lost its subscription".to_owned()),
            },
            _ = pings.tick() => {
                match tokio::time::timeout(REDIS_PONG, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => return Session::Lost(format!("could not ping Redis ({err})")),
                    Err(_) => return Session::Lost("had no answer to a ping".to_owned()),
                }
            }
        }
    }
}

/// How often a PostgreSQL listener's process sends itself a probe, and how
/// long the listener may hear nothing (not even its probes) before its
/// connection counts as dead: one that died without a word (a dropped NAT
/// entry, a failover, a proxy) is found out within this.
const PG_PROBE: Duration = Duration::from_secs(5);
const PG_DEAF: Duration = Duration::from_secs(15);

async fn listen(url: String, listeners: Listeners) -> Session {
    let mut listener = match PgListener::connect(&url).await {
        Ok(listener) => listener,
        Err(err) => return Session::Failed(err.to_string()),
    };
    // A channel of this session's own, so that replicas do not hear each
    // other's probes.
    let probes = format!("fastsaas_probe_{}", Uuid::new_v4().simple());
    if let Err(err) = listener.listen_all([CHANNEL, TASKS_CHANNEL, CACHE_CHANNEL, probes.as_str()]).await {
        return Session::Failed(err.to_string());
    }
    let probing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let _prober = AbortOnDrop(tokio::spawn(probe(url, probes.clone(), Arc::clone(&probing))));
    catch_up(&listeners);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            received = listener.try_recv() => match received {
                Ok(Some(notification)) => {
                    last_heard = tokio::time::Instant::now();
                    if notification.channel() != probes {
                        wake(notification.channel(), notification.payload(), &listeners);
                    }
                }
                Ok(None) => return Session::Lost("lost its connection".to_owned()),
                Err(err) => return Session::Lost(format!("failed ({err})")),
            },
            () = tokio::time::sleep_until(last_heard + PG_DEAF) => {
                // Silence says nothing while the probes cannot be sent.
                if probing.load(std::sync::atomic::Ordering::Acquire) {
                    return Session::Lost(format!("heard nothing for {} s, not even its own probes", PG_DEAF.as_secs()));
                }
                last_heard = tokio::time::Instant::now();
            }
        }
    }
}

/// Sends a notification on `channel` every [`PG_PROBE`], on a connection of
/// its own (made again when lost), for the listener to hear; `probing` says
/// whether the last one was sent.
async fn probe(url: String, channel: String, probing: Arc<std::sync::atomic::AtomicBool>) {
    use sea_orm::sqlx::{Connection, postgres::PgConnection};
    let mut connection: Option<PgConnection> = None;
    loop {
        tokio::time::sleep(PG_PROBE).await;
        if connection.is_none() {
            match PgConnection::connect(&url).await {
                Ok(made) => connection = Some(made),
                Err(err) => tracing::warn!(error = %err, "the notification listener's probe cannot connect"),
            }
        }
        let sent = match &mut connection {
            Some(open) => {
                let sent = sea_orm::sqlx::query("SELECT pg_notify($1, '')").bind(&channel).execute(&mut *open).await;
                if let Err(err) = &sent {
                    tracing::warn!(error = %err, "the notification listener's probe could not be sent");
                    connection = None;
                }
                sent.is_ok()
            }
            None => false,
        };
        probing.store(sent, std::sync::atomic::Ordering::Release);
    }
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
