//! Agents that belong to users or organizations, act with API keys, are
//! shared through ACL entries, are cloned from templates, and answer a
//! custom `status` endpoint.
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
//! # templates: "base scraper" -> "nightly scraper" -> a clone with overrides
//! curl -XPOST localhost:8000/agents/templates -H "$H" -H "$A" \
//!   -d '{"name":"base scraper","params":{"config":{"url":"https://example.com","depth":1}}}'
//! curl -XPOST localhost:8000/agents/templates -H "$H" -H "$A" \
//!   -d '{"name":"nightly scraper","parent_id":"<base id>","params":{"name":"nightly","config":{"depth":3}}}'
//! curl localhost:8000/agents/templates/<nightly id>/resolved -H "$A"
//! curl -XPOST localhost:8000/agents/templates/<nightly id>/clone -H "$H" -H "$A" -d '{"config":{"url":"https://example.org"}}'
//! ```
//! The whole contract is in `/openapi.json`.

use fastsaas::axum::extract::Path;
use fastsaas::prelude::*;
use fastsaas::utoipa::{self, ToSchema};

/// A worker that runs tasks for its owner.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents", acl_admins = ["superadmin"], acl_allow_always = ["superadmin"])]
#[crud(authenticated, templated)]
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

#[endpoints]
impl Agent {
    /// Whether the agent is idle or busy.
    #[endpoint(get, "/{id}/status", action = "read")]
    async fn status(agent: Authorized<Agent>) -> Json<AgentStatus> {
        Json(AgentStatus { status: agent.status.clone() })
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

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    App::from_env()?.resource::<Agent>().serve().await
}
