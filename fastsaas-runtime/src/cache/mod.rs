//! In-process caches with exact invalidation: callers (session, roles,
//! memberships, type-wide entries), the ACL entries of a type naming a set
//! of principals, and the rows of `#[crud(cache)]` types.
//!
//! Nothing needs to be removed to invalidate it. Each entry carries the
//! *stamps* (generation numbers) of what it was read from, taken before
//! the read; a change bumps the stamps it touches once it has committed
//! ([`Forget`]), here at once and on the other replicas through the bus,
//! and an entry whose stamps moved is a miss. So a reader that loaded a row
//! before a change can store it after the change's invalidation, and
//! nobody will be served it: the generation per key of the design.
//! Stamps live in a fixed array of counters indexed by a hash of the key;
//! two keys that share a counter only invalidate each other needlessly.
//!
//! While the bus that carries other replicas' invalidations is down, the
//! caches are off (every lookup misses, nothing is stored); once it is up
//! again, everything read before is stale ([`Caches::resume`]).

use std::any::Any;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use uuid::Uuid;

use crate::telemetry::metrics::CacheLabels;

mod forget;
pub(crate) mod row;
mod shared;

pub(crate) use forget::{Forget, Invalidation};
pub(crate) use shared::{Lookup, SharedRows, connection_failed};

/// Counters of the stamps.
const STRIPES: usize = 8192;

/// The generation counters.
struct Generations {
    /// Bumped by [`Forget::Everything`] and when the bus comes back.
    everything: AtomicU64,
    stripes: Box<[AtomicU64]>,
    hasher: std::hash::RandomState,
}

