//! The workers of one process: claim due tasks while slots are free, run
//! each attempt with its lease extended, record how it ended.
//!
//! Workers wake when a task is enqueued in this process, when a slot frees
//! up, and every `task_poll_ms` otherwise (delays ending, retries coming
//! due, leases of dead workers expiring and tasks enqueued elsewhere). On
//! shutdown they stop claiming, tell running attempts to stop, wait for
//! them up to a grace period, and give back to the queue those still
//! running.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fastsaas_core::ResourceSpec;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use super::complete::Completer;
use super::entity;
use super::queue;
use super::schedule::{self, Schedule};
use super::{Handlers, Task, TaskStatus, backoff};
use crate::access;
use crate::db::begin_write;
use crate::error::internal;
use crate::notify::Notifier;
use crate::notify::changes::{owners_who_read, users_for};
use crate::notify::store::Draft;

/// The most attempts one process runs at once.
const MAX_WORKERS: usize = 1024;

/// How the workers of a process run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorkerConfig {
    pub(crate) concurrency: usize,
    pub(crate) lease_ms: u64,
    pub(crate) poll_ms: u64,
    pub(crate) retry_base_ms: u64,
    /// How long running attempts get to finish at shutdown.
    pub(crate) grace: Duration,
}

impl WorkerConfig {
    pub(crate) fn from_settings(settings: &fastsaas_core::Settings) -> WorkerConfig {
        WorkerConfig {
            concurrency: settings.task_workers.min(MAX_WORKERS),
            lease_ms: settings.task_lease_secs.clamp(1, 24 * 60 * 60) * 1000,
            poll_ms: settings.task_poll_ms.clamp(10, 60 * 60 * 1000),
            retry_base_ms: settings.task_retry_base_ms,
            grace: Duration::from_secs(10),
        }
    }
}

