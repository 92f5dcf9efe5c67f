//! Agents that belong to users or organizations, act with API keys, are
//! shared through ACL entries, are cloned from templates, and run tasks
//! (`echo`, `sleep`, `fail`) that their owners send them as commands.
//!
//! Run: `FASTSAAS_ADMIN_EMAIL=admin@example.com FASTSAAS_ADMIN_PASSWORD='change me now' cargo run --example agents`
//!
//! Then, with `H='content-type: application/json'`:
//! ```text
//! curl -XPOST localhost:8000/users -H "$H" -d '{"email":"ann@example.com","password":"ann password"}'
//! curl -XPOST localhost:8000/login -H "$H" -d '{"email":"ann@example.com","password":"ann password"}'
//! T=<access_token>; A="authorization: Bearer $T"
//! curl -XPOST localhost:8000/agents -H "$H" -H "$A" -d '{"name":"scraper","config":{}}'
//! curl -XPOST localhost:8000/agents/<id>/keys -H "$A"                  # the key, shown once
//! curl localhost:8000/agents -H "authorization: Bearer <key>"          # the agent acting
//! curl "localhost:8000/agents/<id>/acl/check?action=update" -H "$A"
//! curl localhost:8000/agents/<id>/status -H "$A"                       # a custom endpoint
//! curl -XPUT localhost:8000/agents/<id>/status -H "$H" -H "$A" -d '{"status":"busy"}'
//!
//! # commands: 202 {task_id, status: "queued"}; the agent is busy until its queue drains
//! curl -XPOST localhost:8000/agents/<id>/command -H "$H" -H "$A" -d '{"task":"sleep","args":{"ms":2000}}'
//! curl localhost:8000/agents/<id>/status -H "$A"                       # {"status":"busy"}
//! curl localhost:8000/tasks/<task_id> -H "$A"                          # queued, running, succeeded
//! curl localhost:8000/agents/<id>/tasks -H "$A"
//! curl -XPOST localhost:8000/agents/<id>/command -H "$H" -H "$A" -d '{"task":"fail"}'  # failed after 3 attempts
//!
//! # the owner hears of its agents: Agent.created/updated/deleted, task.succeeded/failed
//! curl "localhost:8000/notifications?sort=-seq" -H "$A"
//! websocat "ws://localhost:8000/ws?token=$T"                           # the same, live
//!
//! # templates: "base scraper" -> "nightly scraper" -> a clone with overrides
//! curl -XPOST localhost:8000/agents/templates -H "$H" -H "$A" \
//!   -d '{"name":"base scraper","params":{"config":{"url":"https://example.com","depth":1}}}'
//! curl -XPOST localhost:8000/agents/templates -H "$H" -H "$A" \
//!   -d '{"name":"nightly scraper","parent_id":"<base id>","params":{"name":"nightly","config":{"depth":3}}}'
//! curl localhost:8000/agents/templates/<nightly id>/resolved -H "$A"
//! curl -XPOST localhost:8000/agents/templates/<nightly id>/clone -H "$H" -H "$A" -d '{"config":{"url":"https://example.org"}}'
//! ```
//! The whole contract is in `/openapi.json`.

use fastsaas::axum::extract::{Path, RawQuery};
use fastsaas::axum::http::StatusCode;
use fastsaas::error::FieldErrorCode;
use fastsaas::prelude::*;
use fastsaas::utoipa::{self, ToSchema};
use fastsaas::{FieldError, Settings, TaskView};

/// A worker that runs tasks for its owner. Read by id far more often than
/// written, so `GET /agents/{id}` is served from the cache (every change
/// through the app invalidates it on every replica).
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents", acl_admins = ["superadmin"], acl_allow_always = ["superadmin"])]
#[crud(authenticated, templated, notify, cache(ttl_secs = 60))]
pub struct Agent {
    /// What to call it.
    #[crud(validate(length(min = 1, max = 100)), filter, sort)]
    pub name: String,
    /// How it runs.
    pub config: serde_json::Value,
    /// `idle` or `busy`; set by the server.
    #[crud(read_only, default = "idle", filter, validate(pattern = "idle|busy"))]
    pub status: String,
    /// Where it reports; accepted, never shown.
    #[crud(write_only)]
    pub webhook_secret: Option<String>,
}

/// The answer of `GET /agents/{id}/status`, and the body of its `PUT`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentStatus {
    /// `idle` or `busy`.
    #[schema(pattern = "^(?:idle|busy)$")]
    status: String,
}

/// The body of `POST /agents/{id}/command`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// `echo` (succeeds with `args` as its result), `sleep` (waits
    /// `args.ms`, then succeeds) or `fail` (fails every attempt).
    #[schema(pattern = "^(?:echo|sleep|fail)$")]
    task: String,
    /// The task's arguments: an object.
    #[serde(default)]
    #[schema(value_type = Option<CommandArgs>)]
    args: serde_json::Value,
}

/// The arguments of a command: any fields, and for `sleep` its length.
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema only: `args` is read as JSON")]
pub struct CommandArgs {
    /// How long `sleep` waits, in milliseconds (0 if absent).
    #[schema(minimum = 0, maximum = 600_000)]
    ms: Option<u64>,
}

