//! Successes recorded in batches: the attempts that end while a batch is
//! written wait together and are written by the next statement, so a
//! burst of short tasks costs a statement (and a commit) per batch, not per
//! task. An attempt is told whether its success was recorded (fencing:
//! one whose lease was lost changes nothing) only once it is.

use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
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
    /// Starts writing on `db`.
    pub(crate) fn start(db: DatabaseConnection) -> Completer {
        let (send, mut received) = mpsc::channel::<Success>(BATCH * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while received.recv_many(&mut batch, BATCH).await > 0 {
                let successes: Vec<Success> = std::mem::take(&mut batch);
                let attempts: Vec<(Uuid, i32, Value)> =
                    successes.iter().map(|success| (success.id, success.attempt, success.result.clone())).collect();
                match queue::succeed_many(&db, &attempts).await {
                    Ok(recorded) => {
                        for success in successes {
                            let _ = success.recorded.send(Ok(recorded.contains(&success.id)));
                        }
                    }
                    Err(err) => {
                        let why = err.to_string();
                        for success in successes {
                            let _ = success.recorded.send(Err(why.clone()));
                        }
                    }
                }
            }
        });
        Completer(send)
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
