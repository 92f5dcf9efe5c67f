//! The queue's statements: enqueue, claim, heartbeat, finish, rescue.
//!
//! A task is a row of `fastsaas_tasks`. A worker claims it under a lease
//! (until `lease_until`), counting the attempt; it extends the lease while
//! the task runs. Every write of a run names its attempt and requires the
//! task to be running it: once a lease has expired and the rescue has given
//! the task back to the queue (or another worker has claimed it again), the
//! old run's heartbeat, success or failure changes nothing. Every time a
//! lease is compared with is the database's clock.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use uuid::Uuid;

use super::entity;
use super::{NewTask, TaskStatus};

/// The database's clock, as SQL, with `millis` added: one reading per
/// statement on PostgreSQL (`statement_timestamp()`). On SQLite, `'now'` is
/// one reading per step, written as RFC 3339 with milliseconds and
/// `+00:00`; every time this module compares is written this way, so they
/// compare as text (sqlx writes the times of other tables with as many
/// fraction digits as needed, which still order right against these but
/// are not equal to them).
fn now_plus(backend: DbBackend, millis: u64) -> String {
    let millis = millis.min(MAX_DELAY_MS);
    match backend {
        DbBackend::Postgres => format!("(statement_timestamp() + interval '{millis} milliseconds')"),
        _ => format!("strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '+{}.{:03} seconds')", millis / 1000, millis % 1000),
    }
}

/// The longest delay or backoff (ten years): beyond, the databases cannot
/// add it to a date.
const MAX_DELAY_MS: u64 = 10 * 365 * 24 * 60 * 60 * 1000;

fn now(backend: DbBackend) -> String {
    now_plus(backend, 0)
}

/// A statement with `$1, $2…` placeholders.
fn statement(backend: DbBackend, sql: String, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

/// Whether a new task was queued, or a task with its unique key already is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Enqueued {
    /// The new task's id.
    New(Uuid),
    /// The id of the queued or running task that holds the unique key.
    Duplicate(Uuid),
}

/// Inserts `task` in `db` (the caller's transaction, if it has one). The
/// caller wakes the workers (`Notifier::wake_in`).
pub(crate) async fn enqueue(
    db: &impl ConnectionTrait,
    task: &NewTask,
    principal: Option<Uuid>,
) -> Result<Enqueued, DbErr> {
    let backend = db.get_database_backend();
    let id = Uuid::new_v4();
    let run_at = now_plus(backend, u64::try_from(task.delay.as_millis()).unwrap_or(u64::MAX));
    let (subject_type, subject_id) = match &task.subject {
        Some((name, id)) => (Some(name.clone()), Some(*id)),
        None => (None, None),
    };
    let sql = format!(
        "INSERT INTO fastsaas_tasks (id, kind, payload, status, priority, attempt, max_attempts, run_at, \
         unique_key, subject_type, subject_id, principal_id, created_at, updated_at) \
         VALUES ($1, $2, $3, '{queued}', $4, 0, $5, {run_at}, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (kind, unique_key) WHERE unique_key IS NOT NULL AND status IN ('queued', 'running') \
         DO NOTHING",
        queued = TaskStatus::Queued.as_str(),
    );
    let values: Vec<Value> = vec![
        id.into(),
        task.kind.clone().into(),
        task.payload.clone().into(),
        task.priority.into(),
        i32::try_from(task.max_attempts).unwrap_or(i32::MAX).into(),
        task.unique_key.clone().into(),
        subject_type.into(),
        subject_id.into(),
        principal.into(),
        // Written as every other table's times are (lists page by it);
        // leases and due times are the database's clock.
        chrono::Utc::now().into(),
    ];
    let holder = "SELECT id FROM fastsaas_tasks WHERE kind = $1 AND unique_key = $2 \
                  AND status IN ('queued', 'running')";
    // The holder of the key may finish between the two statements: then
    // the key is free and the insert is tried again.
    for _ in 0..3 {
        let inserted = db.execute_raw(statement(backend, sql.clone(), values.clone())).await?;
        if inserted.rows_affected() == 1 {
            return Ok(Enqueued::New(id));
        }
        let key = vec![task.kind.clone().into(), task.unique_key.clone().into()];
        if let Some(row) = db.query_one_raw(statement(backend, holder.to_owned(), key)).await? {
            return Ok(Enqueued::Duplicate(row.try_get_by_index(0)?));
        }
    }
    Err(DbErr::RecordNotInserted)
}

