//! [`Tasks`]: enqueuing from a handler, through `ctx.tasks()`.

use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{ApiError, ApiResult, FieldError};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::NewTask;
use super::queue;
use crate::ctx::Ctx;
use crate::error::internal;

/// Whether [`Tasks::enqueue`] queued a new task, or found one with the same
/// unique key queued or running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// The new task's id.
    New(Uuid),
    /// The id of the task that holds the unique key.
    Duplicate(Uuid),
}

impl Enqueued {
    /// The id of the task that will do the work.
    pub fn id(self) -> Uuid {
        match self {
            Enqueued::New(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

/// The task queue, as the caller of a [`Ctx`] uses it. Made by
/// [`Ctx::tasks`].
#[derive(Debug)]
pub struct Tasks<'a> {
    ctx: &'a Ctx,
}

impl Ctx {
    /// The task queue: tasks enqueued here act for this context's caller.
    pub fn tasks(&self) -> Tasks<'_> {
        Tasks { ctx: self }
    }
}

impl Tasks<'_> {
    /// Enqueues `task`, committed at once; idle workers are woken. 400 if
    /// no handler is registered for its kind (`App::task`).
    ///
    /// ```no_run
    /// # async fn run(ctx: fastsaas_runtime::Ctx) -> fastsaas_core::ApiResult<()> {
    /// use fastsaas_runtime::NewTask;
    /// let queued = ctx.tasks().enqueue(NewTask::new("echo", serde_json::json!({"say": "hi"}))).await?;
    /// println!("task {}", queued.id());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue(&self, task: NewTask) -> ApiResult<Enqueued> {
        let enqueued = self.enqueue_in(self.ctx.app().db(), task).await?;
        Ok(enqueued)
    }

    /// Enqueues `task` in `db`, the caller's own transaction: the task and
    /// the changes it is about commit, or roll back, together. Workers find
    /// it at their next look (`task_poll_ms`) once it has committed.
    pub async fn enqueue_in(&self, db: &impl ConnectionTrait, task: NewTask) -> ApiResult<Enqueued> {
        let app = self.ctx.app();
        if !app.task_handlers().knows(&task.kind) {
            let known = app.task_handlers().kinds().join(", ");
            return Err(ApiError::Validation(vec![FieldError::new(
                "kind",
                FieldErrorCode::Invalid,
                format!("no task of kind `{}`; the kinds are: {known}", task.kind),
            )]));
        }
        // An API key acts for its resource's owner, who sees what it made.
        let principal = Some(self.ctx.principal().acts_for());
        let enqueued = match queue::enqueue(db, &task, principal).await.map_err(internal)? {
            queue::Enqueued::New(id) => Enqueued::New(id),
            queue::Enqueued::Duplicate(id) => Enqueued::Duplicate(id),
        };
        app.workers().wake();
        Ok(enqueued)
    }
}
