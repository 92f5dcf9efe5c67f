//! Periodic tasks: a schedule (a cron expression) enqueues its task once per
//! slot, however many processes run it, with no leader.
//!
//! Every process with workers sleeps until a schedule's next slot, then
//! tries to take the slot: an upsert of the schedule's row in
//! `fastsaas_schedules` that moves `last_slot` forward only if it is older
//! than this slot, and the enqueue, in one transaction. Of the processes
//! that try the same slot, exactly one moves the row (the others find it
//! at that slot already, waiting for its lock on PostgreSQL), so exactly one
//! enqueues. A process whose clock runs late or early only tries a slot
//! that is taken already, or takes it a little early; slots missed while no
//! process ran are not made up (the next one runs).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use tokio::sync::{Notify, watch};

use super::NewTask;
use super::queue;
use crate::db::begin_write;
use crate::notify::Notifier;
use crate::notify::bus::Wake;

/// A task enqueued at every slot of a cron expression.
#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    pub(crate) name: String,
    pub(crate) cron: cron::Schedule,
    pub(crate) task: NewTask,
}

/// Reads a cron expression, in UTC: five fields as in a crontab (`minute
/// hour day-of-month month day-of-week`, so at most once a minute), or six
/// or seven with seconds first (and a year last).
pub(crate) fn parse(expression: &str) -> Result<cron::Schedule, String> {
    let fields = expression.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {expression}"),
        6 | 7 => expression.to_owned(),
        _ => return Err(format!("{fields} fields; a schedule has 5 (as in a crontab), or 6 or 7 with seconds first")),
    };
    full.parse::<cron::Schedule>().map_err(|err| err.to_string())
}

/// Takes slot `slot` (seconds since the epoch) of schedule `name` and
/// enqueues `task` with it, in one transaction; `false` if another process
/// took this slot, or a later one, first.
pub(crate) async fn take_slot(
    db: &DatabaseConnection,
    notifier: &Notifier,
    name: &str,
    slot: i64,
    task: &NewTask,
) -> Result<bool, DbErr> {
    let tx = begin_write(db).await?;
    let backend = tx.get_database_backend();
    let moved = tx
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO fastsaas_schedules (name, last_slot, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET last_slot = excluded.last_slot, updated_at = excluded.updated_at \
             WHERE fastsaas_schedules.last_slot < excluded.last_slot",
            [name.into(), slot.into(), Utc::now().into()],
        ))
        .await?;
    if moved.rows_affected() != 1 {
        return Ok(false);
    }
    if let queue::Enqueued::New(_) = queue::enqueue(&tx, task, None).await? {
        notifier.wake_in(&tx, Wake::Tasks).await?;
    }
    tx.commit().await?;
    notifier.committed(Wake::Tasks);
    Ok(true)
}

/// Runs `schedules` until `stop`: at each slot, takes it and wakes the
/// workers (`workers`, this process's; `notifier`, everyone's) if this
/// process enqueued the task.
pub(crate) async fn run(
    db: DatabaseConnection,
    schedules: Arc<[Schedule]>,
    notifier: Notifier,
    workers: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let next_after = |schedule: &Schedule, time: DateTime<Utc>| schedule.cron.after(&time).next();
    let mut next: Vec<Option<DateTime<Utc>>> = schedules.iter().map(|s| next_after(s, Utc::now())).collect();
    // Wall-clock time is read again at least this often, so that a clock
    // set forward or back is followed.
    const LONGEST_SLEEP: Duration = Duration::from_secs(60);
    let mut failed = false;
    while !*stop.borrow() {
        let Some(soonest) = next.iter().flatten().min().copied() else { break };
        let until = (soonest - Utc::now()).to_std().unwrap_or_default().min(LONGEST_SLEEP);
        // After a failure, the database gets a second before the next try.
        let wait = if failed { until.max(Duration::from_secs(1)) } else { until };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => continue,
        }
        failed = false;
        let now = Utc::now();
        for (schedule, next) in schedules.iter().zip(next.iter_mut()) {
            let Some(slot) = (*next).filter(|slot| *slot <= now) else { continue };
            match take_slot(&db, &notifier, &schedule.name, slot.timestamp(), &schedule.task).await {
                Ok(took) => {
                    if took {
                        workers.notify_one();
                    }
                    *next = next_after(schedule, now.max(slot));
                }
                Err(err) => {
                    tracing::warn!(error = %err, schedule = %schedule.name, "tasks: cannot take a periodic task's slot");
                    failed = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_crontab_line_runs_at_second_zero_and_seconds_come_first_otherwise() {
        let at = |expression: &str| {
            let start = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:15:30Z").map(|t| t.to_utc());
            let start = start.unwrap_or_default();
            parse(expression).map(|schedule| schedule.after(&start).next().map(|t| t.to_rfc3339()))
        };
        assert_eq!(at("*/5 * * * *"), Ok(Some("2026-12-07T10:20:00+00:00".to_owned())));
        assert_eq!(at("*/10 * * * * *"), Ok(Some("2026-12-07T10:15:40+00:00".to_owned())));
        assert_eq!(at("0 0 3 * * * 2027"), Ok(Some("2027-01-01T03:00:00+00:00".to_owned())));
        assert!(at("* * *").is_err_and(|why| why.contains("3 fields")));
        assert!(at("61 * * * *").is_err());
    }
}