/// The handle of a process's workers: wakes them, and stops them when
/// dropped.
#[derive(Debug)]
pub(crate) struct Workers {
    wake: Arc<Notify>,
    stop: Arc<watch::Sender<bool>>,
    running: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Default for Workers {
    fn default() -> Self {
        Workers { wake: Arc::new(Notify::new()), stop: Arc::new(watch::channel(false).0), running: Default::default() }
    }
}

/// Stops the workers when dropped.
#[derive(Debug)]
pub(crate) struct StopOnDrop(Arc<watch::Sender<bool>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

impl Workers {
    /// Tells idle workers that a task may be due.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// What wakes the workers, for the bus that hears of tasks enqueued by
    /// other processes.
    pub(crate) fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Stops claiming; running attempts get the grace period.
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// What stops the workers once dropped: held by whatever owns the app
    /// (its router).
    pub(crate) fn stop_on_drop(&self) -> StopOnDrop {
        StopOnDrop(Arc::clone(&self.stop))
    }

    /// Runs the workers, and the `schedules` of periodic tasks, until
    /// [`Workers::stop`] or the handle is dropped. `state` gives the app's
    /// state for each attempt, `None` once the app is gone (which stops the
    /// workers too). `audience` tells whom a task concerns how it ended.
    pub(crate) fn spawn<S, P>(
        &self,
        db: DatabaseConnection,
        handlers: Handlers<S>,
        schedules: Arc<[Schedule]>,
        state: P,
        config: WorkerConfig,
        audience: Audience,
    ) where
        S: Send + Sync + 'static,
        P: Fn() -> Option<S> + Send + Sync + 'static,
    {
        if config.concurrency == 0 || handlers.kinds().is_empty() {
            return;
        }
        if !schedules.is_empty() {
            let (wake, stop) = (Arc::clone(&self.wake), self.stop.subscribe());
            tokio::spawn(schedule::run(db.clone(), schedules, audience.notifier.clone(), wake, stop));
        }
        let wake = Arc::clone(&self.wake);
        let pool = Pool { db, handlers, state, config, wake, stop: self.stop.subscribe(), audience };
        let handle = tokio::spawn(pool.run());
        *self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle);
    }

    /// Waits until the workers have stopped (after [`Workers::stop`]): the
    /// running attempts finished, or were given back at the grace's end.
    pub(crate) async fn finished(&self) {
        let handle = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(handle) = handle
            && let Err(err) = handle.await
        {
            tracing::warn!(error = %err, "tasks: the workers ended badly");
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Pool<S, P> {
    db: DatabaseConnection,
    handlers: Handlers<S>,
    state: P,
    config: WorkerConfig,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
    audience: Audience,
}

/// An attempt being run: its task's id and attempt number.
type Running = HashMap<tokio::task::Id, (Uuid, i32)>;

fn finished_id(done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match done {
        Ok((id, ())) => id,
        Err(err) => err.id(),
    }
}

impl<S, P> Pool<S, P>
where
    S: Send + Sync + 'static,
    P: Fn() -> Option<S> + Send + Sync + 'static,
{
    async fn run(mut self) {
        let kinds = self.handlers.kinds();
        let (completer, completing) = Completer::start(self.db.clone());
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let (shutdown, shutting_down) = watch::channel(false);
        let mut attempts = JoinSet::new();
        let mut running = Running::new();
        let poll = Duration::from_millis(self.config.poll_ms);
        // Expired leases are rare: looked for on a timer of their own, not
        // at every claim (each look is a write).
        let rescue_every = Duration::from_millis((self.config.lease_ms / 2).clamp(100, 30_000));
        let mut next_rescue = tokio::time::Instant::now();
        // A wake-up may come before the enqueuing transaction commits: one
        // that found nothing looks again shortly after.
        let mut look_again = false;
        while !*self.stop.borrow() {
            while let Some(done) = attempts.try_join_next_with_id() {
                running.remove(&finished_id(done));
            }
            if tokio::time::Instant::now() >= next_rescue {
                next_rescue = tokio::time::Instant::now() + rescue_every;
                if let Err(err) = queue::rescue(&self.db).await {
                    tracing::warn!(error = %err, "tasks: cannot give back expired leases");
                }
            }
            let free = slots.available_permits();
            let claimed = match queue::claim(&self.db, &kinds, free, self.config.lease_ms).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = %err, "tasks: cannot claim");
                    Vec::new()
                }
            };
            let found = !claimed.is_empty();
            let full_batch = free > 0 && claimed.len() >= free;
            for row in claimed {
                let (Some(state), Ok(slot)) = ((self.state)(), Arc::clone(&slots).try_acquire_owned()) else {
                    // Claimed but never run (the app is gone, or the claim
                    // gave more than asked): back at once, uncounted.
                    if let Err(err) = queue::release(&self.db, row.id, row.attempt).await {
                        tracing::warn!(error = %err, task = %row.id, "tasks: cannot give back a claimed task");
                    }
                    continue;
                };
                let Some(handler) = self.handlers.get(&row.kind).cloned() else { continue };
                let (id, attempt) = (row.id, row.attempt);
                let run = Attempt {
                    db: self.db.clone(),
                    completer: completer.clone(),
                    row,
                    config: self.config,
                    shutdown: shutting_down.clone(),
                    audience: self.audience.clone(),
                };
                let spawned = attempts.spawn(run.run(handler, state, slot));
                running.insert(spawned.id(), (id, attempt));
            }
            if full_batch && slots.available_permits() > 0 {
                // More may be due and a slot is free again.
                continue;
            }
            let wait = if look_again && !found { Duration::from_millis(50).min(poll) } else { poll };
            look_again = false;
            tokio::select! {
                () = self.wake.notified() => look_again = true,
                () = tokio::time::sleep(wait) => {}
                _ = self.stop.changed() => {}
                Some(done) = attempts.join_next_with_id() => {
                    running.remove(&finished_id(done));
                }
            }
        }
        let _ = shutdown.send(true);
        let deadline = tokio::time::Instant::now() + self.config.grace;
        while !attempts.is_empty() {
            match tokio::time::timeout_at(deadline, attempts.join_next_with_id()).await {
                Ok(Some(Ok((id, ())))) => {
                    running.remove(&id);
                }
                Ok(Some(Err(err))) => {
                    running.remove(&err.id());
                }
                Ok(None) => break,
                Err(_) => {
                    attempts.abort_all();
                    break;
                }
            }
        }
        // The aborted attempts are gone once joined; the successes they
        // handed over are written before anything is given back, so that
        // none lands on a later run of the same task.
        while attempts.join_next().await.is_some() {}
        drop(completer);
        if let Err(err) = completing.await {
            tracing::warn!(error = %err, "tasks: the completer ended badly");
        }
        for (id, attempt) in running.into_values() {
            if let Err(err) = queue::release(&self.db, id, attempt).await {
                tracing::warn!(error = %err, task = %id, "tasks: cannot give back a running task at shutdown");
            }
        }
    }
}

/// One attempt: the handler runs on a task of its own (so that a panic is
/// a failure, not a dead worker), its lease extended every third of it.
struct Attempt {
    db: DatabaseConnection,
    completer: Completer,
    row: entity::Model,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
    audience: Audience,
}

/// Aborts the handler's task if the attempt itself is dropped (aborted at
/// the end of the grace period).
struct AbortOnDrop(JoinHandle<super::TaskResult>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Attempt {
    async fn run<S: Send + Sync + 'static>(
        mut self,
        handler: super::BoxedHandler<S>,
        state: S,
        _slot: OwnedSemaphorePermit,
    ) {
        let row = &self.row;
        let (cancel, cancelled) = watch::channel(false);
        let task = Task {
            id: row.id,
            kind: row.kind.clone(),
            payload: row.payload.clone(),
            attempt: u32::try_from(row.attempt).unwrap_or_default(),
            max_attempts: u32::try_from(row.max_attempts).unwrap_or_default(),
            principal_id: row.principal_id,
            subject: row.subject_type.clone().zip(row.subject_id),
            state,
            cancelled,
        };
        // Called inside the spawned task, so that a handler that panics
        // before giving its future fails the attempt, not the worker.
        let mut handle = AbortOnDrop(tokio::spawn(async move { handler(task).await }));
        let beat = Duration::from_millis((self.config.lease_ms / 3).max(1));
        let lease = Duration::from_millis(self.config.lease_ms);
        let mut lease_held = true;
        // The lease as this worker knows it: if the database cannot be
        // reached to extend it, it runs out here too, and the attempt is
        // told to stop before another process may take the task over.
        let mut held_until = tokio::time::Instant::now() + lease;
        let outcome = loop {
            tokio::select! {
                joined = &mut handle.0 => break joined,
                () = tokio::time::sleep(beat), if lease_held => {
                    let asked = tokio::time::Instant::now();
                    match queue::heartbeat(&self.db, row.id, row.attempt, self.config.lease_ms).await {
                        Ok(true) => held_until = asked + lease,
                        Ok(false) => {
                            tracing::warn!(task = %row.id, attempt = row.attempt, "tasks: the lease was lost; the attempt is told to stop");
                            lease_held = false;
                            cancel.send_replace(true);
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, task = %row.id, "tasks: cannot extend a lease");
                            if tokio::time::Instant::now() + beat >= held_until {
                                lease_held = false;
                                cancel.send_replace(true);
                            }
                        }
                    }
                }
                Ok(()) = self.shutdown.changed() => {
                    cancel.send_replace(true);
                }
            }
        };
        let attempt_number = u32::try_from(row.attempt).unwrap_or(1);
        let ending = match outcome {
            Ok(Ok(result)) => match unstorable(&result) {
                None => Ending::Succeeded(result),
                Some(why) => Ending::Failed(why),
            },
            Ok(Err(failure)) => Ending::Failed(failure.0),
            Err(join) => {
                let why = if join.is_panic() { "the handler panicked" } else { "the attempt was stopped" };
                Ending::Failed(why.to_owned())
            }
        };
        let wait = backoff(self.config.retry_base_ms, attempt_number);
        // A write that fails for a moment (a pool busy with requests) is
        // tried again while the lease lasts: a success must not be lost to
        // a rescue that would run the task again.
        loop {
            let written = match &ending {
                Ending::Succeeded(result) => self.completer.succeed(row.id, row.attempt, result.clone()).await,
                Ending::Failed(why) => queue::fail(&self.db, row.id, row.attempt, why, wait).await,
            };
            match written {
                Ok(true) => {
                    let last = matches!(ending, Ending::Succeeded(_)) || row.attempt >= row.max_attempts;
                    if last {
                        self.tell_enqueuer(&ending).await;
                    }
                    return;
                }
                // Fenced: the lease was lost, so this attempt's ending is not the task's.
                Ok(false) => {
                    tracing::info!(task = %row.id, attempt = row.attempt, "tasks: a late attempt's ending was not recorded");
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, task = %row.id, "tasks: cannot record how an attempt ended");
                    if tokio::time::Instant::now() + beat >= held_until {
                        return;
                    }
                    tokio::time::sleep(beat.min(Duration::from_millis(500))).await;
                }
            }
        }
    }
}

