//! Notifications: rows in the database, numbered per recipient, written in
//! the transaction of the change that caused them (`store`); a wake-up that
//! reaches every process once they commit (`bus`); the sockets of this
//! process by recipient (`hub`); and their HTTP surfaces, `POST /notify`,
//! `GET /notifications`, `POST /notifications/{id}/read` (`routes`) and
//! `GET /ws` (`socket`).

use std::sync::Arc;

use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{ApiError, ApiResult, FieldError};
use prometheus_client::metrics::counter::Counter;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, SqlErr};

use self::bodies::{KIND, MESSAGE};
use self::bus::{Bus, Listeners, Wake};
use self::hub::Hub;
use self::store::{Draft, View};
use crate::cache::{Caches, Forget, Invalidation};
use crate::db::begin_write;
use crate::error::internal;
use crate::validate::check;

pub(crate) mod bodies;
pub(crate) mod bus;
pub(crate) mod changes;
pub(crate) mod entity;
pub(crate) mod hub;
pub(crate) mod routes;
pub(crate) mod socket;
pub(crate) mod store;

/// The kind of the frame that tells a socket's client to reload: the
/// server's own, refused to senders.
pub(crate) const RESYNC: &str = "resync";

/// The largest payload a notification carries, as JSON: a socket reads a
/// batch of notifications at a time, and this bounds what it holds.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 16 * 1024;

/// Sends notifications: writes them and wakes their recipients' sockets,
/// wherever they are connected.
#[derive(Clone, Debug)]
pub(crate) struct Notifier {
    hub: Arc<Hub>,
    bus: Arc<dyn Bus>,
    /// The newest notifications kept per recipient.
    kept: u64,
    /// Counts the notifications written (the app's metrics).
    sent: Counter,
    /// The caches that committed changes make stale.
    caches: Arc<Caches>,
}

/// Sends `statement` (an invalidation's `NOTIFY`) on `db` until it is
/// sent, waiting longer after each failure (up to 5 s), for ten minutes at
/// most: past that the database is long gone, and every replica's
/// listener has lost it too and forgotten what it cached.
async fn send_until_sent(db: DatabaseConnection, statement: sea_orm::Statement) {
    let mut wait = std::time::Duration::from_millis(100);
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(600) {
        tokio::time::sleep(wait).await;
        if db.execute_raw(statement.clone()).await.is_ok() {
            return;
        }
        wait = (wait * 2).min(std::time::Duration::from_secs(5));
    }
    tracing::error!("a cache invalidation could not be sent to the other replicas for ten minutes");
}

impl Notifier {
    /// A notifier that wakes `hub`'s sockets and invalidates `caches`
    /// through `bus`, keeps `kept` notifications per recipient, and counts
    /// those it writes in `sent`.
    pub(crate) fn new(bus: Arc<dyn Bus>, listeners: Listeners, kept: u64, sent: Counter) -> Notifier {
        Notifier { hub: listeners.hub, bus, kept, sent, caches: listeners.caches }
    }

    /// The caches of this process.
    pub(crate) fn caches(&self) -> &Arc<Caches> {
        &self.caches
    }

    /// Once a change has committed: makes what `forget` names stale here at
    /// once, and on the other replicas through the bus.
    pub(crate) async fn forget(&self, db: &DatabaseConnection, forget: Forget) {
        // Counted first: no reader here may trust the second level between
        // the forgetting here and the publication.
        if let Some(shared) = self.caches.shared() {
            shared.handed();
        }
        self.caches.forget(&forget);
        let wake = Wake::Forget(Invalidation { sender: Some(self.caches.id()), forget, shared: true });
        if let Some(statement) = self.bus.in_transaction(db.get_database_backend(), wake.clone())
            && let Err(err) = db.execute_raw(statement.clone()).await
        {
            // Until it is sent, the other replicas serve what it makes
            // stale: tried again in the background until it is.
            tracing::warn!(error = %err, "a cache invalidation could not be sent to the other replicas; retrying");
            tokio::spawn(send_until_sent(db.clone(), statement));
        }
        self.bus.committed(wake);
    }

    /// The sockets of this process.
    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Writes `draft` in `tx`, the transaction of the change it tells of;
    /// call [`Notifier::committed`] with the recipient once `tx` commits.
    pub(crate) async fn write(&self, tx: &DatabaseTransaction, draft: Draft) -> Result<View, DbErr> {
        let recipient = draft.recipient;
        let view = store::insert(tx, draft, self.kept).await?;
        self.wake_in(tx, Wake::Recipient(recipient)).await?;
        self.sent.inc();
        Ok(view)
    }

    /// Has `db`, a transaction about to commit, send `wake` to every
    /// process if the bus sends wake-ups that way; call
    /// [`Notifier::committed`] as well.
    pub(crate) async fn wake_in(&self, db: &impl ConnectionTrait, wake: Wake) -> Result<(), DbErr> {
        match self.bus.in_transaction(db.get_database_backend(), wake) {
            Some(statement) => db.execute_raw(statement).await.map(drop),
            None => Ok(()),
        }
    }

    /// Sends `wake`, whose transaction committed, if the bus sends
    /// wake-ups that way.
    pub(crate) fn committed(&self, wake: Wake) {
        self.bus.committed(wake);
    }

    /// Writes `draft` in a transaction of its own and wakes its recipient:
    /// 400 naming the kind or message if they break their rules, 404 if
    /// the recipient is not a user.
    pub(crate) async fn send(&self, db: &DatabaseConnection, draft: Draft) -> ApiResult<View> {
        let mut errors = Vec::new();
        check(&KIND, &draft.kind, &mut errors);
        check(&MESSAGE, &draft.message, &mut errors);
        if draft.kind == RESYNC {
            let message = format!("`{RESYNC}` is the server's own kind");
            errors.push(FieldError::new("kind", FieldErrorCode::Invalid, message));
        }
        if serde_json::to_vec(&draft.payload).map_or(true, |json| json.len() > MAX_PAYLOAD_BYTES) {
            let message = format!("at most {MAX_PAYLOAD_BYTES} bytes of JSON");
            errors.push(FieldError::new("payload", FieldErrorCode::Invalid, message));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let recipient = draft.recipient;
        let written = async {
            let tx = begin_write(db).await?;
            let view = self.write(&tx, draft).await?;
            tx.commit().await?;
            Ok(view)
        };
        let view = written.await.map_err(|err: DbErr| match err.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => ApiError::not_found("User"),
            _ => internal(err),
        })?;
        self.committed(Wake::Recipient(recipient));
        Ok(view)
    }
}
