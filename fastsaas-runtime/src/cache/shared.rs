//! The second level of the rows cache: Redis, shared by every replica
//! (when `REDIS_URL` is set).
//!
//! It is exact the same way as the first level, with generations kept in
//! Redis: one for everything, one per type, one per row. A reader takes
//! them with its lookup, before it reads the database, and keeps what it
//! read only if none has moved since (one script, so nothing comes
//! between the check and the write). An invalidation moves the
//! generation, deletes the row and publishes itself on the bus in one
//! script, so the second level and every replica's first level learn of
//! it at the same moment. Until a process's own invalidations are
//! published, it does not read the second level (it forgot its first
//! level at once, but the second may still hold what it changed).
//!
//! Keys: `<prefix>:row:<type>:<id>` holds `<all> <type> <row> <columns>`,
//! the three generations the row was read under and its columns
//! ([`super::row`]); `<prefix>:gen`, `<prefix>:gen:<type>` and
//! `<prefix>:gen:<type>:<id>` hold the generations. Generations live a day
//! past their last move, longer than any row; a store is refused once its
//! generations are [`STORE_WITHIN`] old, so a generation that expired and
//! started again cannot be mistaken for the one a reader saw.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use uuid::Uuid;

use super::Forget;

/// How long a lookup or a store may take before it counts as a miss: a
/// slow Redis must not slow reads down more than this.
const ANSWER_WITHIN: Duration = Duration::from_millis(250);

/// After Redis could not be reached, how long lookups miss without trying.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long after its lookup a reader may still keep what it read.
pub(crate) const STORE_WITHIN: Duration = Duration::from_secs(60);

/// How long a generation lives past its last move, in seconds.
const GENERATION_SECS: u64 = 24 * 60 * 60;

/// A row's text larger than this is not shared (it would crowd out many
/// smaller ones for one read).
const LARGEST_SHARED: usize = 512 * 1024;

/// Keeps `ARGV[4]` at `KEYS[1]` for `ARGV[5]` ms if the generations at
/// `KEYS[2..4]` are still `ARGV[1..3]` (absent counts as 0).
const STORE: &str = r"
for i = 2, 4 do
  if (redis.call('GET', KEYS[i]) or '0') ~= ARGV[i - 1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
return 1
";

/// Moves the generation at `KEYS[1]` (if given) for `ARGV[3]` s, deletes
/// the row at `KEYS[2]` (if given), and publishes `ARGV[2]` on channel
/// `ARGV[1]`.
const FORGET: &str = r"
if KEYS[1] then
  redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
if KEYS[2] then redis.call('DEL', KEYS[2]) end
return redis.call('PUBLISH', ARGV[1], ARGV[2])
";

/// The generations a row was looked up under, to store it under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Generations {
    read: [String; 3],
    at: Instant,
}

/// What the second level said of a row.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Its columns ([`super::row`]); if this version cannot read them,
    /// read the row and keep it under the generations.
    Hit(String, Generations),
    /// Not there: read it, then [`SharedRows::keep`] it under these.
    Miss(Generations),
    /// Redis cannot be asked now: read the database and keep nothing.
    Off,
}

/// The shared second level of the rows cache.
pub(crate) struct SharedRows {
    client: redis::Client,
    prefix: String,
    /// The connection; a task that finds another making it misses at once.
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// When Redis was last found unreachable or slow.
    down_since: std::sync::Mutex<Option<Instant>>,
    /// Invalidations this process handed to the bus, and how many of those
    /// are published (in any order: a count, not a position).
    handed: AtomicU64,
    published: AtomicU64,
    /// Handed invalidations the bus could not even queue: the next
    /// publication of everything stands for them.
    dropped: AtomicU64,
    /// Counts the times the second level was found possibly older than a
    /// change this process heard of without its second-level part (an
    /// invalidation Redis refused, one from a process that does not share
    /// rows, the bus lost for a while) ...
    distrusts: AtomicU64,
    /// ... and how many of those times this process has moved the
    /// generation of everything since, which makes every row kept before
    /// a miss. Lookups wait until it has caught up.
    trusted_after: AtomicU64,
    /// When this process last tried to move it.
    last_trust_attempt: std::sync::Mutex<Option<Instant>>,
    store: redis::Script,
    forget: redis::Script,
}

