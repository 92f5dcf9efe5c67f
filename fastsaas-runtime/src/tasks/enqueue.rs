//! [`Tasks`]: enqueuing from a handler, through `ctx.tasks()`.

use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{ApiError, ApiResult, FieldError, Page};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::entity::{self, TASKS};
use super::{NewTask, TaskStatus, TaskView};
use super::{chores, queue};
use crate::access;
use crate::ctx::Ctx;
use crate::error::internal;
use crate::notify::bus::Wake;
use crate::query::{Readable, page_of};

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
    /// it at their next look (`task_poll_ms`) once it has committed. A task
    /// [`about`](NewTask::about) an object of a registered resource type
    /// that the caller may not read is refused (404 naming the type).
    pub async fn enqueue_in(&self, db: &impl ConnectionTrait, task: NewTask) -> ApiResult<Enqueued> {
        let app = self.ctx.app();
        if !app.task_handlers().knows(&task.kind) || chores::is_reserved(&task.kind) {
            let kinds = app.task_handlers().kinds().into_iter().filter(|kind| !chores::is_reserved(kind));
            let known = kinds.collect::<Vec<_>>().join(", ");
            return Err(ApiError::Validation(vec![FieldError::new(
                "kind",
                FieldErrorCode::Invalid,
                // Not echoed: a client may have sent it, of any size.
                format!("no task of this kind; the kinds are: {known}"),
            )]));
        }
        // Its owners hear how it ends: a stranger may not make them.
        if let Some((type_name, id)) = &task.subject
            && let Some(spec) = app.registry().spec(type_name)
        {
            let owner = access::owner_of(db, spec, *id).await.map_err(internal)?;
            let subject = self.ctx.principal().subject();
            let readable = match owner {
                Some(owner) => access::decision(db, spec, &subject, "read", Some((*id, owner))).await?.allowed,
                None => false,
            };
            if !readable {
                return Err(ApiError::not_found(spec.name));
            }
        }
        // An API key acts for its resource's owner, who sees what it made.
        let principal = Some(self.ctx.principal().acts_for());
        let enqueued = match queue::enqueue(db, &task, principal).await.map_err(internal)? {
            queue::Enqueued::New(id) => Enqueued::New(id),
            queue::Enqueued::Duplicate(id) => return Ok(Enqueued::Duplicate(id)),
        };
        // Every process's workers, as the bus reaches them, and this one's.
        app.notifier().wake_in(db, Wake::Tasks).await.map_err(internal)?;
        app.notifier().committed(Wake::Tasks);
        app.workers().wake();
        Ok(enqueued)
    }

    /// The tasks about object `id` of the type `type_name` (as enqueued
    /// with [`NewTask::about`]), oldest first, paged as every list: `query`
    /// is a list's query string (`page`, `page_size`, `total`, `after`, and
    /// the filters `kind` and `status`). Check first that the caller may
    /// read the object (an endpoint taking `Authorized<T>` has).
    pub async fn list_about(&self, type_name: &str, id: Uuid, query: &str) -> ApiResult<Page<TaskView>> {
        let app = self.ctx.app();
        let mut query = crate::query::parse(&TASKS, Some(query))?;
        // A cursor of one object's tasks is not one of another's.
        query.list.push_str(&format!(":{type_name}:{id}"));
        let about =
            Condition::all().add(entity::Column::SubjectType.eq(type_name)).add(entity::Column::SubjectId.eq(id));
        let readable = Readable { except: Some(about), any_of: None, tally: None };
        let select = entity::Entity::find();
        let columns = (entity::Column::Id, entity::Column::CreatedAt);
        let page = page_of(app.db(), app.cursors(), &TASKS, &query, select, readable, columns).await?;
        Ok(page.map(TaskView::from))
    }

    /// Whether a task about object `id` of `type_name` is queued or running.
    pub async fn busy_about(&self, type_name: &str, id: Uuid) -> ApiResult<bool> {
        let pending = entity::Entity::find()
            .filter(entity::Column::SubjectType.eq(type_name))
            .filter(entity::Column::SubjectId.eq(id))
            .filter(entity::Column::Status.is_in([TaskStatus::Queued.as_str(), TaskStatus::Running.as_str()]))
            .one(self.ctx.app().db())
            .await
            .map_err(internal)?;
        Ok(pending.is_some())
    }
}