/// Claims up to `limit` due tasks of `kinds`, in priority order then oldest
/// first, each for a lease of `lease_ms`: marks them running and counts the
/// attempt, in one statement. On PostgreSQL, rows another worker is
/// claiming at the same moment are skipped, not waited for; SQLite runs
/// one writer at a time.
pub(crate) async fn claim(
    db: &impl ConnectionTrait,
    kinds: &[String],
    limit: usize,
    lease_ms: u64,
) -> Result<Vec<entity::Model>, DbErr> {
    if kinds.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let (sql, values) = if backend == DbBackend::Postgres {
        // SQLite's statement below, with `FOR UPDATE SKIP LOCKED`, in a
        // function that keeps the plan on the ordered index scan
        // (migration m0012 says why).
        let sql = "SELECT * FROM fastsaas_claim_tasks($1, $2, $3)".to_owned();
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let lease = i64::try_from(lease_ms.min(MAX_DELAY_MS)).unwrap_or(i64::MAX);
        (sql, vec![kinds.join(",").into(), limit.into(), lease.into()])
    } else {
        let placeholders: Vec<String> = (1..=kinds.len()).map(|n| format!("${n}")).collect();
        let sql = "UPDATE fastsaas_tasks SET status = '{running}', attempt = attempt + 1, lease_until = {lease}, \
             updated_at = {now} WHERE id IN (SELECT id FROM fastsaas_tasks WHERE status = '{queued}' \
             AND run_at <= {now} AND kind IN ({kinds}) ORDER BY priority DESC, run_at, id LIMIT {limit}) RETURNING *"
            .replace("{queued}", TaskStatus::Queued.as_str())
            .replace("{running}", TaskStatus::Running.as_str())
            .replace("{lease}", &now_plus(backend, lease_ms))
            .replace("{now}", &now(backend))
            .replace("{kinds}", &placeholders.join(", "))
            .replace("{limit}", &limit.to_string());
        (sql, kinds.iter().map(|kind| Value::from(kind.clone())).collect())
    };
    let rows = db.query_all_raw(statement(backend, sql, values)).await?;
    let mut claimed: Vec<entity::Model> =
        rows.iter().map(|row| sea_orm::FromQueryResult::from_query_result(row, "")).collect::<Result<_, _>>()?;
    // RETURNING gives no order; run the most urgent first.
    claimed.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.run_at.cmp(&b.run_at)).then(a.id.cmp(&b.id)));
    Ok(claimed)
}

/// Extends the lease of attempt `attempt` of task `id`; `false` if that
/// attempt no longer holds the task (its lease expired and the task went
/// back to the queue or to another worker).
pub(crate) async fn heartbeat(db: &impl ConnectionTrait, id: Uuid, attempt: i32, lease_ms: u64) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "UPDATE fastsaas_tasks SET lease_until = {lease}, updated_at = {now} \
         WHERE id = $1 AND attempt = $2 AND status = '{running}'",
        lease = now_plus(backend, lease_ms),
        now = now(backend),
        running = TaskStatus::Running.as_str(),
    );
    let updated = db.execute_raw(statement(backend, sql, vec![id.into(), attempt.into()])).await?;
    Ok(updated.rows_affected() == 1)
}

/// Records the successes of `attempts` (each a task, its attempt number and
/// its result) in one statement; the attempts that still held their task
/// (the others' endings change nothing).
pub(crate) async fn succeed_many(
    db: &impl ConnectionTrait,
    attempts: &[(Uuid, i32, serde_json::Value)],
) -> Result<Vec<(Uuid, i32)>, DbErr> {
    if attempts.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let rows: Vec<String> =
        (0..attempts.len()).map(|n| format!("(${}, ${}, ${})", 3 * n + 1, 3 * n + 2, 3 * n + 3)).collect();
    let sql = format!(
        "WITH done (id, attempt, result) AS (VALUES {rows}) \
         UPDATE fastsaas_tasks SET status = '{succeeded}', result = done.result, error = NULL, lease_until = NULL, \
         finished_at = {now}, updated_at = {now} FROM done \
         WHERE fastsaas_tasks.id = done.id AND fastsaas_tasks.attempt = done.attempt \
         AND fastsaas_tasks.status = '{running}' RETURNING fastsaas_tasks.id, fastsaas_tasks.attempt",
        rows = rows.join(", "),
        succeeded = TaskStatus::Succeeded.as_str(),
        running = TaskStatus::Running.as_str(),
        now = now(backend),
    );
    let values = attempts
        .iter()
        .flat_map(|(id, attempt, result)| [Value::from(*id), Value::from(*attempt), Value::from(result.clone())])
        .collect();
    let recorded = db.query_all_raw(statement(backend, sql, values)).await?;
    recorded.iter().map(|row| Ok((row.try_get_by_index::<Uuid>(0)?, row.try_get_by_index::<i32>(1)?))).collect()
}