impl std::fmt::Debug for SharedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRows").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Whether `err` says the connection failed (try again on another), not
/// that Redis refused the command (it would refuse it again).
pub(crate) fn connection_failed(err: &redis::RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() || err.is_timeout()
}

impl SharedRows {
    /// The second level on `client`'s Redis, under keys that start with
    /// `prefix`; distrusted until this process listens to the bus.
    pub(crate) fn new(client: redis::Client, prefix: &str) -> SharedRows {
        SharedRows {
            client,
            prefix: prefix.to_owned(),
            connection: tokio::sync::Mutex::new(None),
            down_since: std::sync::Mutex::new(None),
            handed: AtomicU64::new(0),
            published: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            distrusts: AtomicU64::new(1),
            trusted_after: AtomicU64::new(0),
            last_trust_attempt: std::sync::Mutex::new(None),
            store: redis::Script::new(STORE),
            forget: redis::Script::new(FORGET),
        }
    }

    fn row_key(&self, type_name: &str, id: Uuid) -> String {
        format!("{}:row:{type_name}:{id}", self.prefix)
    }

    fn everything_key(&self) -> String {
        format!("{}:gen", self.prefix)
    }

    fn generation_keys(&self, type_name: &str, id: Uuid) -> [String; 3] {
        let prefix = &self.prefix;
        [self.everything_key(), format!("{prefix}:gen:{type_name}"), format!("{prefix}:gen:{type_name}:{id}")]
    }

    fn is_down(&self) -> bool {
        let down_since = self.down_since.lock().map(|since| *since).unwrap_or(None);
        down_since.is_some_and(|since| since.elapsed() < RETRY_AFTER)
    }

