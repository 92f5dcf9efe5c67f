//! Successes recorded in batches: the attempts that end while a batch is
//! written wait together and are written by the next statement, so a
//! burst of short tasks costs a statement (and a commit) per batch, not per
//! task. An attempt is told whether its success was recorded (fencing:
//! one whose lease was lost changes nothing) only once it is. A batch the
//! database refuses is written again one success at a time, so that one
//! bad result holds up no other.

use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::queue;

/// Successes written by one statement, at most.
const BATCH: usize = 100;

/// One success waiting to be written, and where to say how it went.
#[derive(Debug)]
struct Success {
    id: Uuid,
    attempt: i32,
    result: Value,
    recorded: oneshot::Sender<Result<bool, String>>,
}

/// Writes successes in batches until every handle is dropped.
#[derive(Clone, Debug)]
pub(crate) struct Completer(mpsc::Sender<Success>);

impl Completer {
    /// Starts writing on `db`; the handle of the writer ends once every
    /// [`Completer`] is dropped and what they sent is written.
    pub(crate) fn start(db: DatabaseConnection) -> (Completer, JoinHandle<()>) {
        let (send, mut received) = mpsc::channel::<Success>(BATCH * 4);
        let writer = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while received.recv_many(&mut batch, BATCH).await > 0 {
                let successes = std::mem::take(&mut batch);
                match write(&db, &successes).await {
                    Ok(recorded) => answer(successes, |success| Ok(recorded.contains(&(success.id, success.attempt)))),
                    Err(_) if successes.len() > 1 => {
                        for success in successes {
                            let written = write(&db, std::slice::from_ref(&success)).await;
                            let recorded = written.map(|recorded| !recorded.is_empty()).map_err(|err| err.to_string());
                            let _ = success.recorded.send(recorded);
                        }
                    }
                    Err(err) => answer(successes, |_| Err(err.to_string())),
                }
            }
        });
        (Completer(send), writer)
    }

    /// Records the success of attempt `attempt` of task `id` with `result`
    /// in the next batch: `true` once written, `false` if that attempt no
    /// longer held the task.
    pub(crate) async fn succeed(&self, id: Uuid, attempt: i32, result: Value) -> Result<bool, DbErr> {
        let (recorded, answer) = oneshot::channel();
        let success = Success { id, attempt, result, recorded };
        let gone = || DbErr::Custom("the completer stopped".to_owned());
        self.0.send(success).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?.map_err(DbErr::Custom)
    }
}

async fn write(db: &DatabaseConnection, successes: &[Success]) -> Result<Vec<(Uuid, i32)>, DbErr> {
    let attempts: Vec<(Uuid, i32, Value)> =
        successes.iter().map(|success| (success.id, success.attempt, success.result.clone())).collect();
    queue::succeed_many(db, &attempts).await
}

fn answer(successes: Vec<Success>, outcome: impl Fn(&Success) -> Result<bool, String>) {
    for success in successes {
        let told = outcome(&success);
        let _ = success.recorded.send(told);
    }
}
