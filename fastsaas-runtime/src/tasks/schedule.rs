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
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
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
/// hour day-of-month month day-of-week`, weekdays 0–7 from Sunday, so at
/// most once a minute), or six or seven fields as the `cron` crate reads
/// them (seconds first, a year last, weekdays 1–7 from Sunday). Names
/// (`MON`, `JAN`) read the same in both. A crontab line that restricts both
/// the day of the month and the day of the week is refused (a crontab runs
/// on either, the `cron` crate only on both), and so is an expression that
/// never comes due.
pub(crate) fn parse(expression: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let full = match fields[..] {
        [minute, hour, day, month, weekday] => {
            if day != "*" && weekday != "*" {
                return Err("a crontab runs when either the day of the month or the day of the week matches: \
                            restrict one of them and give `*` for the other, or use two schedules"
                    .to_owned());
            }
            format!("0 {minute} {hour} {day} {month} {}", crontab_weekdays(weekday))
        }
        [_, _, _, _, _, _] | [_, _, _, _, _, _, _] => expression.to_owned(),
        _ => {
            let count = fields.len();
            return Err(format!("{count} fields; a schedule has 5 (as in a crontab), or 6 or 7 with seconds first"));
        }
    };
    let schedule = full.parse::<cron::Schedule>().map_err(|err| err.to_string())?;
    if schedule.upcoming(Utc).next().is_none() {
        return Err("it never comes due".to_owned());
    }
    Ok(schedule)
}

/// A crontab's day-of-week field with its numbers (0–7, Sunday twice)
/// written as names, which the `cron` crate reads as a crontab means them
/// (it numbers Sunday 1); steps (`*/2`) stay numbers.
fn crontab_weekdays(field: &str) -> String {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let mut written = String::new();
    let mut number = String::new();
    let mut step = false;
    let flush = |written: &mut String, number: &mut String, step: bool| {
        let name = number.parse::<usize>().ok().and_then(|n| NAMES.get(n)).filter(|_| !step);
        written.push_str(name.copied().unwrap_or(number));
        number.clear();
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            number.push(c);
        } else {
            flush(&mut written, &mut number, step);
            step = c == '/';
            written.push(c);
        }
    }
    flush(&mut written, &mut number, step);
    written
}

/// The database's clock, in whole seconds since the epoch, as SQL.
fn database_epoch(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "CAST(extract(epoch FROM statement_timestamp()) AS BIGINT)",
        _ => "CAST(strftime('%s', 'now') AS INTEGER)",
    }
}

/// How far past the database's clock a process may take a slot: a process
/// whose clock runs further ahead takes nothing, rather than moving the
/// schedule into the future for every process.
const SLOT_LEAD_SECS: i64 = 10;

/// Takes slot `slot` (seconds since the epoch) of schedule `name` and
/// enqueues `task` with it, in one transaction; `false` if another process
/// took this slot, or a later one, first, or if the slot is more than
/// [`SLOT_LEAD_SECS`] ahead of the database's clock.
pub(crate) async fn take_slot(
    db: &DatabaseConnection,
    notifier: &Notifier,
    name: &str,
    slot: i64,
    task: &NewTask,
) -> Result<bool, DbErr> {
    let tx = begin_write(db).await?;
    let backend = tx.get_database_backend();
    // `WHERE` before `ON CONFLICT` also keeps SQLite from reading the
    // conflict clause as a join's.
    let sql = format!(
        "INSERT INTO fastsaas_schedules (name, last_slot, updated_at) SELECT $1, $2, $3 \
         WHERE $2 <= {epoch} + {SLOT_LEAD_SECS} \
         ON CONFLICT (name) DO UPDATE SET last_slot = excluded.last_slot, updated_at = excluded.updated_at \
         WHERE fastsaas_schedules.last_slot < excluded.last_slot",
        epoch = database_epoch(backend),
    );
    let values = [name.into(), slot.into(), Utc::now().into()];
    let moved = tx.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    if moved.rows_affected() != 1 {
        return Ok(false);
    }
    // A duplicate (the last slot's run still holds the unique key) wakes no one.
    let new = matches!(queue::enqueue(&tx, task, None).await?, queue::Enqueued::New(_));
    if new {
        notifier.wake_in(&tx, Wake::Tasks).await?;
    }
    tx.commit().await?;
    if new {
        notifier.committed(Wake::Tasks);
    }
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
            // A clock set back: the next slot is the one after the new time.
            let fresh = next_after(schedule, now);
            if fresh.is_some() && fresh < *next {
                *next = fresh;
            }
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

    #[test]
    fn crontab_weekdays_count_from_sunday_zero_and_a_day_that_never_comes_is_refused() {
        // 2026-12-07 is a Monday.
        let next = |expression: &str| {
            let start = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:15:30Z").map(|t| t.to_utc());
            parse(expression).map(|schedule| {
                let days: Vec<String> =
                    schedule.after(&start.unwrap_or_default()).take(3).map(|t| t.format("%a %d").to_string()).collect();
                days.join(", ")
            })
        };
        assert_eq!(next("0 9 * * 1").as_deref(), Ok("Mon 14, Mon 21, Mon 28"));
        assert_eq!(next("0 9 * * 1-5").as_deref(), Ok("Tue 08, Wed 09, Thu 10"));
        assert_eq!(next("0 9 * * 0").as_deref(), Ok("Sun 13, Sun 20, Sun 27"));
        assert_eq!(next("0 9 * * 7").as_deref(), Ok("Sun 13, Sun 20, Sun 27"));
        assert_eq!(next("0 9 * * 1-5/2").as_deref(), Ok("Wed 09, Fri 11, Mon 14"));
        assert_eq!(next("0 9 * * */2").as_deref(), Ok("Tue 08, Thu 10, Sat 12"));
        assert_eq!(next("0 9 * * sat,sun").as_deref(), Ok("Sat 12, Sun 13, Sat 19"));
        assert!(next("0 9 1 * 1").is_err_and(|why| why.contains("either the day of the month")));
        assert!(next("0 0 30 2 *").is_err_and(|why| why.contains("never comes due")));
    }
}
