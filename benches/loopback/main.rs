//! The generated `/items` routes against the hand-written baseline
//! (`../support/baseline.rs`), each served by its own process over
//! loopback and driven by wrk like real traffic: 2 threads, 32 connections,
//! the same pool on every side (4 connections on SQLite, 8 on PostgreSQL),
//! 10,000 rows owned by the caller. All servers run at once and take turns
//! in changing orders, so that noise hits all alike; for each operation the
//! report gives req/s, p50, p99, the server's CPU time per request and the
//! ratios to the last side.
//!
//! Run: `cargo bench --bench loopback` (needs `wrk`: `apt-get install wrk`).
//! `FASTSAAS_BENCH_SECONDS` (default 10) is the length of one turn,
//! `FASTSAAS_BENCH_ROUNDS` (default 2) the turns per side,
//! `FASTSAAS_BENCH_SIDES` (default `generated,hand-written`) the sides, the
//! reference of the ratios last: `generated` (default settings), `cached`
//! (`#[crud(cache)]`), `caches-off` (`FASTSAAS_CACHE_CAPACITY=0`),
//! `hand-written`;
//! `FASTSAAS_BENCH_DATABASES` (default `sqlite,postgres`) the databases and
//! `FASTSAAS_BENCH_PG_URL` (default `postgres://postgres@127.0.0.1:5432`)
//! the PostgreSQL server, where each side gets a database of its own.
#![allow(clippy::expect_used, reason = "a benchmark driver stops at its first failure")]

#[path = "../support/mod.rs"]
mod support;

mod http1;
mod wrk;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fastsaas::prelude::*;
use fastsaas::sea_orm::{ConnectionTrait, Database};
use support::Side;
use wrk::{Operation, Outcome};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--serve") {
        let side = Side::named(&args[at + 1]).expect("a side");
        let pool = args[at + 3].parse().expect("a pool size");
        serve(side, &args[at + 2], pool);
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is expected.
    let seconds = env_number("FASTSAAS_BENCH_SECONDS", 10);
    let rounds = env_number("FASTSAAS_BENCH_ROUNDS", 2);
    let databases = std::env::var("FASTSAAS_BENCH_DATABASES").unwrap_or_else(|_| "sqlite,postgres".into());
    let sides = std::env::var("FASTSAAS_BENCH_SIDES").unwrap_or_else(|_| "generated,hand-written".into());
    let sides: Vec<Side> = sides
        .split(',')
        .map(|name| Side::named(name.trim()).unwrap_or_else(|| panic!("FASTSAAS_BENCH_SIDES: no side `{name}`")))
        .collect();
    assert!(sides.len() >= 2, "FASTSAAS_BENCH_SIDES: name two sides or more, the reference last");
    wrk::check_installed();
    println!(
        "wrk -t2 -c32, {seconds} s per turn, {rounds} turns per side, both servers up at once; \
         {} rows owned by the caller\n",
        support::SEED_ROWS
    );
    for database in databases.split(',') {
        match database.trim() {
            "sqlite" => compare(Backend::Sqlite, &sides, seconds, rounds),
            "postgres" => compare(Backend::Postgres, &sides, seconds, rounds),
            other => panic!("FASTSAAS_BENCH_DATABASES: `{other}` is neither sqlite nor postgres"),
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|value| value.parse().unwrap_or_else(|_| panic!("{name}: not a number")))
        .unwrap_or(default)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn pool(self) -> u32 {
        match self {
            Backend::Sqlite => 4,
            Backend::Postgres => 8,
        }
    }
}

/// A database made for one side, dropped with it.
struct Scratch {
    url: String,
    cleanup: Box<dyn FnOnce()>,
}

fn scratch(backend: Backend, side: Side) -> Scratch {
    let label = side.name().replace('-', "_");
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("fastsaas-loopback-{label}-{}.db", std::process::id()));
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let cleanup = Box::new(move || {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            });
            Scratch { url, cleanup }
        }
        Backend::Postgres => {
            let server =
                std::env::var("FASTSAAS_BENCH_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            let name = format!("fastsaas_loopback_{label}_{}", std::process::id());
            let admin = format!("{server}/postgres");
            on_postgres(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            on_postgres(&admin, &format!("CREATE DATABASE {name}"));
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            Scratch { url: format!("{server}/{name}"), cleanup: Box::new(move || on_postgres(&admin, &drop)) }
        }
    }
}

fn on_postgres(url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let db = Database::connect(url).await.expect("PostgreSQL");
        db.execute_unprepared(sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
        db.close().await.expect("close");
    });
}

/// A side's server process, seeded and listening.
struct Server {
    side: Side,
    child: Child,
    port: u16,
    token: String,
    ids: Vec<Uuid>,
    scratch: Option<Scratch>,
}

impl Server {
    fn start(side: Side, backend: Backend) -> Server {
        let scratch = scratch(backend, side);
        let mut child = Command::new(std::env::current_exe().expect("this program"))
            .args(["--serve", side.name(), &scratch.url, &backend.pool().to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("a server process");
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("the server's first line");
        let mut words = line.split_whitespace();
        let (Some(port), Some(token), Some(ids)) = (words.next(), words.next(), words.next()) else {
            panic!("{}: the server said {line:?}", side.name());
        };
        let ids_text = std::fs::read_to_string(ids).expect("the seeded ids");
        let _ = std::fs::remove_file(ids);
        let server = Server {
            side,
            child,
            port: port.parse().expect("a port"),
            token: token.to_owned(),
            ids: ids_text.lines().map(|id| id.parse().expect("an id")).collect(),
            scratch: Some(scratch),
        };
        server.wait_listening();
        server
    }

    fn wait_listening(&self) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "{} did not start listening", self.side.name());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// User plus system CPU time the process has used.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).expect("/proc/<pid>/stat");
        let fields: Vec<&str> = stat.rsplit_once(')').expect("stat").1.split_whitespace().collect();
        // Fields 14 and 15 of proc(5), in clock ticks; the list starts at field 3.
        let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(scratch) = self.scratch.take() {
            (scratch.cleanup)();
        }
    }
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let output = Command::new("getconf").arg("CLK_TCK").output().expect("getconf");
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("CLK_TCK")
    })
}

