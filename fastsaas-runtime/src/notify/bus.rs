//! How the processes of one app wake each other: a recipient has new
//! notifications (read from the database by its sockets, `notify::store`),
//! or a task was enqueued (claimed from the database by the workers). The
//! bus carries wake-ups, never the notifications or tasks themselves, so a
//! lost or repeated wake-up loses or repeats nothing: sockets also catch up
//! at every ping, and workers at every poll.
//!
//! One [`Bus`], an implementation per deployment, chosen by the settings:
//! [`InProcess`] for one process (SQLite); [`Postgres`] for replicas sharing
//! a PostgreSQL database (`LISTEN`/`NOTIFY`: the wake-up is sent by the
//! writing transaction itself, at its commit, and never for a rollback);
//! [`Redis`] when `REDIS_URL` is set (pub/sub, published once the writer
//! has committed).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DbBackend, Statement};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use super::hub::Hub;

/// The channel of notification wake-ups; the payload is the recipient id.
const CHANNEL: &str = "fastsaas_notifications";

/// The channel of task wake-ups (no payload).
const TASKS_CHANNEL: &str = "fastsaas_tasks";

/// What a wake-up says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// `recipient` has new notifications.
    Recipient(Uuid),
    /// A task was enqueued.
    Tasks,
}

impl Wake {
    fn channel(self) -> &'static str {
        match self {
            Wake::Recipient(_) => CHANNEL,
            Wake::Tasks => TASKS_CHANNEL,
        }
    }

    fn payload(self) -> String {
        match self {
            Wake::Recipient(recipient) => recipient.to_string(),
            Wake::Tasks => String::new(),
        }
    }
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
    /// Starts listening on `url` for the sockets of `hub` and for the
    /// workers woken by `tasks`. The listener reconnects by itself; after
    /// each (re)connection it wakes every socket, which catches up from the
    /// database on what it missed, and the workers.
    pub(crate) fn start(url: String, hub: Arc<Hub>, tasks: Arc<Notify>) -> Postgres {
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(async move {
            tokio::select! {
                () = listen(&url, &hub, &tasks) => {}
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
/// sockets and workers. Redis channels are named `fastsaas:notifications`
/// and `fastsaas:tasks`: apps that share a Redis server wake each other
/// needlessly, and lose nothing by it.
#[derive(Debug)]
pub(crate) struct Redis {
    publish: mpsc::Sender<Wake>,
    /// Dropped with the bus, which stops the subscriber and the publisher.
    _stop: oneshot::Sender<()>,
}

/// Wake-ups waiting to be published, at most: past that, Redis is not
/// keeping up, and more are dropped (sockets catch up at their next ping,
/// workers at their next poll).
const PUBLISH_QUEUE: usize = 4096;

impl Redis {
    /// Connects to `url` (a `redis://` or `rediss://` address, read here: a
    /// bad one is an error) to publish, and subscribes for the sockets of
    /// `hub` and the workers woken by `tasks`. Both connections are made,
    /// and made again when lost, in the background; after each
    /// (re)subscription every socket is woken, and the workers.
    pub(crate) fn start(url: &str, hub: Arc<Hub>, tasks: Arc<Notify>) -> Result<Redis, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let (stop, stopped) = oneshot::channel();
        let (publish, queued) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(async move {
            tokio::select! {
                () = subscribe(&client, &hub, &tasks) => {}
                () = publish_all(&client, queued) => {}
                _ = stopped => {}
            }
        });
        Ok(Redis { publish, _stop: stop })
    }
}

impl Bus for Redis {
    fn in_transaction(&self, _: DbBackend, _: Wake) -> Option<Statement> {
        None
    }

    fn committed(&self, wake: Wake) {
        if self.publish.try_send(wake).is_err() {
            tracing::debug!("the Redis bus is behind; a wake-up was dropped");
        }
    }
}

fn redis_channel(wake: Wake) -> &'static str {
    match wake {
        Wake::Recipient(_) => "fastsaas:notifications",
        Wake::Tasks => "fastsaas:tasks",
    }
}

/// Publishes the queued wake-ups on one connection, made again when lost.
async fn publish_all(client: &redis::Client, mut queued: mpsc::Receiver<Wake>) {
    let mut connection = None;
    let mut retry = Duration::from_millis(100);
    while let Some(wake) = queued.recv().await {
        // Tried twice: once more on a new connection if the old one was lost.
        for _ in 0..2 {
            let publisher = match &mut connection {
                Some(publisher) => publisher,
                None => match client.get_multiplexed_async_connection().await {
                    Ok(made) => {
                        retry = Duration::from_millis(100);
                        connection.insert(made)
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "the Redis bus cannot connect to publish; retrying");
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(Duration::from_secs(5));
                        continue;
                    }
                },
            };
            let sent =
                redis::cmd("PUBLISH").arg(redis_channel(wake)).arg(wake.payload()).query_async::<i64>(publisher).await;
            match sent {
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "the Redis bus could not publish; reconnecting");
                    connection = None;
                }
            }
        }
    }
}

/// Stays subscribed until the process ends, like [`listen`].
async fn subscribe(client: &redis::Client, hub: &Hub, tasks: &Notify) {
    let mut retry = Duration::from_millis(100);
    loop {
        match subscribed(client).await {
            Ok(pubsub) => {
                retry = Duration::from_millis(100);
                hub.wake_all();
                tasks.notify_one();
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    if message.get_channel_name() == redis_channel(Wake::Tasks) {
                        tasks.notify_one();
                        continue;
                    }
                    match message.get_payload::<String>().ok().and_then(|payload| payload.parse::<Uuid>().ok()) {
                        Some(recipient) => hub.wake(recipient),
                        None => tracing::warn!("a wake-up without a recipient"),
                    }
                }
                tracing::warn!("the Redis bus lost its subscription; reconnecting");
            }
            Err(err) => tracing::warn!(error = %err, "the Redis bus cannot subscribe; retrying"),
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(Duration::from_secs(5));
    }
}

async fn subscribed(client: &redis::Client) -> Result<redis::aio::PubSub, redis::RedisError> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&[redis_channel(Wake::Recipient(Uuid::nil())), redis_channel(Wake::Tasks)]).await?;
    Ok(pubsub)
}

/// Listens until the process ends. A lost connection is replaced by a new
/// one, and every socket is woken once the new one listens: wake-ups sent
/// while nobody listened were lost, and the sockets catch up from the
/// database (each also catches up at every ping, in case).
async fn listen(url: &str, hub: &Hub, tasks: &Notify) {
    let mut retry = Duration::from_millis(100);
    loop {
        match listening(url).await {
            Ok(mut listener) => {
                retry = Duration::from_millis(100);
                hub.wake_all();
                tasks.notify_one();
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) if notification.channel() == TASKS_CHANNEL => tasks.notify_one(),
                        Ok(Some(notification)) => match notification.payload().parse::<Uuid>() {
                            Ok(recipient) => hub.wake(recipient),
                            Err(_) => tracing::warn!(payload = notification.payload(), "a wake-up without a recipient"),
                        },
                        Ok(None) => {
                            tracing::warn!("the notification listener lost its connection; reconnecting");
                            break;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "the notification listener failed; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "the notification listener cannot listen; retrying"),
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(Duration::from_secs(5));
    }
}

async fn listening(url: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen_all([CHANNEL, TASKS_CHANNEL]).await?;
    Ok(listener)
}
