//! Durable background tasks: rows in the framework's tables (`queue`),
//! claimed under leases by the workers of every process (`worker`), and
//! `GET /tasks/{id}` (`routes`). See ADR 0012 for why the queue is ours.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

pub(crate) mod census;
pub(crate) mod chores;
pub(crate) mod complete;
pub(crate) mod enqueue;
pub(crate) mod entity;
pub(crate) mod queue;
pub(crate) mod routes;
pub(crate) mod schedule;
pub(crate) mod worker;

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for its time and a free worker (also between retries).
    Queued,
    /// An attempt is running.
    Running,
    /// An attempt succeeded; `result` holds what it returned.
    Succeeded,
    /// Every attempt failed; `error` holds the last failure.
    Failed,
}

impl TaskStatus {
    /// The stored name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
        }
    }

    pub(crate) fn from_stored(stored: &str) -> TaskStatus {
        match stored {
            "running" => TaskStatus::Running,
            "succeeded" => TaskStatus::Succeeded,
            "failed" => TaskStatus::Failed,
            _ => TaskStatus::Queued,
        }
    }
}

/// A task to enqueue: its kind (a handler registered with `App::task`), its
/// payload, and how it runs.
///
/// ```
/// # use fastsaas_runtime::NewTask;
/// let task = NewTask::new("report.build", serde_json::json!({"month": "2026-11"}))
///     .delay(std::time::Duration::from_secs(60))
///     .max_attempts(5)
///     .unique("report:2026-11");
/// ```
#[derive(Clone, Debug)]
pub struct NewTask {
    pub(crate) kind: String,
    pub(crate) payload: Value,
    pub(crate) delay: Duration,
    pub(crate) priority: i32,
    pub(crate) max_attempts: u32,
    pub(crate) unique_key: Option<String>,
    pub(crate) subject: Option<(String, Uuid)>,
}

impl NewTask {
    /// The default number of attempts.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

    /// A task of `kind` with `payload`: due now, priority 0, three attempts.
    pub fn new(kind: impl Into<String>, payload: Value) -> NewTask {
        NewTask {
            kind: kind.into(),
            payload,
            delay: Duration::ZERO,
            priority: 0,
            max_attempts: NewTask::DEFAULT_MAX_ATTEMPTS,
            unique_key: None,
            subject: None,
        }
    }

    /// Runs no earlier than `delay` from now (by the database's clock).
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> NewTask {
        self.delay = delay;
        self
    }

    /// Runs before due tasks of lower priority (default 0).
    #[must_use]
    pub fn priority(mut self, priority: i32) -> NewTask {
        self.priority = priority;
        self
    }

    /// Attempts at most (at least 1): a failure before the last is retried
    /// after a backoff, the last leaves the task `failed`.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> NewTask {
        self.max_attempts = attempts.max(1);
        self
    }

    /// While a task of this kind with `key` is queued or running, enqueuing
    /// another is a no-op that answers the existing task's id.
    #[must_use]
    pub fn unique(mut self, key: impl Into<String>) -> NewTask {
        self.unique_key = Some(key.into());
        self
    }

    /// The task is about object `id` of the resource type `type_name` (as in
    /// ACL entries): who may read that object may read the task.
    #[must_use]
    pub fn about(mut self, type_name: impl Into<String>, id: Uuid) -> NewTask {
        self.subject = Some((type_name.into(), id));
        self
    }
}

