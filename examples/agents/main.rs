//! Agents that belong to users or organizations, act with API keys, and are
//! shared through ACL entries: users, roles, organizations, permissions.
//!
//! Run: `FASTSAAS_ADMIN_EMAIL=admin@example.com FASTSAAS_ADMIN_PASSWORD='change me now' cargo run --example agents`
//!
//! Then, with `H='content-type: application/json'`:
//! ```text
//! curl -XPOST localhost:8000/users -H "$H" -d '{"email":"ann@example.com","password":"ann password"}'
//! curl -XPOST localhost:8000/login -H "$H" -d '{"email":"ann@example.com","password":"ann password"}'
//! T=<access_token>
//! curl -XPOST localhost:8000/agents -H "$H" -H "authorization: Bearer $T" -d '{"name":"scraper","config":{}}'
//! curl -XPOST localhost:8000/agents/<id>/keys -H "authorization: Bearer $T"      # the key, shown once
//! curl localhost:8000/agents -H "authorization: Bearer <key>"                  # the agent acting
//! curl "localhost:8000/agents/<id>/acl/check?action=update" -H "authorization: Bearer $T"
//! ```
//! The whole contract is in `/openapi.json`.

use fastsaas::prelude::*;

/// A worker that runs tasks for its owner.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents", acl_admins = ["superadmin"], acl_allow_always = ["superadmin"])]
#[crud(authenticated)]
pub struct Agent {
    /// What to call it.
    #[crud(validate(length(min = 1, max = 100)), filter, sort)]
    pub name: String,
    /// How it runs.
    pub config: serde_json::Value,
    /// `idle` or `busy`; set by the server.
    #[crud(read_only, default = "idle", filter)]
    pub status: String,
    /// Where it reports; accepted, never shown.
    #[crud(write_only)]
    pub webhook_secret: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    App::from_env()?.resource::<Agent>().serve().await
}