    /// A connection, made if there is none; `None` while Redis is
    /// unreachable or slow, or while another task makes the connection.
    async fn connection(&self) -> Option<MultiplexedConnection> {
        if self.is_down() {
            return None;
        }
        let mut connection = self.connection.try_lock().ok()?;
        if let Some(made) = connection.as_ref() {
            return Some(made.clone());
        }
        if self.is_down() {
            return None;
        }
        match tokio::time::timeout(ANSWER_WITHIN, self.client.get_multiplexed_async_connection()).await {
            Ok(Ok(made)) => {
                self.set_down(false);
                Some(connection.insert(made).clone())
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "the shared cache cannot reach Redis; reading the database meanwhile");
                self.set_down(true);
                None
            }
            Err(_) => {
                tracing::warn!("the shared cache had no answer from Redis; reading the database meanwhile");
                self.set_down(true);
                None
            }
        }
    }

    fn set_down(&self, down: bool) {
        if let Ok(mut since) = self.down_since.lock() {
            *since = down.then(Instant::now);
        }
    }

    /// After a command failed or went unanswered: a lost connection is
    /// made again; either way Redis is not asked for a while.
    async fn failed(&self, err: Option<&redis::RedisError>) {
        match err {
            Some(err) => {
                tracing::warn!(error = %err, "the shared cache's command failed; reading the database meanwhile")
            }
            None => tracing::warn!("the shared cache had no answer in time; reading the database meanwhile"),
        }
        if err.is_none_or(connection_failed)
            && let Ok(mut connection) = self.connection.try_lock()
        {
            *connection = None;
        }
        self.set_down(true);
    }

    /// Whether every invalidation this process handed to the bus is
    /// published, so that the second level no longer holds what it
    /// changed.
    fn caught_up(&self) -> bool {
        self.published.load(Ordering::Acquire) >= self.handed.load(Ordering::Acquire)
    }

    /// The second level may hold what a change made stale (see
    /// [`SharedRows::distrusts`]): no lookup until this process has moved
    /// the generation of everything.
    pub(crate) fn distrust(&self) {
        self.distrusts.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether lookups may trust the second level: after each distrust,
    /// once this process has moved the generation of everything (tried at
    /// most once a second).
    async fn trusted(&self, connection: &mut MultiplexedConnection) -> bool {
        let wanted = self.distrusts.load(Ordering::Acquire);
        if self.trusted_after.load(Ordering::Acquire) >= wanted {
            return true;
        }
        let due = match self.last_trust_attempt.lock() {
            Ok(mut last) if last.is_none_or(|at| at.elapsed() >= RETRY_AFTER) => {
                *last = Some(Instant::now());
                true
            }
            _ => false,
        };
        if !due {
            return false;
        }
        let mut incr = redis::cmd("INCR");
        incr.arg(self.everything_key());
        match tokio::time::timeout(ANSWER_WITHIN, incr.query_async::<i64>(connection)).await {
            Ok(Ok(_)) => {
                self.trusted_after.fetch_max(wanted, Ordering::AcqRel);
                self.trusted_after.load(Ordering::Acquire) >= self.distrusts.load(Ordering::Acquire)
            }
            Ok(Err(err)) => {
                self.failed(Some(&err)).await;
                false
            }
            Err(_) => {
                self.failed(None).await;
                false
            }
        }
    }

    /// Row `id` of `type_name` as the second level holds it, if still
    /// valid.
    pub(crate) async fn lookup(&self, type_name: &str, id: Uuid) -> Lookup {
        if !self.caught_up() {
            return Lookup::Off;
        }
        let Some(mut connection) = self.connection().await else {
            return Lookup::Off;
        };
        if !self.trusted(&mut connection).await {
            return Lookup::Off;
        }
        let at = Instant::now();
        let [all, of_type, of_row] = self.generation_keys(type_name, id);
        let keys = [self.row_key(type_name, id), all, of_type, of_row];
        let mut mget = redis::cmd("MGET");
        mget.arg(&keys);
        let asked = mget.query_async::<[Option<String>; 4]>(&mut connection);
        let [row, all, of_type, of_row] = match tokio::time::timeout(ANSWER_WITHIN, asked).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(err)) => {
                self.failed(Some(&err)).await;
                return Lookup::Off;
            }
            Err(_) => {
                self.failed(None).await;
                return Lookup::Off;
            }
        };
        let read = [all, of_type, of_row].map(|generation| generation.unwrap_or_else(|| "0".to_owned()));
        let generations = Generations { read, at };
        match row.as_deref().and_then(|row| kept_under(row, &generations.read)) {
            Some(columns) => Lookup::Hit(columns.to_owned(), generations),
            None => Lookup::Miss(generations),
        }
    }

    /// Keeps `columns`, row `id` of `type_name` read after a lookup that
    /// gave `generations`, for `ttl`, unless one of them has moved since.
    pub(crate) async fn keep(&self, type_name: &str, id: Uuid, generations: Generations, ttl: Duration, columns: &str) {
        if generations.at.elapsed() >= STORE_WITHIN || columns.len() > LARGEST_SHARED {
            return;
        }
        let Some(mut connection) = self.connection().await else {
            return;
        };
        let [all, of_type, of_row] = &generations.read;
        let text = format!("{all} {of_type} {of_row} {columns}");
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.store.key(self.row_key(type_name, id));
        invocation.key(&self.generation_keys(type_name, id)).arg(&generations.read).arg(text).arg(ttl_ms);
        match tokio::time::timeout(ANSWER_WITHIN, invocation.invoke_async::<i64>(&mut connection)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => self.failed(Some(&err)).await,
            Err(_) => self.failed(None).await,
        }
    }

    /// Counts an invalidation about to be handed to the bus: before this
    /// process forgets it, so that no reader here trusts the second level
    /// between the two.
    pub(crate) fn handed(&self) {
        self.handed.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a handed invalidation the bus could not queue.
    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts `count` handed invalidations as published, and, when `all`
    /// (a publication of everything standing for the dropped ones), every
    /// one dropped so far.
    pub(crate) fn published(&self, count: u64, all: bool) {
        let dropped = if all { self.dropped.swap(0, Ordering::AcqRel) } else { 0 };
        self.published.fetch_add(count.saturating_add(dropped), Ordering::AcqRel);
    }

    /// The script that applies `forget` to the second level and publishes
    /// `payload` on `channel` with it.
    pub(crate) fn forget_and_publish(
        &self,
        forget: &Forget,
        channel: &str,
        payload: &str,
    ) -> redis::ScriptInvocation<'_> {
        let prefix = &self.prefix;
        // The generation first, then the row: the script reads them by place.
        let keys = match forget {
            Forget::Everything => vec![format!("{prefix}:gen")],
            Forget::Objects(type_name) => vec![format!("{prefix}:gen:{type_name}")],
            Forget::Object(type_name, id) => {
                let [_, _, of_row] = self.generation_keys(type_name, *id);
                vec![of_row, self.row_key(type_name, *id)]
            }
            Forget::Caller(_) | Forget::Callers | Forget::Entries(..) => Vec::new(),
        };
        let mut invocation = self.forget.prepare_invoke();
        invocation.key(keys).arg(channel).arg(payload).arg(GENERATION_SECS);
        invocation
    }
}