/// Records the failure of attempt `attempt`: the task runs again after
/// `backoff_ms` if it has attempts left, else it is `failed` with `error`
/// kept. `false` if that attempt no longer holds the task.
pub(crate) async fn fail(
    db: &impl ConnectionTrait,
    id: Uuid,
    attempt: i32,
    error: &str,
    backoff_ms: u64,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "UPDATE fastsaas_tasks SET \
         status = CASE WHEN attempt >= max_attempts THEN '{failed}' ELSE '{queued}' END, \
         finished_at = CASE WHEN attempt >= max_attempts THEN {now} ELSE NULL END, \
         run_at = {retry_at}, error = $3, lease_until = NULL, updated_at = {now} \
         WHERE id = $1 AND attempt = $2 AND status = '{running}'",
        failed = TaskStatus::Failed.as_str(),
        queued = TaskStatus::Queued.as_str(),
        running = TaskStatus::Running.as_str(),
        retry_at = now_plus(backend, backoff_ms),
        now = now(backend),
    );
    let updated = db.execute_raw(statement(backend, sql, vec![id.into(), attempt.into(), error.into()])).await?;
    Ok(updated.rows_affected() == 1)
}

/// Gives back to the queue every running task whose lease expired (its
/// worker died or lost the database), or fails it if that was its last
/// attempt: a task that crashes its worker every time stops at its
/// `max_attempts` too. How many.
pub(crate) async fn rescue(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "UPDATE fastsaas_tasks SET \
         status = CASE WHEN attempt >= max_attempts THEN '{failed}' ELSE '{queued}' END, \
         finished_at = CASE WHEN attempt >= max_attempts THEN {now} ELSE NULL END, \
         error = 'attempt ' || attempt || ' stopped answering: its worker died or lost the database', \
         run_at = {now}, lease_until = NULL, updated_at = {now} \
         WHERE status = '{running}' AND lease_until < {now}",
        failed = TaskStatus::Failed.as_str(),
        queued = TaskStatus::Queued.as_str(),
        running = TaskStatus::Running.as_str(),
        now = now(backend),
    );
    Ok(db.execute_raw(statement(backend, sql, Vec::new())).await?.rows_affected())
}

/// Gives a running attempt back to the queue at once, uncounted: it was
/// claimed but never ran, or a shutdown stopped it (its run is over: the
/// worker aborted it, so nothing of it writes again). The next claim gives
/// the same attempt number again.
pub(crate) async fn release(db: &impl ConnectionTrait, id: Uuid, attempt: i32) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "UPDATE fastsaas_tasks SET status = '{queued}', attempt = attempt - 1, run_at = {now}, lease_until = NULL, \
         updated_at = {now} WHERE id = $1 AND attempt = $2 AND status = '{running}'",
        queued = TaskStatus::Queued.as_str(),
        running = TaskStatus::Running.as_str(),
        now = now(backend),
    );
    let updated = db.execute_raw(statement(backend, sql, vec![id.into(), attempt.into()])).await?;
    Ok(updated.rows_affected() == 1)
}

/// Deletes the tasks that succeeded or failed before `before`; how many.
pub(crate) async fn delete_finished(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let finished = [TaskStatus::Succeeded.as_str(), TaskStatus::Failed.as_str()];
    let deleted = entity::Entity::delete_many()
        .filter(entity::Column::Status.is_in(finished))
        .filter(entity::Column::FinishedAt.lt(before))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
