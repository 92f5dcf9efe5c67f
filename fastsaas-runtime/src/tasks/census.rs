//! How many tasks wait, run and failed, by kind, and how long the oldest
//! due one has waited: what `/metrics` reports of the queue.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::entity::{Column, Entity};

/// The queue as one query saw it.
#[derive(Debug, Default)]
pub(crate) struct Census {
    /// (kind, status, count) for the statuses queued, running and failed.
    pub(crate) counts: Vec<(String, String, i64)>,
    /// (kind, the `run_at` of its oldest task due by `now`).
    pub(crate) oldest_due: Vec<(String, DateTime<Utc>)>,
}

/// The statuses counted: each has a partial index (m0010, m0013), so the
/// tasks that ended well, however many are kept, cost nothing.
const COUNTED: [&str; 3] = ["queued", "running", "failed"];

/// The queue's census at `now`.
pub(crate) async fn take(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Census, DbErr> {
    let mut counts = Vec::new();
    for status in COUNTED {
        let of_status = Entity::find()
            .select_only()
            .column(Column::Kind)
            .column_as(Expr::col(Column::Id).count(), "count")
            .filter(Column::Status.eq(status))
            .group_by(Column::Kind)
            .into_tuple::<(String, i64)>()
            .all(db)
            .await?;
        counts.extend(of_status.into_iter().map(|(kind, count)| (kind, status.to_owned(), count)));
    }
    let oldest_due = Entity::find()
        .select_only()
        .column(Column::Kind)
        .column_as(Expr::col(Column::RunAt).min(), "oldest")
        .filter(Column::Status.eq("queued"))
        .filter(Column::RunAt.lte(now))
        .group_by(Column::Kind)
        .into_tuple::<(String, DateTime<Utc>)>()
        .all(db)
        .await?;
    Ok(Census { counts, oldest_due })
}
