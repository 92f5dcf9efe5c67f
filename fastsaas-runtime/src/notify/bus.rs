//! How the processes of one app tell each other that a recipient has new
//! notifications: the wake-up, never the notification, which is read from
//! the database (`notify::store`).
//!
//! One [`Bus`], an implementation per deployment: [`InProcess`] for one
//! process (SQLite), [`Postgres`] for replicas sharing a PostgreSQL
//! database (`LISTEN`/`NOTIFY`: the wake-up is sent by the writing
//! transaction itself, at its commit, and never for a rollback).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, Statement};
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

use super::hub::Hub;

/// The channel of wake-ups on PostgreSQL; the payload is the recipient id.
const CHANNEL: &str = "fastsaas_notifications";

/// The channel on which an enqueue (`tasks::queue`) tells every process's
/// workers that a task is due.
pub(crate) const TASKS_CHANNEL: &str = "fastsaas_tasks";

/// Carries wake-ups between the processes of an app.
#[async_trait::async_trait]
pub(crate) trait Bus: Debug + Send + Sync {
    /// In the transaction that wrote a notification for `recipient`.
    async fn in_transaction(&self, db: &DatabaseTransaction, recipient: Uuid) -> Result<(), DbErr>;

    /// Once that transaction has committed.
    fn committed(&self, recipient: Uuid);
}

/// One process: a commit wakes the sockets of this process.
#[derive(Debug)]
pub(crate) struct InProcess(pub(crate) Arc<Hub>);

#[async_trait::async_trait]
impl Bus for InProcess {
    async fn in_transaction(&self, _: &DatabaseTransaction, _: Uuid) -> Result<(), DbErr> {
        Ok(())
    }

    fn committed(&self, recipient: Uuid) {
        self.0.wake(recipient);
    }
}

/// Replicas on one PostgreSQL database: `NOTIFY` in the writing
/// transaction, and a listening connection per process that wakes its
/// sockets (its own writes come back to it the same way).
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

#[async_trait::async_trait]
impl Bus for Postgres {
    async fn in_transaction(&self, db: &DatabaseTransaction, recipient: Uuid) -> Result<(), DbErr> {
        let notify = Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), recipient.to_string().into()],
        );
        db.execute_raw(notify).await.map(drop)
    }

    fn committed(&self, _: Uuid) {}
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