/// The columns of a kept `row` if it was read under `generations`.
fn kept_under<'r>(row: &'r str, generations: &[String; 3]) -> Option<&'r str> {
    let mut parts = row.splitn(4, ' ');
    let matches = generations.iter().all(|generation| parts.next() == Some(generation.as_str()));
    matches.then(|| parts.next()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The second level on the tests' Redis under a prefix of its own, and
    /// a connection to run invalidations on; `None` (said) without Redis,
    /// unless CI asked for it (`FASTSAAS_TEST_REDIS_URL`).
    async fn shared() -> Option<(SharedRows, MultiplexedConnection)> {
        let url = std::env::var("FASTSAAS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let required = std::env::var("FASTSAAS_TEST_REDIS_URL").is_ok();
        let client = redis::Client::open(url.as_str()).ok()?;
        match client.get_multiplexed_async_connection().await {
            Ok(connection) => Some((SharedRows::new(client, &format!("test-{}", Uuid::new_v4())), connection)),
            Err(err) if required => panic!("no Redis at {url}: {err}"),
            Err(_) => {
                eprintln!("skipped: no Redis at {url}");
                None
            }
        }
    }

    async fn invalidate(shared: &SharedRows, connection: &mut MultiplexedConnection, forget: Forget) {
        let script = shared.forget_and_publish(&forget, "fastsaas_test_channel", "");
        script.invoke_async::<i64>(connection).await.unwrap_or_else(|err| panic!("the invalidation ran: {err}"));
    }

    async fn miss(shared: &SharedRows, id: Uuid) -> Generations {
        match shared.lookup("Gadget", id).await {
            Lookup::Miss(generations) => generations,
            other => panic!("a miss was expected: {other:?}"),
        }
    }

    async fn hit(shared: &SharedRows, id: Uuid) -> String {
        match shared.lookup("Gadget", id).await {
            Lookup::Hit(columns, _) => columns,
            other => panic!("a hit was expected: {other:?}"),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_row_kept_is_shared_until_an_invalidation_names_it() {
        let Some((shared, mut connection)) = shared().await else { return };
        for (which, also_gone) in [("Object", false), ("Objects", true), ("Everything", true)] {
            let (id, other) = (Uuid::new_v4(), Uuid::new_v4());
            let forget = match which {
                "Object" => Forget::Object("Gadget".into(), id),
                "Objects" => Forget::Objects("Gadget".into()),
                _ => Forget::Everything,
            };
            for row in [id, other] {
                let generations = miss(&shared, row).await;
                shared.keep("Gadget", row, generations, HOUR, "{\"columns\":1}").await;
                assert_eq!(hit(&shared, row).await, "{\"columns\":1}");
            }
            invalidate(&shared, &mut connection, forget.clone()).await;
            miss(&shared, id).await;
            let other_kept = matches!(shared.lookup("Gadget", other).await, Lookup::Hit(..));
            assert_eq!(other_kept, !also_gone, "{forget:?} on another row");
        }
        // What other caches forget leaves the rows alone.
        let id = Uuid::new_v4();
        let generations = miss(&shared, id).await;
        shared.keep("Gadget", id, generations, HOUR, "kept").await;
        invalidate(&shared, &mut connection, Forget::Callers).await;
        invalidate(&shared, &mut connection, Forget::Object("Other".into(), id)).await;
        assert_eq!(hit(&shared, id).await, "kept");
    }

    #[tokio::test]
    async fn a_reader_that_looked_up_before_an_invalidation_cannot_keep_its_row() {
        let Some((shared, mut connection)) = shared().await else { return };
        let id = Uuid::new_v4();
        for forget in [Forget::Object("Gadget".into(), id), Forget::Objects("Gadget".into()), Forget::Everything] {
            // The reader looks up, reads the row as it was, the writer
            // commits and invalidates, then the reader keeps what it read.
            let generations = miss(&shared, id).await;
            invalidate(&shared, &mut connection, forget.clone()).await;
            shared.keep("Gadget", id, generations, HOUR, "stale").await;
            miss(&shared, id).await;
        }
    }

    #[tokio::test]
    async fn a_process_reads_no_shared_row_until_its_own_invalidations_are_published() {
        let Some((shared, _)) = shared().await else { return };
        let id = Uuid::new_v4();
        let generations = miss(&shared, id).await;
        shared.keep("Gadget", id, generations, HOUR, "before").await;
        shared.handed();
        shared.handed();
        shared.handed();
        shared.dropped();
        assert!(matches!(shared.lookup("Gadget", id).await, Lookup::Off));
        shared.published(1, false);
        assert!(matches!(shared.lookup("Gadget", id).await, Lookup::Off), "two are still on their way");
        // A publication of everything stands for the dropped one.
        shared.published(1, true);
        assert_eq!(hit(&shared, id).await, "before");
    }

    #[tokio::test]
    async fn a_distrusted_second_level_is_trusted_again_once_this_process_moved_everything() {
        let Some((shared, _)) = shared().await else { return };
        let id = Uuid::new_v4();
        let generations = miss(&shared, id).await;
        shared.keep("Gadget", id, generations, HOUR, "kept").await;
        assert_eq!(hit(&shared, id).await, "kept");
        shared.distrust();
        // Tried at most once a second: the last try was at the first lookup.
        assert!(matches!(shared.lookup("Gadget", id).await, Lookup::Off));
        tokio::time::sleep(RETRY_AFTER).await;
        miss(&shared, id).await;
    }

    #[test]
    fn a_row_counts_only_under_the_generations_it_was_read_under() {
        let now = ["3".to_owned(), "0".to_owned(), "7".to_owned()];
        assert_eq!(kept_under("3 0 7 {\"id\":1}", &now), Some("{\"id\":1}"));
        assert_eq!(kept_under("3 0 6 {\"id\":1}", &now), None);
        assert_eq!(kept_under("2 0 7 {\"id\":1}", &now), None);
        assert_eq!(kept_under("3 0 7", &now), None);
        assert_eq!(kept_under("", &now), None);
    }
}
