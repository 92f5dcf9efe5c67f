//! Notifications in the database: written in the transaction of the change
//! that caused them, numbered per recipient, read back in that order.
//!
//! A global auto-increment is not commit order on PostgreSQL: a reader can
//! see 102 before 101 commits, and a client that moved its cursor past 102
//! never gets 101. Each recipient's numbers come instead from its row in
//! `fastsaas_notification_seqs`, taken with an upsert that locks the row
//! until the transaction ends, so a recipient's notifications commit in the
//! order of their numbers and a reader past `n` has seen everything up to
//! `n`. Writers for different recipients do not wait for each other.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::entity::notification;

/// A notification as clients see it: the frames of `/ws` and the items of
/// `GET /notifications`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct View {
    pub(crate) id: Uuid,
    /// The recipient's own number of this notification (1, 2, 3…).
    pub(crate) seq: i64,
    pub(crate) kind: String,
    pub(crate) message: String,
    pub(crate) payload: Value,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) read_at: Option<DateTime<Utc>>,
}

impl From<notification::Model> for View {
    fn from(row: notification::Model) -> View {
        View {
            id: row.id,
            seq: row.seq,
            kind: row.kind,
            message: row.message,
            payload: row.payload,
            created_at: row.created_at,
            read_at: row.read_at,
        }
    }
}

/// What to send to one recipient.
#[derive(Clone, Debug)]
pub(crate) struct Draft {
    pub(crate) recipient: Uuid,
    pub(crate) kind: String,
    pub(crate) message: String,
    pub(crate) payload: Value,
}

/// Takes the recipient's next number, locking its counter until `db`'s
/// transaction ends.
const NEXT_SEQ: &str = "INSERT INTO fastsaas_notification_seqs (recipient_id, last_seq) VALUES ($1, 1) \
ON CONFLICT (recipient_id) DO UPDATE SET last_seq = fastsaas_notification_seqs.last_seq + 1 RETURNING last_seq";

/// Writes `draft` in `db`, which must be a transaction that writes
/// (`db::begin_write`), and deletes the recipient's notifications past the
/// newest `kept`. A recipient that is not a user fails on its foreign key.
pub(crate) async fn insert(db: &impl ConnectionTrait, draft: Draft, kept: u64) -> Result<View, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, NEXT_SEQ, [draft.recipient.into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)?;
    let seq: i64 = row.try_get_by_index(0)?;
    let view = View {
        id: Uuid::new_v4(),
        seq,
        kind: draft.kind,
        message: draft.message,
        payload: draft.payload,
        created_at: Utc::now(),
        read_at: None,
    };
    let model = notification::ActiveModel {
        id: sea_orm::Set(view.id),
        recipient_id: sea_orm::Set(draft.recipient),
        seq: sea_orm::Set(seq),
        kind: sea_orm::Set(view.kind.clone()),
        message: sea_orm::Set(view.message.clone()),
        payload: sea_orm::Set(view.payload.clone()),
        created_at: sea_orm::Set(view.created_at),
        read_at: sea_orm::Set(None),
    };
    notification::Entity::insert(model).exec_without_returning(db).await?;
    let oldest_kept = seq - i64::try_from(Ord::max(kept, 1)).unwrap_or(i64::MAX) + 1;
    if oldest_kept > 1 {
        notification::Entity::delete_many()
            .filter(notification::Column::RecipientId.eq(draft.recipient))
            .filter(notification::Column::Seq.lt(oldest_kept))
            .exec(db)
            .await?;
    }
    Ok(view)
}

/// The number of the recipient's notification `id`, if it is still kept.
pub(crate) async fn seq_of(db: &impl ConnectionTrait, recipient: Uuid, id: Uuid) -> Result<Option<i64>, DbErr> {
    notification::Entity::find()
        .select_only()
        .column(notification::Column::Seq)
        .filter(notification::Column::RecipientId.eq(recipient))
        .filter(notification::Column::Id.eq(id))
        .into_tuple::<i64>()
        .one(db)
        .await
}

/// The recipient's newest notification, if any.
pub(crate) async fn newest(db: &impl ConnectionTrait, recipient: Uuid) -> Result<Option<View>, DbErr> {
    let row = notification::Entity::find()
        .filter(notification::Column::RecipientId.eq(recipient))
        .order_by_desc(notification::Column::Seq)
        .one(db)
        .await?;
    Ok(row.map(View::from))
}

/// Up to `limit` of the recipient's notifications numbered past `seq`,
/// in order.
pub(crate) async fn after(
    db: &impl ConnectionTrait,
    recipient: Uuid,
    seq: i64,
    limit: u64,
) -> Result<Vec<View>, DbErr> {
    let rows = notification::Entity::find()
        .filter(notification::Column::RecipientId.eq(recipient))
        .filter(notification::Column::Seq.gt(seq))
        .order_by_asc(notification::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(View::from).collect())
}

/// Marks the recipient's notification `id` read (once: a second call keeps
/// the first time); whether the recipient has it.
pub(crate) async fn mark_read(db: &impl ConnectionTrait, recipient: Uuid, id: Uuid) -> Result<bool, DbErr> {
    let updated = notification::Entity::update_many()
        .col_expr(notification::Column::ReadAt, Expr::col(notification::Column::ReadAt).if_null(Expr::val(Utc::now())))
        .filter(notification::Column::RecipientId.eq(recipient))
        .filter(notification::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// Deletes every notification created before `before`; how many.
pub(crate) async fn delete_older(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let deleted =
        notification::Entity::delete_many().filter(notification::Column::CreatedAt.lt(before)).exec(db).await?;
    Ok(deleted.rows_affected)
}
