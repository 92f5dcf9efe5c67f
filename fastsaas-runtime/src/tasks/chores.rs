//! The framework's own chores, run as periodic tasks (once per slot across
//! all processes): deleting notifications past their age, refresh tokens
//! past their expiry, and tasks finished long ago. Their kinds and
//! schedule names begin with `fastsaas.`, which apps may not use.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::schedule::{Schedule, parse};
use super::{Handlers, NewTask, Task, TaskError, TaskResult, queue};
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
    name.starts_with(RESERVED_PREFIX)
        .then(|| format!("{what} `{name}`: names beginning with `{RESERVED_PREFIX}` are the framework's"))
}

/// The chores: kind (also the schedule's name) and when each runs.
const CHORES: [(&str, &str); 3] = [(NOTIFICATIONS, "0 * * * * *"), (SESSIONS, "0 7 * * * *"), (TASKS, "0 37 * * * *")];

const NOTIFICATIONS: &str = "fastsaas.notifications.prune";
const SESSIONS: &str = "fastsaas.sessions.prune";
const TASKS: &str = "fastsaas.tasks.prune";

/// Adds the chores to an app's handlers and schedules.
pub(crate) fn add(handlers: &mut Handlers<AppState>, schedules: &mut Vec<Schedule>) {
    for (kind, expression) in CHORES {
        handlers.insert(kind, run);
        // The expressions are constants, checked by a test.
        if let Ok(cron) = parse(expression) {
            // One attempt: the next slot is the retry. The key keeps a slow
            // run from overlapping the next.
            let task = NewTask::new(kind, json!({})).max_attempts(1).unique(kind);
            schedules.push(Schedule { name: kind.to_owned(), cron, task });
        }
    }
}

/// Runs the chore `task.kind`: deletes what is older than the settings
/// keep.
async fn run(task: Task<AppState>) -> TaskResult {
    let app = task.state();
    let settings = app.settings();
    let kept_secs = match task.kind.as_str() {
        NOTIFICATIONS => settings.notifications_max_age_secs,
        // A session lives while a token is stored, so the access tokens
        // issued with the last ones get time to expire.
        SESSIONS => settings.access_token_ttl_secs,
        _ => settings.tasks_kept_secs,
    };
    let Some(before) = ago(kept_secs) else { return Ok(json!({ "deleted": 0 })) };
    let db = app.db();
    let deleted = match task.kind.as_str() {
        NOTIFICATIONS => store::delete_older(db, before).await,
        SESSIONS => tokens::delete_expired(db, before).await,
        _ => queue::delete_finished(db, before).await,
    };
    deleted.map(|deleted| json!({ "deleted": deleted })).map_err(TaskError::new)
}

/// The time `age` before now, or `None` if that is before any date (then
/// nothing is old enough).
fn ago(age_secs: u64) -> Option<DateTime<Utc>> {
    let age = chrono::Duration::from_std(Duration::from_secs(age_secs)).ok()?;
    Utc::now().checked_sub_signed(age)
}

#[cfg(test)]
mod tests {
    use super::{CHORES, misnamed, parse};

    #[test]
    fn the_chores_schedules_parse_and_their_names_are_reserved() {
        for (kind, expression) in CHORES {
            assert!(parse(expression).is_ok(), "{kind}");
            assert!(misnamed("task kind", kind).is_some_and(|why| why.contains("the framework's")));
        }
        assert_eq!(misnamed("task kind", "report.build"), None);
        assert!(misnamed("task kind", "").is_some());
        assert!(misnamed("task kind", &"x".repeat(10_000)).is_some_and(|why| why.len() < 200));
    }
}