/// The answer of `POST /agents/{id}/command`.
#[derive(Serialize, ToSchema)]
pub struct TaskRef {
    /// The task's id, for `GET /tasks/{id}`.
    task_id: Uuid,
    /// `queued`.
    status: String,
}

/// The longest `sleep` a command may ask for.
const MAX_SLEEP_MS: u64 = 600_000;

/// The task a command asks for, checked: 400 naming `task` or `args`.
fn task_of(agent: Uuid, command: Command) -> ApiResult<NewTask> {
    let invalid = |field: &str, message: String| {
        ApiError::Validation(vec![FieldError::new(field, FieldErrorCode::Invalid, message)])
    };
    let args = match command.args {
        serde_json::Value::Null => serde_json::json!({}),
        args @ serde_json::Value::Object(_) => args,
        _ => return Err(invalid("args", "an object".to_owned())),
    };
    let ms = match &args["ms"] {
        serde_json::Value::Null => 0,
        // JSON has one kind of number: `215.0` is the whole number 215.
        ms => ms
            .as_u64()
            .or_else(|| {
                ms.as_f64()
                    .filter(|ms| ms.fract() == 0.0 && (0.0..=MAX_SLEEP_MS as f64).contains(ms))
                    .map(|ms| ms as u64)
            })
            .filter(|ms| *ms <= MAX_SLEEP_MS)
            .ok_or_else(|| invalid("args", format!("`ms` is a whole number from 0 to {MAX_SLEEP_MS}")))?,
    };
    let task = match command.task.as_str() {
        "echo" => NewTask::new("echo", args),
        "sleep" => NewTask::new("sleep", serde_json::json!({"ms": ms})),
        "fail" => NewTask::new("fail", args).max_attempts(3),
        // Not echoed: it may be a megabyte.
        _ => return Err(invalid("task", "no such task; an agent knows echo, sleep and fail".to_owned())),
    };
    Ok(task.about("Agent", agent))
}

/// `echo`: its arguments are its result.
async fn echo(task: Task<AppState>) -> TaskResult {
    Ok(task.payload.clone())
}

/// `sleep`: waits `ms`, or until the attempt must stop.
async fn sleep(task: Task<AppState>) -> TaskResult {
    let ms = task.payload["ms"].as_u64().unwrap_or(0);
    tokio::select! {
        () = tokio::time::sleep(std::time::Duration::from_millis(ms)) => Ok(serde_json::json!({"slept_ms": ms})),
        () = task.cancelled() => Err(TaskError::new("stopped before the end of its sleep")),
    }
}

/// `fail`: fails every attempt.
async fn fail(_task: Task<AppState>) -> TaskResult {
    Err(TaskError::new("this task fails every time"))
}

#[endpoints]
impl Agent {
    /// Whether the agent is busy (it has queued or running tasks) or idle
    /// (else, as it last reported itself).
    #[endpoint(get, "/{id}/status", action = "read")]
    async fn status(ctx: Ctx, agent: Authorized<Agent>) -> ApiResult<Json<AgentStatus>> {
        let busy = ctx.tasks().busy_about("Agent", agent.id).await?;
        let status = if busy { "busy".to_owned() } else { agent.status.clone() };
        Ok(Json(AgentStatus { status }))
    }

    /// Queues a task for the agent (needs the `command` permission).
    #[endpoint(post, "/{id}/command", action = "command")]
    async fn command(
        ctx: Ctx,
        agent: Authorized<Agent>,
        Json(command): Json<Command>,
    ) -> ApiResult<(StatusCode, Json<TaskRef>)> {
        let queued = ctx.tasks().enqueue(task_of(agent.id, command)?).await?;
        Ok((StatusCode::ACCEPTED, Json(TaskRef { task_id: queued.id(), status: "queued".to_owned() })))
    }

    /// The agent's tasks, oldest first, paged as every list (`kind=` and
    /// `status=` filter them).
    #[endpoint(get, "/{id}/tasks", action = "read")]
    async fn tasks(ctx: Ctx, agent: Authorized<Agent>, RawQuery(query): RawQuery) -> ApiResult<Json<Page<TaskView>>> {
        let page = ctx.tasks().list_about("Agent", agent.id, query.as_deref().unwrap_or_default()).await?;
        Ok(Json(page))
    }

    /// Marks the agent idle or busy (needs `update`; an agent reports its
    /// own status once its owner allows it). Clients cannot write the
    /// read-only `status`; the app does, through the records API, with
    /// the field's rule checked and `updated_at` moved.
    #[endpoint(put, "/{id}/status", action = "update")]
    async fn set_status(
        ctx: Ctx,
        Path(id): Path<Uuid>,
        Json(wanted): Json<AgentStatus>,
    ) -> ApiResult<Json<AgentStatus>> {
        let agent = ctx.records::<Agent>().update(id, |agent| agent.status = wanted.status).await?;
        Ok(Json(AgentStatus { status: agent.status.clone() }))
    }
}

/// The app: agents and the tasks they run.
pub fn app(settings: Settings) -> App {
    App::new(settings).resource::<Agent>().task("echo", echo).task("sleep", sleep).task("fail", fail)
}

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    app(Settings::load()?).serve().await
}
