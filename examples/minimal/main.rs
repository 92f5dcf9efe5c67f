//! The smallest useful FastSaaS app: one resource with CRUD routes, on an
//! SQLite file in the working directory.
//!
//! Run: `cargo run --example minimal`, then
//! ```text
//! curl -XPOST localhost:8000/users -H 'content-type: application/json' -d '{"email":"me@example.com","password":"my password"}'
//! curl -XPOST localhost:8000/login -H 'content-type: application/json' -d '{"email":"me@example.com","password":"my password"}'
//! curl -XPOST localhost:8000/items -H 'content-type: application/json' -H 'authorization: Bearer <access_token>' \
//!      -d '{"name":"first","config":{}}'
//! ```
//! and open <http://localhost:8000/openapi.json>.

use fastsaas::prelude::*;

/// Something worth keeping.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/items")]
pub struct Item {
    /// What to call it.
    #[crud(validate(length(min = 1, max = 100)), filter, sort)]
    pub name: String,
    /// Free-form settings.
    pub config: serde_json::Value,
    /// Set by the server.
    #[crud(read_only, default = "idle")]
    pub status: String,
    /// Accepted, never shown.
    #[crud(write_only)]
    pub secret: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    App::from_env()?.resource::<Item>().serve().await
}