impl Attempt {
    /// Notifies the user the task was enqueued for, and the owner of the
    /// object it is about (the admins of an owning organization), that it
    /// ended.
    async fn tell_enqueuer(&self, ending: &Ending) {
        if let Err(err) = self.audience.tell(&self.db, &self.row, ending).await {
            tracing::warn!(error = %err, task = %self.row.id, "tasks: the ending was not told");
        }
    }
}

/// Who hears how a task ended: the principal it was enqueued for, and the
/// owners of the object it is about who may read it.
#[derive(Clone, Debug)]
pub(crate) struct Audience {
    pub(crate) notifier: Notifier,
    /// The resource types, by name, to find an object's owners.
    pub(crate) specs: Arc<HashMap<String, &'static ResourceSpec>>,
}

impl Audience {
    async fn tell(&self, db: &DatabaseConnection, row: &entity::Model, ending: &Ending) -> Result<(), DbErr> {
        let (status, kind) = match ending {
            Ending::Succeeded(_) => (TaskStatus::Succeeded, "task.succeeded"),
            Ending::Failed(_) => (TaskStatus::Failed, "task.failed"),
        };
        let mut recipients = users_for(db, row.principal_id.into_iter()).await?;
        for owner in self.subject_readers(db, row).await {
            if !recipients.contains(&owner) {
                recipients.push(owner);
            }
        }
        if recipients.is_empty() {
            return Ok(());
        }
        let subject = match (&row.subject_type, row.subject_id) {
            (Some(type_name), Some(id)) => serde_json::json!({"type": type_name, "id": id}),
            _ => serde_json::Value::Null,
        };
        let draft = |recipient| Draft {
            recipient,
            kind: kind.to_owned(),
            message: format!("task `{}` {}", row.kind, status.as_str()),
            payload: serde_json::json!({"task_id": row.id, "kind": row.kind, "status": status, "subject": subject}),
        };
        let tx = begin_write(db).await?;
        let told = self.notifier.write_all(&tx, recipients.into_iter().map(draft)).await?;
        tx.commit().await?;
        told.committed(&self.notifier);
        Ok(())
    }

