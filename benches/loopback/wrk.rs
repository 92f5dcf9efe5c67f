//! The operations as wrk scripts, and wrk's report read back.

use std::process::Command;
use std::time::Duration;

use fastsaas::prelude::Uuid;
use http::StatusCode;

/// One kind of request of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    GetById,
    List,
    Patch,
    Post,
}

impl Operation {
    pub(crate) const ALL: [Operation; 4] = [Operation::GetById, Operation::List, Operation::Patch, Operation::Post];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Operation::GetById => "GET /items/{id}",
            Operation::List => "GET /items (20, with total)",
            Operation::Patch => "PATCH /items/{id}",
            Operation::Post => "POST /items",
        }
    }

    pub(crate) fn expected(self) -> StatusCode {
        if self == Operation::Post { StatusCode::CREATED } else { StatusCode::OK }
    }

    /// One request of the kind, as HTTP/1.1 text, for the comparison of bodies.
    pub(crate) fn sample(self, ids: &[Uuid], token: &str) -> String {
        let (method, path, body) = match self {
            Operation::GetById => ("GET", format!("/items/{}", ids[0]), String::new()),
            Operation::List => ("GET", "/items?page_size=20".to_owned(), String::new()),
            Operation::Patch => ("PATCH", format!("/items/{}", ids[0]), r#"{"name":"patched"}"#.to_owned()),
            Operation::Post => ("POST", "/items".to_owned(), POST_BODY.to_owned()),
        };
        format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}

const POST_BODY: &str = r#"{"name":"posted","config":{"n":1,"tags":["a","b"]},"secret":"s"}"#;

/// The wrk script of `operation`: GETs and PATCHes pick one of `ids` at random.
pub(crate) fn script(operation: Operation, ids: &[Uuid], token: &str) -> tempfile_path::Script {
    let ids: Vec<String> = ids.iter().map(|id| format!("\"{id}\"")).collect();
    let request = match operation {
        Operation::GetById => r#"return wrk.format("GET", "/items/" .. ids[math.random(#ids)])"#.to_owned(),
        Operation::List => r#"return wrk.format("GET", "/items?page_size=20")"#.to_owned(),
        Operation::Patch => r#"n = n + 1
  return wrk.format("PATCH", "/items/" .. ids[math.random(#ids)], nil, '{"name":"patched ' .. n .. '"}')"#
            .to_owned(),
        Operation::Post => format!("return wrk.format(\"POST\", \"/items\", nil, '{POST_BODY}')"),
    };
    let text = format!(
        "local ids = {{{}}}\nlocal n = 0\n\
         wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         init = function(args) math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16)) end\n\
         request = function()\n  {request}\nend\n",
        ids.join(",")
    );
    tempfile_path::Script::new(&text)
}

/// Where a script lives while it is used.
pub(crate) mod tempfile_path {
    /// A wrk script in a file of its own, removed when dropped.
    pub(crate) struct Script(pub(crate) std::path::PathBuf);

    impl Script {
        pub(crate) fn new(text: &str) -> Script {
            let path = std::env::temp_dir().join(format!("fastsaas-wrk-{}.lua", fastsaas::prelude::Uuid::new_v4()));
            std::fs::write(&path, text).expect("the wrk script");
            Script(path)
        }
    }

    impl Drop for Script {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// What one or more wrk runs measured.
#[derive(Default)]
pub(crate) struct Outcome {
    requests: u64,
    elapsed: Duration,
    /// Latency percentiles, weighted by each run's requests.
    p50_weighted: f64,
    p99_weighted: f64,
    /// Answers outside 2xx/3xx, and socket errors (timeouts included).
    pub(crate) errors: u64,
    /// Server CPU time during the run.
    pub(crate) cpu: Duration,
}

impl Outcome {
    pub(crate) fn add(&mut self, other: &Outcome) {
        self.requests += other.requests;
        self.elapsed += other.elapsed;
        self.p50_weighted += other.p50_weighted;
        self.p99_weighted += other.p99_weighted;
        self.errors += other.errors;
        self.cpu += other.cpu;
    }

    pub(crate) fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn p50_ms(&self) -> f64 {
        self.p50_weighted / self.requests as f64
    }

    pub(crate) fn p99_ms(&self) -> f64 {
        self.p99_weighted / self.requests as f64
    }

    pub(crate) fn cpu_per_request(&self) -> Duration {
        self.cpu.div_f64(self.requests.max(1) as f64)
    }
}

pub(crate) fn check_installed() {
    let found = Command::new("wrk").arg("--version").output().is_ok();
    assert!(found, "this benchmark drives its servers with wrk: `apt-get install wrk` (Debian's package)");
}

/// Runs wrk for `seconds` against `port` with `script`.
pub(crate) fn run(port: u16, script: &tempfile_path::Script, seconds: u64) -> Outcome {
    let output = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency", "--timeout", "10s", "-s"])
        .arg(&script.0)
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .expect("wrk");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {report}{}", String::from_utf8_lossy(&output.stderr));
    parse(&report).unwrap_or_else(|| panic!("an unexpected wrk report:\n{report}"))
}

/// Reads requests, time, p50, p99 and errors from wrk's `--latency` report.
fn parse(report: &str) -> Option<Outcome> {
    let mut outcome = Outcome::default();
    let (mut p50, mut p99) = (None, None);
    for line in report.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => p50 = Some(milliseconds(value)?),
            ["99%", value] => p99 = Some(milliseconds(value)?),
            [requests, "requests", "in", elapsed, ..] => {
                outcome.requests = requests.parse().ok()?;
                outcome.elapsed = Duration::from_secs_f64(milliseconds(elapsed.trim_end_matches(','))? / 1e3);
            }
            ["Non-2xx", "or", "3xx", "responses:", count] => outcome.errors += count.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                outcome.errors +=
                    rest.iter().filter_map(|word| word.trim_end_matches(',').parse::<u64>().ok()).sum::<u64>();
            }
            _ => {}
        }
    }
    let requests = outcome.requests as f64;
    outcome.p50_weighted = p50? * requests;
    outcome.p99_weighted = p99? * requests;
    (outcome.requests > 0).then_some(outcome)
}

/// `1.23ms`, `850.00us`, `2.01s`, `10.00m` in milliseconds.
fn milliseconds(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1e3,
        "ms" => number,
        "s" => number * 1e3,
        "m" => number * 60e3,
        _ => return None,
    })
}
