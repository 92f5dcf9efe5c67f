//! `fastsaas_tasks` (see `migrations::m0010_tasks`).

use sea_orm::entity::prelude::*;

/// A background task.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "fastsaas_tasks")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: Uuid,
    pub(crate) kind: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub(crate) payload: Json,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub(crate) status: String,
    /// Higher runs first.
    pub(crate) priority: i32,
    /// The attempts started so far; the running one's number while running.
    pub(crate) attempt: i32,
    pub(crate) max_attempts: i32,
    /// When it may run (next).
    pub(crate) run_at: DateTimeUtc,
    /// Until when its running attempt is its worker's.
    pub(crate) lease_until: Option<DateTimeUtc>,
    pub(crate) unique_key: Option<String>,
    /// The type and id of the object it is about, if any.
    pub(crate) subject_type: Option<String>,
    pub(crate) subject_id: Option<Uuid>,
    /// Whom it acts for, if anyone.
    pub(crate) principal_id: Option<Uuid>,
    #[sea_orm(column_type = "JsonBinary")]
    pub(crate) result: Option<Json>,
    pub(crate) error: Option<String>,
    pub(crate) created_at: DateTimeUtc,
    pub(crate) updated_at: DateTimeUtc,
    pub(crate) finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The fields a list of tasks filters on, described like a resource's.
static TASK_FIELDS: [fastsaas_core::FieldSpec; 2] = [
    fastsaas_core::FieldSpec::new("kind", fastsaas_core::FieldKind::Text).with_filter(),
    fastsaas_core::FieldSpec::new(
        "status",
        fastsaas_core::FieldKind::Enum(&["queued", "running", "succeeded", "failed"]),
    )
    .with_filter(),
];

/// Tasks, described like a resource for their lists' queries.
pub(crate) static TASKS: fastsaas_core::ResourceSpec =
    fastsaas_core::ResourceSpec::new("Task", "/tasks", "fastsaas_tasks").with_fields(&TASK_FIELDS);