    /// The owners of the object the task is about who may read it, if its
    /// type is registered and it still exists; none (said in the log) if
    /// they cannot be read: the enqueuer is told all the same.
    async fn subject_readers(&self, db: &DatabaseConnection, row: &entity::Model) -> Vec<Uuid> {
        let (Some(type_name), Some(id)) = (&row.subject_type, row.subject_id) else { return Vec::new() };
        let Some(spec) = self.specs.get(type_name) else { return Vec::new() };
        let readers = async {
            let Some(owner) = access::owner_of(db, spec, id).await.map_err(internal)? else { return Ok(Vec::new()) };
            owners_who_read(db, spec, (id, owner)).await
        };
        readers.await.unwrap_or_else(|err: fastsaas_core::ApiError| {
            tracing::warn!(error = %err, task = %row.id, "tasks: the owners of the task's object were not found");
            Vec::new()
        })
    }
}

/// The largest result kept, as JSON.
const MAX_RESULT_BYTES: usize = 1024 * 1024;

/// Why `result` cannot be kept as a task's result, if it cannot: larger
/// than [`MAX_RESULT_BYTES`], or holding a NUL character, which PostgreSQL's
/// `jsonb` refuses. The attempt fails with it instead of writing it.
fn unstorable(result: &serde_json::Value) -> Option<String> {
    let json = serde_json::to_string(result).unwrap_or_default();
    if json.len() > MAX_RESULT_BYTES {
        return Some(format!("the result is {} bytes of JSON; at most {MAX_RESULT_BYTES} are kept", json.len()));
    }
    holds_nul(result).then(|| "the result holds a NUL character (\\u0000), which cannot be stored".to_owned())
}

fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(members) => members.iter().any(|(key, value)| key.contains('\0') || holds_nul(value)),
        _ => false,
    }
}

/// How an attempt ended.
enum Ending {
    Succeeded(serde_json::Value),
    Failed(String),
}