impl Generations {
    fn new() -> Generations {
        Generations {
            everything: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    fn stripe(&self, key: impl Hash) -> &AtomicU64 {
        let index = usize::try_from(self.hasher.hash_one(key) % STRIPES as u64).unwrap_or_default();
        &self.stripes[index]
    }

    fn current(&self, key: impl Hash) -> u64 {
        self.stripe(key).load(Ordering::Acquire)
    }

    fn bump(&self, key: impl Hash) {
        self.stripe(key).fetch_add(1, Ordering::AcqRel);
    }
}

/// The stamps an entry was read under: the whole cache's, then one per key
/// it depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stamp(Vec<u64>);

/// A cached value, with the stamps it was read under and when it expires.
#[derive(Clone)]
struct Stamped {
    stamp: Stamp,
    expires: Instant,
    /// What it counts for against the cache's capacity.
    weight: u32,
    value: Arc<dyn Any + Send + Sync>,
}

/// The keys whose stamps an entry carries, besides the whole cache's.
#[derive(Hash)]
enum StampKey<'a> {
    /// One user's sessions, roles and memberships.
    Caller(Uuid),
    /// Every caller.
    Callers,
    /// The ACL entries of a type naming one principal.
    Entries(&'a str, Uuid),
    /// One object of a type.
    Object(&'a str, Uuid),
    /// Every object of a type.
    Objects(&'a str),
}

/// Which cache: its name in the metrics.
#[derive(Clone, Copy, Debug)]
enum Which {
    Callers,
    Entries,
    Models,
    SharedRows,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Callers => "callers",
            Which::Entries => "acl_entries",
            Which::Models => "models",
            Which::SharedRows => "shared_rows",
        }
    }
}

/// The caches of one app.
pub(crate) struct Caches {
    generations: Generations,
    /// Tells this process's invalidations from other processes' on the bus.
    id: Uuid,
    /// Callers by (user, session).
    callers: moka::sync::Cache<(Uuid, Uuid), Stamped>,
    /// Entries by (type, principal set, sorted).
    entries: moka::sync::Cache<(&'static str, Vec<Uuid>), Stamped>,
    /// Rows by (type, id).
    models: moka::sync::Cache<(&'static str, Uuid), Stamped>,
    /// Whether other replicas' invalidations reach this process.
    listening: AtomicBool,
    /// The second level of the rows cache, on Redis.
    shared: Option<Arc<SharedRows>>,
    lookups: Family<CacheLabels, Counter>,
    limits: CacheLimits,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("callers", &self.callers.entry_count())
            .field("entries", &self.entries.entry_count())
            .field("models", &self.models.entry_count())
            .field("listening", &self.listening.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// How big and how long-lived the caches are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CacheLimits {
    /// Entries per cache, at most.
    pub(crate) capacity: u64,
    /// How long a caller is kept, at most.
    pub(crate) callers_ttl: Duration,
    /// How long entries of ACL are kept, at most.
    pub(crate) entries_ttl: Duration,
    /// How long a row is kept, at most (each type says how long it keeps
    /// its rows, up to this).
    pub(crate) models_ttl: Duration,
}

impl CacheLimits {
    /// The limits the settings give.
    pub(crate) fn from_settings(settings: &fastsaas_core::Settings) -> CacheLimits {
        let ttl = Duration::from_secs(settings.cache_ttl_secs.clamp(1, 24 * 60 * 60));
        CacheLimits { capacity: settings.cache_capacity, callers_ttl: ttl, entries_ttl: ttl, models_ttl: MODELS_TTL }
    }
}

/// The longest a row is kept, whatever its type asks.
const MODELS_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A cache of at most `capacity` in weight, each entry kept `ttl` at most.
fn cache<K: Hash + Eq + Send + Sync + 'static>(capacity: u64, ttl: Duration) -> moka::sync::Cache<K, Stamped> {
    moka::sync::Cache::builder()
        .max_capacity(capacity)
        .weigher(|_, stamped: &Stamped| stamped.weight)
        .time_to_live(ttl.max(Duration::from_millis(1)))
        .build()
}

/// The ACL entries the entries cache holds at most, per unit of capacity:
/// its sets weigh what they hold, so memory follows the entries, not the
/// number of callers.
const ENTRIES_PER_CAPACITY: u64 = 10;

impl Caches {
    /// Empty caches; `listening` says whether invalidations from other
    /// processes already reach this one (a bus of one process: always);
    /// `shared`, the second level of the rows cache if there is one.
    pub(crate) fn new(
        limits: CacheLimits,
        listening: bool,
        shared: Option<SharedRows>,
        lookups: Family<CacheLabels, Counter>,
    ) -> Caches {
        Caches {
            id: Uuid::new_v4(),
            generations: Generations::new(),
            callers: cache(limits.capacity, limits.callers_ttl),
            entries: cache(limits.capacity.saturating_mul(ENTRIES_PER_CAPACITY), limits.entries_ttl),
            models: cache(limits.capacity, limits.models_ttl),
            listening: AtomicBool::new(listening),
            // Even with the caches off here: this process's invalidations
            // still clear what the other replicas share.
            shared: shared.map(Arc::new),
            lookups,
            limits,
        }
    }

    fn stamp<'k>(&self, keys: impl IntoIterator<Item = StampKey<'k>>) -> Stamp {
        let everything = self.generations.everything.load(Ordering::Acquire);
        Stamp(std::iter::once(everything).chain(keys.into_iter().map(|key| self.generations.current(key))).collect())
    }

    /// Whether lookups may hit and reads may be kept: the caches are on
    /// and hear every replica's invalidations.
    pub(crate) fn usable(&self) -> bool {
        self.limits.capacity > 0 && self.listening.load(Ordering::Acquire)
    }

    fn count(&self, which: Which, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.lookups.get_or_create(&CacheLabels { cache: which.name(), result }).inc();
    }

    /// The value under `key` if it is still valid under `stamp`.
    fn lookup<K: Hash + Eq + Send + Sync + 'static, V: Send + Sync + 'static>(
        &self,
        which: Which,
        cache: &moka::sync::Cache<K, Stamped>,
        key: &K,
        stamp: Stamp,
    ) -> Option<Arc<V>> {
        if self.limits.capacity == 0 {
            return None;
        }
        let found = self
            .usable()
            .then(|| cache.get(key))
            .flatten()
            .filter(|stamped| stamped.stamp == stamp && stamped.expires > Instant::now())
            .and_then(|stamped| stamped.value.downcast::<V>().ok());
        self.count(which, found.is_some());
        found
    }

    fn store<K: Hash + Eq + Send + Sync + 'static, V: Send + Sync + 'static>(
        &self,
        cache: &moka::sync::Cache<K, Stamped>,
        (key, ttl, weight): (K, Duration, u32),
        stamp: Stamp,
        value: Arc<V>,
    ) {
        if self.usable() {
            let expires = Instant::now() + ttl;
            cache.insert(key, Stamped { stamp, expires, weight, value });
        }
    }

    /// The stamp to read user `user`'s caller under (taken before reading).
    pub(crate) fn caller_stamp(&self, user: Uuid) -> Stamp {
        self.stamp([StampKey::Callers, StampKey::Caller(user)])
    }

    /// The caller of `(user, session)`, if cached and still valid.
    pub(crate) fn caller<V: Send + Sync + 'static>(&self, user: Uuid, session: Uuid) -> Option<Arc<V>> {
        self.lookup(Which::Callers, &self.callers, &(user, session), self.caller_stamp(user))
    }

    /// Keeps the caller of `(user, session)`, read under `stamp`.
    pub(crate) fn keep_caller<V: Send + Sync + 'static>(
        &self,
        user: Uuid,
        session: Uuid,
        stamp: Stamp,
        caller: Arc<V>,
    ) {
        self.store(&self.callers, ((user, session), self.limits.callers_ttl, 1), stamp, caller);
    }

    /// The stamp to read the entries of `type_name` naming the principals
    /// of `set` under: one change to an entry naming one of them makes it
    /// stale, and no other.
    pub(crate) fn entries_stamp(&self, type_name: &str, set: &[Uuid]) -> Stamp {
        self.stamp(set.iter().map(|principal| StampKey::Entries(type_name, *principal)))
    }

    /// The entries of `type_name` naming the principal set `set` (sorted).
    pub(crate) fn entries<V: Send + Sync + 'static>(&self, type_name: &'static str, set: &[Uuid]) -> Option<Arc<V>> {
        let key = (type_name, set.to_vec());
        self.lookup(Which::Entries, &self.entries, &key, self.entries_stamp(type_name, set))
    }