/// A task as `GET /tasks/{id}` answers it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskView {
    /// The task's id.
    pub id: Uuid,
    /// Its kind.
    pub kind: String,
    /// Where it is.
    pub status: TaskStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// What the successful attempt returned.
    pub result: Option<Value>,
    /// The last failure, if any.
    pub error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<entity::Model> for TaskView {
    fn from(row: entity::Model) -> TaskView {
        TaskView {
            id: row.id,
            kind: row.kind,
            status: TaskStatus::from_stored(&row.status),
            attempts: u32::try_from(row.attempt).unwrap_or_default(),
            result: row.result,
            error: row.error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// One attempt of a task, as its handler receives it, with the app's state
/// `S`.
pub struct Task<S> {
    /// The task's id.
    pub id: Uuid,
    /// Its kind.
    pub kind: String,
    /// What it was enqueued with.
    pub payload: Value,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// The attempts it may make.
    pub max_attempts: u32,
    /// Whom it acts for, if it was enqueued on someone's behalf.
    pub principal_id: Option<Uuid>,
    /// The object it is about, if any: its type name and id.
    pub subject: Option<(String, Uuid)>,
    pub(crate) state: S,
    pub(crate) cancelled: watch::Receiver<bool>,
}

impl<S> Task<S> {
    /// The app's state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Whether this attempt should stop: its lease was lost (another worker
    /// may be running the task now, and nothing this attempt writes to the
    /// task will count) or the process is shutting down.
    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.borrow()
    }

    /// Completes when this attempt should stop (see
    /// [`Task::is_cancelled`]); for `tokio::select!` in long handlers.
    pub async fn cancelled(&self) {
        let mut cancelled = self.cancelled.clone();
        // A closed channel means the worker is gone: stop as well.
        let _ = cancelled.wait_for(|cancelled| *cancelled).await;
    }
}

impl<S> fmt::Debug for Task<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("id", &self.id).field("kind", &self.kind).field("attempt", &self.attempt).finish()
    }
}

/// Why an attempt failed: kept as the task's `error`, and retried while
/// attempts are left.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TaskError(pub String);

impl TaskError {
    /// A failure described by `message`.
    pub fn new(message: impl fmt::Display) -> TaskError {
        TaskError(message.to_string())
    }
}

impl From<fastsaas_core::ApiError> for TaskError {
    fn from(err: fastsaas_core::ApiError) -> TaskError {
        TaskError(err.to_string())
    }
}

/// What a handler returns: the task's result, or why the attempt failed.
pub type TaskResult = Result<Value, TaskError>;

type BoxedHandler<S> = Arc<dyn Fn(Task<S>) -> Pin<Box<dyn Future<Output = TaskResult> + Send>> + Send + Sync>;

/// The handlers of an app, by kind.
pub(crate) struct Handlers<S>(HashMap<String, BoxedHandler<S>>);

impl<S> Default for Handlers<S> {
    fn default() -> Self {
        Handlers(HashMap::new())
    }
}

impl<S> Clone for Handlers<S> {
    fn clone(&self) -> Self {
        Handlers(self.0.clone())
    }
}

impl<S> fmt::Debug for Handlers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl<S> Handlers<S> {
    /// Registers `handler` for `kind`; `false` if the kind had one already.
    pub(crate) fn insert<F, Fut>(&mut self, kind: &str, handler: F) -> bool
    where
        F: Fn(Task<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = TaskResult> + Send + 'static,
    {
        let boxed: BoxedHandler<S> = Arc::new(move |task| Box::pin(handler(task)));
        self.0.insert(kind.to_owned(), boxed).is_none()
    }

    pub(crate) fn get(&self, kind: &str) -> Option<&BoxedHandler<S>> {
        self.0.get(kind)
    }

    /// Whether `kind` has a handler.
    pub(crate) fn knows(&self, kind: &str) -> bool {
        self.0.contains_key(kind)
    }

    /// The kinds, sorted.
    pub(crate) fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.0.keys().cloned().collect();
        kinds.sort();
        kinds
    }
}

/// The backoff before retrying after failed attempt `attempt` (from 1):
/// `base` doubled per earlier failure, at most an hour, less a random part
/// of up to half of it, so that tasks that failed together do not retry
/// together.
pub(crate) fn backoff(base_ms: u64, attempt: u32) -> u64 {
    const MAX_MS: u64 = 60 * 60 * 1000;
    let doubled = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(40)).min(MAX_MS);
    let random = u64::from_le_bytes(Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or_default());
    doubled - random % (doubled / 2 + 1)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_an_hour() {
        for attempt in 1..=5u32 {
            let full = 1000u64 << (attempt - 1);
            for _ in 0..50 {
                let wait = backoff(1000, attempt);
                assert!((full / 2..=full).contains(&wait), "attempt {attempt}: {wait}");
            }
        }
        assert!(backoff(1000, 64) <= 3_600_000 && backoff(1000, 64) >= 1_800_000);
        assert_eq!(backoff(0, 3), 0);
    }
}
