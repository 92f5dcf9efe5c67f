//! The framework's own chores, run as periodic tasks (once per slot across
//! all processes): deleting notifications past their age, refresh tokens
//! past their expiry, and tasks finished long ago. Their kinds and
//! schedule names begin with `fastsaas.`, which apps may not use.

use std::time::Duration;

use serde_json::json;

use super::schedule::{Schedule, parse};
use super::{Handlers, NewTask, Task, TaskError, TaskResult, queue};
use crate::db::clock;
use crate::identity::tokens;
use crate::notify::store;
use crate::state::AppState;

/// The prefix of the framework's task kinds and schedule names.
const RESERVED_PREFIX: &str = "fastsaas.";

/// What is wrong with `name` as the name of an app's `what` (a task kind
/// or a periodic task), if anything.
pub(crate) fn misnamed(what: &str, name: &str) -> Option<String> {
    let fit = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if !fit {
        // Not echoed whole: it may be of any size.
        let shown: String = name.chars().take(64).collect();
        return Some(format!("{what} `{shown}`: a name is 1 to 64 of `A-Za-z0-9_.:-`"));
    }
    is_reserved(name).then(|| format!("{what} `{name}`: names beginning with `{RESERVED_PREFIX}` are the framework's"))
}

/// A chore of the framework's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chore {
    /// Deletes notifications older than `notifications_max_age_secs`.
    Notifications,
    /// Deletes refresh tokens that expired `access_token_ttl_secs` ago: a
    /// session lives while a token is stored, so the access tokens issued
    /// with the last ones get time to expire.
    Sessions,
    /// Deletes tasks finished more than `tasks_kept_secs` ago.
    Tasks,
}

impl Chore {
    const ALL: [Chore; 3] = [Chore::Notifications, Chore::Sessions, Chore::Tasks];

    /// Its task kind, also its schedule's name.
    fn kind(self) -> &'static str {
        match self {
            Chore::Notifications => "fastsaas.notifications.prune",
            Chore::Sessions => "fastsaas.sessions.prune",
            Chore::Tasks => "fastsaas.tasks.prune",
        }
    }

    /// When it runs: every minute, or every hour (at different minutes).
    fn cron(self) -> &'static str {
        match self {
            Chore::Notifications => "0 * * * * *",
            Chore::Sessions => "0 7 * * * *",
            Chore::Tasks => "0 37 * * * *",
        }
    }

    fn of_kind(kind: &str) -> Option<Chore> {
        Chore::ALL.into_iter().find(|chore| chore.kind() == kind)
    }

    /// How old what it deletes is, at least.
    fn age_secs(self, settings: &fastsaas_core::Settings) -> u64 {
        match self {
            Chore::Notifications => settings.notifications_max_age_secs,
            Chore::Sessions => settings.access_token_ttl_secs,
            Chore::Tasks => settings.tasks_kept_secs,
        }
    }
}

/// Whether `kind` is the framework's: apps neither register nor enqueue it.
pub(crate) fn is_reserved(kind: &str) -> bool {
    kind.starts_with(RESERVED_PREFIX)
}

/// Adds the chores to an app's handlers and schedules.
pub(crate) fn add(handlers: &mut Handlers<AppState>, schedules: &mut Vec<Schedule>) {
    for chore in Chore::ALL {
        handlers.insert(chore.kind(), run);
        // The expressions are constants, checked by a test.
        if let Ok(cron) = parse(chore.cron()) {
            // One attempt: the next slot is the retry. The key keeps a slow
            // run from overlapping the next.
            let task = NewTask::new(chore.kind(), json!({})).max_attempts(1).unique(chore.kind());
            schedules.push(Schedule { name: chore.kind().to_owned(), cron, task });
        }
    }
}

/// Runs the chore of `task.kind`: deletes what is older than the settings
/// keep, by the database's clock.
async fn run(task: Task<AppState>) -> TaskResult {
    let chore = Chore::of_kind(&task.kind).ok_or_else(|| TaskError::new("not a chore"))?;
    let app = task.state();
    let db = app.db();
    let now = clock(db).await.map_err(TaskError::new)?;
    let age = chrono::Duration::from_std(Duration::from_secs(chore.age_secs(app.settings()))).ok();
    // An age past what a date can hold keeps everything.
    let Some(before) = age.and_then(|age| now.checked_sub_signed(age)) else { return Ok(json!({ "deleted": 0 })) };
    let deleted = match chore {
        Chore::Notifications => store::delete_older(db, before).await,
        Chore::Sessions => tokens::delete_expired(db, before).await,
        Chore::Tasks => queue::delete_finished(db, before).await,
    };
    deleted.map(|deleted| json!({ "deleted": deleted })).map_err(TaskError::new)
}

#[cfg(test)]
mod tests {
    use super::{Chore, misnamed, parse};

    #[test]
    fn the_chores_schedules_parse_and_their_names_are_reserved() {
        for chore in Chore::ALL {
            assert!(parse(chore.cron()).is_ok(), "{chore:?}");
            assert!(misnamed("task kind", chore.kind()).is_some_and(|why| why.contains("the framework's")));
            assert_eq!(Chore::of_kind(chore.kind()), Some(chore));
        }
        assert_eq!(misnamed("task kind", "report.build"), None);
        assert!(misnamed("task kind", "").is_some());
        assert!(misnamed("task kind", &"x".repeat(10_000)).is_some_and(|why| why.len() < 200));
    }
}