/// The child: sets `side` up on `database_url`, seeds it, prints
/// `<port> <token> <file of seeded ids>` and serves until killed.
fn serve(side: Side, database_url: &str, pool: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut settings = support::settings(database_url, pool);
        let prepared = support::prepare(side, &settings).await;
        let ids_file = std::env::temp_dir().join(format!("fastsaas-loopback-ids-{}", Uuid::new_v4()));
        let ids: Vec<String> = prepared.ids.iter().map(Uuid::to_string).collect();
        std::fs::write(&ids_file, ids.join("\n")).expect("ids file");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let port = listener.local_addr().expect("address").port();
        println!("{port} {} {}", prepared.token, ids_file.display());
        match side {
            // As a user serves an app: `App::serve`, on the tables the set-up made.
            Side::Generated | Side::Cached | Side::CachesOff => {
                drop(prepared.router);
                drop(listener);
                settings.bind = format!("127.0.0.1:{port}");
                side.app(settings).serve().await.expect("serve");
            }
            Side::HandWritten => axum::serve(listener, prepared.router).await.expect("serve"),
        }
    });
}

/// The sides on `backend` (the last is the reference of the ratios): the
/// bodies compared, then every operation in turns.
fn compare(backend: Backend, sides: &[Side], seconds: u64, rounds: u64) {
    let servers: Vec<Server> = sides.iter().map(|side| Server::start(*side, backend)).collect();
    let reference = servers.len() - 1;
    println!("== {backend:?}, pool of {} on every side", backend.pool());
    for operation in Operation::ALL {
        let shapes: Vec<_> = servers
            .iter()
            .map(|server| {
                let (status, body) = http1::exchange(server.port, &operation.sample(&server.ids, &server.token));
                assert_eq!(status, operation.expected(), "{}: {}", server.side.name(), String::from_utf8_lossy(&body));
                support::shape(&serde_json::from_slice(&body).expect("a JSON body"))
            })
            .collect();
        assert!(
            shapes.iter().all(|shape| shape == &shapes[0]),
            "{}: the sides answer with bodies of other shapes",
            operation.label()
        );
    }
    println!(
        "{:<26} {:<13} {:>9} {:>9} {:>9} {:>11} {:>7}",
        "operation", "server", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "errors"
    );
    let mut get_rate = vec![0.0; servers.len()];
    for operation in Operation::ALL {
        let scripts: Vec<_> = servers.iter().map(|server| wrk::script(operation, &server.ids, &server.token)).collect();
        // Warm every side (pools, caches, the allocator) before measuring.
        for (server, script) in servers.iter().zip(&scripts) {
            wrk::run(server.port, script, 2);
        }
        let mut outcomes: Vec<Outcome> = servers.iter().map(|_| Outcome::default()).collect();
        for round in 0..rounds {
            // Each round in another order, so that noise hits every side alike.
            let mut order: Vec<usize> = (0..servers.len()).collect();
            order.rotate_left(usize::try_from(round).unwrap_or_default() % servers.len());
            if round % 2 == 1 {
                order.reverse();
            }
            for side in order {
                let before = servers[side].cpu_time();
                let mut outcome = wrk::run(servers[side].port, &scripts[side], seconds);
                outcome.cpu = servers[side].cpu_time() - before;
                outcomes[side].add(&outcome);
            }
        }
        for (server, outcome) in servers.iter().zip(&outcomes) {
            println!(
                "{:<26} {:<13} {:>9.0} {:>9.2} {:>9.2} {:>11.0} {:>7}",
                operation.label(),
                server.side.name(),
                outcome.rate(),
                outcome.p50_ms(),
                outcome.p99_ms(),
                outcome.cpu_per_request().as_secs_f64() * 1e6,
                outcome.errors
            );
        }
        let theirs = &outcomes[reference];
        for (index, ours) in outcomes.iter().enumerate().take(reference) {
            print!(
                "{:<26} {:<13} req/s {:.3}, p99 {:.3}, CPU per request {:.3}",
                "",
                format!("{} ÷ {}", servers[index].side.name(), servers[reference].side.name()),
                ours.rate() / theirs.rate(),
                ours.p99_ms() / theirs.p99_ms(),
                ours.cpu_per_request().as_secs_f64() / theirs.cpu_per_request().as_secs_f64()
            );
            match operation {
                Operation::GetById => get_rate[index] = ours.rate(),
                Operation::List => print!("; list ÷ GET {:.3}", ours.rate() / get_rate[index]),
                _ => {}
            }
            println!();
        }
        match operation {
            Operation::GetById => get_rate[reference] = theirs.rate(),
            Operation::List => println!(
                "{:<26} {:<13} list ÷ GET {:.3}",
                "",
                servers[reference].side.name(),
                theirs.rate() / get_rate[reference]
            ),
            _ => {}
        }
        println!();
    }
}
