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

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use super::entity;
use super::queue;
use super::{Handlers, Task, backoff};

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
            concurrency: settings.task_workers,
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
    stop: watch::Sender<bool>,
    running: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Default for Workers {
    fn default() -> Self {
        Workers { wake: Arc::new(Notify::new()), stop: watch::channel(false).0, running: Default::default() }
    }
}

impl Workers {
    /// Tells idle workers that a task may be due.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops claiming; running attempts get the grace period.
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Runs the workers until [`Workers::stop`] or the handle is dropped.
    /// `state` gives the app's state for each attempt, `None` once the app
    /// is gone (which stops the workers too).
    pub(crate) fn spawn<S, P>(&self, db: DatabaseConnection, handlers: Handlers<S>, state: P, config: WorkerConfig)
    where
        S: Send + Sync + 'static,
        P: Fn() -> Option<S> + Send + Sync + 'static,
    {
        if config.concurrency == 0 || handlers.kinds().is_empty() {
            return;
        }
        let pool = Pool { db, handlers, state, config, wake: Arc::clone(&self.wake), stop: self.stop.subscribe() };
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
}

/// An attempt being run: its task's id and attempt number.
type Running = HashMap<tokio::task::Id, (Uuid, i32)>;

impl<S, P> Pool<S, P>
where
    S: Send + Sync + 'static,
    P: Fn() -> Option<S> + Send + Sync + 'static,
{
    async fn run(mut self) {
        let kinds = self.handlers.kinds();
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let (shutdown, shutting_down) = watch::channel(false);
        let mut attempts = JoinSet::new();
        let mut running = Running::new();
        let poll = Duration::from_millis(self.config.poll_ms);
        while !*self.stop.borrow() {
            if let Err(err) = queue::rescue(&self.db).await {
                tracing::warn!(error = %err, "tasks: cannot give back expired leases");
            }
            let free = slots.available_permits();
            let claimed = match queue::claim(&self.db, &kinds, free, self.config.lease_ms).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = %err, "tasks: cannot claim");
                    Vec::new()
                }
            };
            let full_batch = free > 0 && claimed.len() == free;
            for row in claimed {
                let (Some(state), Ok(slot)) = ((self.state)(), Arc::clone(&slots).try_acquire_owned()) else {
                    // The app is gone: what was claimed goes back at once.
                    let _ = queue::release(&self.db, row.id, row.attempt).await;
                    continue;
                };
                let Some(handler) = self.handlers.get(&row.kind).cloned() else { continue };
                let (id, attempt) = (row.id, row.attempt);
                let run = Attempt { db: self.db.clone(), row, config: self.config, shutdown: shutting_down.clone() };
                let spawned = attempts.spawn(run.run(handler, state, slot));
                running.insert(spawned.id(), (id, attempt));
            }
            if full_batch {
                // More may be due: claim again once a slot is free.
                if slots.available_permits() > 0 {
                    continue;
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
                _ = self.stop.changed() => {}
                Some(done) = attempts.join_next_with_id() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(err) => err.id(),
                    };
                    running.remove(&id);
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
    row: entity::Model,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
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
        let mut handle = AbortOnDrop(tokio::spawn(handler(task)));
        let beat = Duration::from_millis((self.config.lease_ms / 3).max(1));
        let mut lease_held = true;
        let outcome = loop {
            tokio::select! {
                joined = &mut handle.0 => break joined,
                () = tokio::time::sleep(beat), if lease_held => {
                    match queue::heartbeat(&self.db, row.id, row.attempt, self.config.lease_ms).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(task = %row.id, attempt = row.attempt, "tasks: the lease was lost; the attempt is told to stop");
                            lease_held = false;
                            cancel.send_replace(true);
                        }
                        Err(err) => tracing::warn!(error = %err, task = %row.id, "tasks: cannot extend a lease"),
                    }
                }
                Ok(()) = self.shutdown.changed() => {
                    cancel.send_replace(true);
                }
            }
        };
        let written = match outcome {
            Ok(Ok(result)) => queue::succeed(&self.db, row.id, row.attempt, result).await,
            Ok(Err(failure)) => {
                let wait = backoff(self.config.retry_base_ms, u32::try_from(row.attempt).unwrap_or(1));
                queue::fail(&self.db, row.id, row.attempt, &failure.0, wait).await
            }
            Err(join) => {
                let why = if join.is_panic() { "the handler panicked" } else { "the attempt was stopped" };
                let wait = backoff(self.config.retry_base_ms, u32::try_from(row.attempt).unwrap_or(1));
                queue::fail(&self.db, row.id, row.attempt, why, wait).await
            }
        };
        match written {
            Ok(true) => {}
            // Fenced: the lease was lost, so this attempt's ending is not the task's.
            Ok(false) => {
                tracing::info!(task = %row.id, attempt = row.attempt, "tasks: a late attempt's ending was not recorded")
            }
            Err(err) => tracing::warn!(error = %err, task = %row.id, "tasks: cannot record how an attempt ended"),
        }
    }
}
