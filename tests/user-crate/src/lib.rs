//! A user's crate: resources declared next to names that shadow std, core
//! and `SeaORM` items, with every lint an application might deny.
#![deny(warnings, unused, missing_docs, unreachable_pub, unsafe_code)]
#![deny(clippy::all, clippy::pedantic)]
#![allow(clippy::module_name_repetitions)]

use fastsaas::prelude::*;

/// Names a careless expansion would pick up instead of the real items.
#[allow(dead_code)]
mod shadows {
    pub(crate) struct Result;
    pub(crate) struct Ok;
    pub(crate) struct Some;
    pub(crate) struct None;
    pub(crate) struct Vec;
    pub(crate) struct Model;
    pub(crate) mod sea_orm {}
    pub(crate) mod serde {}
    pub(crate) mod core {}
}
#[allow(unused_imports)]
use shadows::*;

/// A task with every kind of field option.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/todos", acl_admins = ["superadmin"])]
#[crud(templated)]
pub struct Task {
    /// What to do.
    #[crud(validate(length(min = 1, max = 200)), filter, sort)]
    pub title: String,
    /// How urgent, 1 to 5.
    #[crud(validate(range(min = 1, max = 5)))]
    pub priority: Option<i32>,
    /// Where it stands.
    #[crud(read_only, default = State::Open)]
    pub state: State,
    /// Labels.
    pub labels: std::vec::Vec<String>,
    /// Anything else.
    pub extra: serde_json::Value,
    /// Never shown.
    #[crud(write_only)]
    pub token: Option<String>,
    /// Never shown nor accepted.
    #[crud(hidden, default = 0)]
    pub retries: i64,
}

/// Response types. utoipa's derive names `Vec` unqualified, so these live
/// away from the shadowing names above.
pub mod views {
    use fastsaas::prelude::*;
    use fastsaas::utoipa;

    /// What `GET /todos/{id}/summary` answers (its schema is in `/openapi.json`).
    #[derive(Serialize, utoipa::ToSchema)]
    pub struct Summary {
        pub(crate) title: String,
        pub(crate) labels: usize,
    }
}
use views::Summary;

/// What `POST /todos/{id}/labels` takes.
#[derive(Deserialize)]
pub struct NewLabel {
    label: String,
}

#[endpoints]
impl Task {
    /// A short view of a task.
    #[endpoint(get, "/{id}/summary")]
    async fn summary(task: Authorized<Task>) -> fastsaas::Json<Summary> {
        fastsaas::Json(Summary { title: task.title.clone(), labels: task.labels.len() })
    }

    /// Checks a label (needs the `label` permission).
    #[endpoint(post, "/{id}/labels", action = "label")]
    async fn label(task: Authorized<Task>, fastsaas::Json(new): fastsaas::Json<NewLabel>) -> ApiResult<String> {
        if new.label.is_empty() {
            return Err(ApiError::Conflict("empty label".into()));
        }
        ::core::result::Result::Ok(format!("{} would get {}", task.title, new.label))
    }
}

/// The state of a task.
#[derive(CrudEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not started.
    Open,
    /// Finished.
    Done,
}

/// A resource with nothing but read routes.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/events")]
#[crud(ops(read, list))]
pub struct Event {
    /// What happened.
    pub what: String,
}

/// The app of this crate.
#[must_use]
pub fn app(settings: fastsaas::Settings) -> App {
    App::new(settings).resource::<Task>().resource::<Event>()
}
