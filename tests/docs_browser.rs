//! `GET /docs` in a real browser: headless Chromium renders the page, which
//! lists the resource routes, and everything the page asked for came from
//! the app itself (no CDN, no online validator). A screenshot is kept in
//! `target/tmp/docs.png`.
//!
//! Without Chromium the test says so and passes, unless
//! `FASTSAAS_TEST_BROWSER=required` (as `.ci/run` sets it, after installing
//! Debian's `chromium`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fastsaas::Settings;
use fastsaas::prelude::*;
use fastsaas::serde_json::Value;
use fastsaas::testing::TestClient;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/gadgets")]
struct Gadget {
    name: String,
}

/// The browsers tried, in order; `FASTSAAS_TEST_CHROMIUM` names another.
const BROWSERS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

fn browser() -> Option<PathBuf> {
    let named = std::env::var_os("FASTSAAS_TEST_CHROMIUM").map(PathBuf::from);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = BROWSERS
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file());
    named.filter(|candidate| candidate.is_file()).or(on_path)
}

/// Runs the browser headless on `url` with `extra` flags, its profile and
/// output in `dir`; what it printed on stdout (through a file: a pipe
/// would fill up with a large page while we wait).
fn run_browser(browser: &Path, dir: &Path, url: &str, extra: &[String]) -> String {
    let printed = dir.join("stdout");
    let out = std::fs::File::create(&printed).unwrap_or_else(|err| panic!("{}: {err}", printed.display()));
    let mut command = Command::new(browser);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--no-first-run",
            "--disable-features=AutofillServerCommunication,OptimizationHints,Translate,MediaRouter",
            // Enough virtual time for the scripts to fetch and render the document.
            "--virtual-time-budget=15000",
            "--window-size=1280,2400",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::from(out))
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap_or_else(|err| panic!("{} did not start: {err}", browser.display()));
    let started = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("the browser did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(&printed).unwrap_or_else(|err| panic!("the browser's output: {err}"))
}

/// The URLs of the requests that the page itself made (its initiator is
/// the page's origin), from Chromium's network log. The browser's own
/// requests (updates, sign-in) have no such initiator and are left out:
/// they are not the page's doing.
fn page_requests(net_log: &Path, origin: &str) -> Vec<String> {
    let text = std::fs::read_to_string(net_log).unwrap_or_else(|err| panic!("the network log: {err}"));
    let log: Value = fastsaas::serde_json::from_str(&text).unwrap_or_else(|err| panic!("the network log: {err}"));
    let start = &log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
    let events = log["events"].as_array().cloned().unwrap_or_default();
    events
        .iter()
        .filter(|event| &event["type"] == start && event["params"]["initiator"] == origin)
        .filter_map(|event| event["params"]["url"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docs_page_renders_every_route_from_the_app_alone() {
    let Some(browser) = browser() else {
        let required = std::env::var("FASTSAAS_TEST_BROWSER").is_ok_and(|value| value == "required");
        assert!(!required, "FASTSAAS_TEST_BROWSER=required, and no Chromium found ({BROWSERS:?} on PATH)");
        eprintln!("SKIPPED: no Chromium on PATH ({BROWSERS:?}); install Debian's `chromium` to run this test");
        return;
    };
    let client = TestClient::start(App::new(Settings::default()).resource::<Gadget>()).await;
    let address = client.listen().await;
    let origin = format!("http://{address}");
    let dir = std::env::temp_dir().join(format!("fastsaas-docs-{}", fastsaas::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    let net_log = dir.join("netlog.json");

    // `/docs` redirects to `/docs/`, whose assets are relative to it.
    let url = format!("{origin}/docs");
    let extra = vec!["--dump-dom".to_owned(), format!("--log-net-log={}", net_log.display())];
    let (run_browser_on, dir_for_dom) = (browser.clone(), dir.clone());
    let dom = tokio::task::spawn_blocking(move || run_browser(&run_browser_on, &dir_for_dom, &url, &extra))
        .await
        .unwrap_or_else(|err| panic!("the browser's thread: {err}"));

    for path in ["/gadgets", "/gadgets/{id}", "/login", "/users", "/acl", "/tasks/{id}"] {
        assert!(dom.contains(&format!("data-path=\"{path}\"")), "the rendered page does not list {path}");
    }
    assert!(dom.contains("Gadget"), "the rendered page shows no Gadget schema");

    let requests = page_requests(&net_log, &origin);
    for expected in ["/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js", "/openapi.json"] {
        assert!(
            requests.iter().any(|url| url == &format!("{origin}{expected}")),
            "{expected} not loaded: {requests:?}"
        );
    }
    let elsewhere: Vec<&String> = requests.iter().filter(|url| !url.starts_with(&format!("{origin}/"))).collect();
    assert!(elsewhere.is_empty(), "the page asked other hosts: {elsewhere:?}");

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs.png");
    let extra = vec![format!("--screenshot={}", screenshot.display())];
    let url = format!("{origin}/docs/");
    let profile = dir.clone();
    tokio::task::spawn_blocking(move || run_browser(&browser, &profile, &url, &extra))
        .await
        .unwrap_or_else(|err| panic!("the browser's thread: {err}"));
    let png = std::fs::read(&screenshot).unwrap_or_else(|err| panic!("the screenshot: {err}"));
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    eprintln!("screenshot of /docs: {}", screenshot.display());
    let _ = std::fs::remove_dir_all(&dir);
}