    /// Keeps the `count` entries of `type_name` naming the set `set`
    /// (sorted).
    pub(crate) fn keep_entries<V: Send + Sync + 'static>(
        &self,
        (type_name, set): (&'static str, Vec<Uuid>),
        stamp: Stamp,
        (entries, count): (Arc<V>, usize),
    ) {
        let weight = u32::try_from(count.saturating_add(1)).unwrap_or(u32::MAX);
        self.store(&self.entries, ((type_name, set), self.limits.entries_ttl, weight), stamp, entries);
    }

    /// The stamp to read object `id` of `type_name` under.
    pub(crate) fn model_stamp(&self, type_name: &str, id: Uuid) -> Stamp {
        self.stamp([StampKey::Objects(type_name), StampKey::Object(type_name, id)])
    }

    /// Object `id` of `type_name`, if cached and still valid.
    pub(crate) fn model<V: Send + Sync + 'static>(&self, type_name: &'static str, id: Uuid) -> Option<Arc<V>> {
        self.lookup(Which::Models, &self.models, &(type_name, id), self.model_stamp(type_name, id))
    }

    /// Keeps object `id` of `type_name`, read under `stamp`, for `ttl` at
    /// most.
    pub(crate) fn keep_model<V: Send + Sync + 'static>(
        &self,
        (type_name, id): (&'static str, Uuid),
        stamp: Stamp,
        ttl: Duration,
        model: Arc<V>,
    ) {
        self.store(&self.models, ((type_name, id), ttl.min(self.limits.models_ttl), 1), stamp, model);
    }

    /// Makes what `forget` names stale in this process.
    pub(crate) fn forget(&self, forget: &Forget) {
        let generations = &self.generations;
        match forget {
            Forget::Caller(user) => generations.bump(StampKey::Caller(*user)),
            Forget::Callers => generations.bump(StampKey::Callers),
            Forget::Entries(type_name, principal) => generations.bump(StampKey::Entries(type_name, *principal)),
            Forget::Object(type_name, id) => generations.bump(StampKey::Object(type_name, *id)),
            Forget::Objects(type_name) => generations.bump(StampKey::Objects(type_name)),
            Forget::Everything => self.forget_everything(),
        }
    }

    /// The second level of the rows cache, if there is one.
    pub(crate) fn shared(&self) -> Option<&Arc<SharedRows>> {
        self.shared.as_ref()
    }

    /// Row `id` of `type_name` from the second level: [`Lookup::Off`] when
    /// there is none or the caches are off.
    pub(crate) async fn shared_row(&self, type_name: &str, id: Uuid) -> Lookup {
        let Some(shared) = self.shared.as_ref().filter(|_| self.usable()) else {
            return Lookup::Off;
        };
        let found = shared.lookup(type_name, id).await;
        if !matches!(found, Lookup::Off) {
            self.count(Which::SharedRows, matches!(found, Lookup::Hit(..)));
        }
        found
    }

    /// What tells this process's invalidations apart on the bus.
    pub(crate) fn id(&self) -> Uuid {
        self.id
    }

    /// Makes what `invalidation`, heard on the bus, names stale, unless
    /// this process sent it (and so forgot it already).
    pub(crate) fn heard(&self, invalidation: &Invalidation) {
        if invalidation.sender == Some(self.id) {
            return;
        }
        self.forget(&invalidation.forget);
        if !invalidation.shared
            && invalidation.forget.touches_rows()
            && let Some(shared) = &self.shared
        {
            shared.distrust();
        }
    }

    fn forget_everything(&self) {
        self.generations.everything.fetch_add(1, Ordering::AcqRel);
        self.callers.invalidate_all();
        self.entries.invalidate_all();
        self.models.invalidate_all();
    }

    /// Other replicas' invalidations no longer reach this process: the
    /// caches are off until [`Caches::resume`].
    pub(crate) fn suspend(&self) {
        self.listening.store(false, Ordering::Release);
        self.forget_everything();
    }

    /// Invalidations reach this process again: what was read before may
    /// have been changed meanwhile, so all of it is forgotten.
    pub(crate) fn resume(&self) {
        self.forget_everything();
        // Changes made while this process did not listen may have missed
        // the second level too (their writers cut from Redis meanwhile).
        if let Some(shared) = &self.shared {
            shared.distrust();
        }
        self.listening.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caches(listening: bool) -> Caches {
        let limits = CacheLimits {
            capacity: 100,
            callers_ttl: Duration::from_secs(60),
            entries_ttl: Duration::from_secs(60),
            models_ttl: Duration::from_secs(60),
        };
        Caches::new(limits, listening, None, Family::default())
    }

    #[test]
    fn a_row_read_before_an_invalidation_is_never_served_after_it() {
        let caches = caches(true);
        let id = Uuid::new_v4();
        // A reader takes its stamp and reads the old row; a change commits
        // and is forgotten; then the reader keeps what it read.
        let stamp = caches.model_stamp("Gadget", id);
        caches.forget(&Forget::Object("Gadget".into(), id));
        caches.keep_model(("Gadget", id), stamp, Duration::from_secs(60), Arc::new("old"));
        assert!(caches.model::<&str>("Gadget", id).is_none(), "the stale row is not served");
        // A read after the change is kept and served.
        let stamp = caches.model_stamp("Gadget", id);
        caches.keep_model(("Gadget", id), stamp, Duration::from_secs(60), Arc::new("new"));
        assert_eq!(caches.model::<&str>("Gadget", id).as_deref(), Some(&"new"));
        // Other objects, and the whole type.
        let other = Uuid::new_v4();
        let stamp = caches.model_stamp("Gadget", other);
        caches.keep_model(("Gadget", other), stamp, Duration::from_secs(60), Arc::new("other"));
        caches.forget(&Forget::Objects("Gadget".into()));
        assert!(caches.model::<&str>("Gadget", id).is_none() && caches.model::<&str>("Gadget", other).is_none());
    }

    #[test]
    fn callers_are_forgotten_one_by_one_or_all_at_once() {
        let caches = caches(true);
        let (ann, bob, session) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        for user in [ann, bob] {
            caches.keep_caller(user, session, caches.caller_stamp(user), Arc::new(user));
        }
        caches.forget(&Forget::Caller(ann));
        assert!(caches.caller::<Uuid>(ann, session).is_none());
        assert_eq!(caches.caller::<Uuid>(bob, session).as_deref(), Some(&bob));
        caches.forget(&Forget::Callers);
        assert!(caches.caller::<Uuid>(bob, session).is_none());
    }

    #[test]
    fn while_the_bus_is_down_nothing_is_served_and_what_came_before_is_forgotten() {
        let caches = caches(false);
        let user = Uuid::new_v4();
        caches.keep_caller(user, user, caches.caller_stamp(user), Arc::new(1));
        assert!(caches.caller::<i32>(user, user).is_none(), "nothing kept before the bus listens");
        caches.resume();
        let stamp = caches.caller_stamp(user);
        caches.keep_caller(user, user, stamp.clone(), Arc::new(2));
        assert_eq!(caches.caller::<i32>(user, user).as_deref(), Some(&2));
        caches.suspend();
        assert!(caches.caller::<i32>(user, user).is_none());
        // Kept by a reader that read during the outage: stale once it ends.
        caches.resume();
        caches.keep_caller(user, user, stamp, Arc::new(3));
        assert!(caches.caller::<i32>(user, user).is_none());
    }

    #[test]
    fn an_entry_expires_at_its_own_time_to_live() {
        let caches = caches(true);
        let id = Uuid::new_v4();
        let stamp = caches.model_stamp("Gadget", id);
        caches.keep_model(("Gadget", id), stamp, Duration::ZERO, Arc::new(1));
        assert!(caches.model::<i32>("Gadget", id).is_none());
    }
}
