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

/// A chore: its kind (also its schedule's name), when it runs, and what it
/// deletes.
struct Chore {
    kind: &'static str,
    cron: &'static str,
    run: fn(Task<AppState>) -> std::pin::Pin<Box<dyn std::future::Future<Output = TaskResult> + Send>>,
}

const CHORES: [Chore; 3] = [
    Chore {
        kind: "fastsaas.notifications.prune",
        cron: "0 * * * * *",
        run: |task| Box::pin(prune_notifications(task)),
    },
    Chore { kind: "fastsaas.sessions.prune", cron: "0 7 * * * *", run: |task| Box::pin(prune_sessions(task)) },
    Chore { kind: "fastsaas.tasks.prune", cron: "0 37 * * * *", run: |task| Box::pin(prune_tasks(task)) },
];

/// Adds the chores to an app's handlers and schedules.
pub(crate) fn add(handlers: &mut Handlers<AppState>, schedules: &mut Vec<Schedule>) {
    for chore in &CHORES {
        handlers.insert(chore.kind, chore.run);
        // The expressions are constants, checked by a test.
        if let Ok(cron) = parse(chore.cron) {
            // One attempt: the next slot is the retry. The key keeps a slow
            // run from overlapping the next.
            let task = NewTask::new(chore.kind, json!({})).max_attempts(1).unique(chore.kind);
            schedules.push(Schedule { name: chore.kind.to_owned(), cron, task });
        }
    }
}

/// The time `age` before now, or `None` if that is before any date (then
/// nothing is old enough).
fn ago(age_secs: u64) -> Option<DateTime<Utc>> {
    let age = chrono::Duration::from_std(Duration::from_secs(age_secs)).ok()?;
    Utc::now().checked_sub_signed(age)
}

fn deleted(count: Result<u64, sea_orm::DbErr>) -> TaskResult {
    count.map(|deleted| json!({ "deleted": deleted })).map_err(TaskError::new)
}

async fn prune_notifications(task: Task<AppState>) -> TaskResult {
    let app = task.state();
    let Some(before) = ago(app.settings().notifications_max_age_secs) else { return deleted(Ok(0)) };
    deleted(store::delete_older(app.db(), before).await)
}

async fn prune_sessions(task: Task<AppState>) -> TaskResult {
    let app = task.state();
    let Some(before) = ago(app.settings().access_token_ttl_secs) else { return deleted(Ok(0)) };
    deleted(tokens::delete_expired(app.db(), before).await)
}

async fn prune_tasks(task: Task<AppState>) -> TaskResult {
    let app = task.state();
    let Some(before) = ago(app.settings().tasks_kept_secs) else { return deleted(Ok(0)) };
    deleted(queue::delete_finished(app.db(), before).await)
}

#[cfg(test)]
mod tests {
    use super::{CHORES, misnamed, parse};

    #[test]
    fn the_chores_schedules_parse_and_their_names_are_reserved() {
        for chore in &CHORES {
            assert!(parse(chore.cron).is_ok(), "{}", chore.kind);
            assert!(misnamed("task kind", chore.kind).is_some_and(|why| why.contains("the framework's")));
        }
        assert_eq!(misnamed("task kind", "report.build"), None);
        assert!(misnamed("task kind", "").is_some());
        assert!(misnamed("task kind", &"x".repeat(10_000)).is_some_and(|why| why.len() < 200));
    }
}
