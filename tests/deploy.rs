//! The deployment files (`Dockerfile`, `compose.yaml` with its nginx
//! configuration, `deploy/k8s/`) against the app they deploy, `examples/agents`.
//! No container engine runs here, so they are parsed and checked: every
//! variable they set is one the app reads (docs/settings.md's table, which
//! tests/startup.rs holds to the code, or `RUST_LOG`) and the app's own
//! `Settings` loads each process's environment as intended (worker-only
//! where it should be); every port, probe and upstream agrees with the
//! `FASTSAAS_BIND` or `FASTSAAS_METRICS_BIND` it serves; probes ask `/healthz`
//! (liveness) and `/readyz` (readiness); secrets come from the Secret; grace
//! periods outlast the app's shutdown; the image builds the binary it runs, as
//! a user that is not root, with nothing else in it but CA certificates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use fastsaas::Settings;
use serde::Deserialize;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// Every document of a YAML file, as JSON values.
fn yaml(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap_or_else(|err| panic!("{path}: {err}")))
        .filter(|document| !document.is_null())
        .collect()
}

/// A YAML scalar as the string a process would see in its environment.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The variables the app reads: docs/settings.md's table, and `RUST_LOG`,
/// which the log subscriber reads.
fn app_variables() -> BTreeSet<String> {
    let mut variables: BTreeSet<String> = read("docs/settings.md")
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            cells.get(2)?.strip_prefix('`')?.strip_suffix('`').map(str::to_owned)
        })
        .collect();
    assert!(variables.contains("FASTSAAS_BIND"), "docs/settings.md's table was not found: {variables:?}");
    variables.insert("RUST_LOG".to_owned());
    variables
}

/// The variables whose values are secrets (those `Debug` of `Settings` hides).
const SECRET_VARIABLES: [&str; 4] =
    ["FASTSAAS_JWT_SECRET", "FASTSAAS_ADMIN_PASSWORD", "FASTSAAS_FIELD_KEYS", "DATABASE_URL"];

/// The port of a socket address such as `0.0.0.0:8000`.
fn port_of(address: &str) -> u16 {
    let port = address.rsplit_once(':').map(|(_, port)| port).unwrap_or_default();
    port.parse().unwrap_or_else(|_| panic!("`{address}` is not an address with a port"))
}

/// A number of seconds the runtime's source sets, found by the text before it
/// (`... from_secs(` ), so that the grace periods here follow the code.
fn source_secs(path: &str, before: &str) -> u64 {
    let source = read(path);
    let start = source.find(before).map(|at| at + before.len());
    let digits: String =
        start.map(|start| source[start..].chars().take_while(char::is_ascii_digit).collect()).unwrap_or_default();
    digits.parse().unwrap_or_else(|_| panic!("{path} no longer has `{before}<secs>`: update tests/deploy.rs"))
}

/// How long a replica may take to stop after SIGTERM: its open connections'
/// drain, then, if it runs tasks, their grace.
fn drain_secs() -> u64 {
    source_secs("fastsaas-runtime/src/server/mod.rs", "const DRAIN_FOR: Duration = Duration::from_secs(")
}

/// How long running tasks get to finish at shutdown before they go back to
/// the queue.
fn task_grace_secs() -> u64 {
    source_secs("fastsaas-runtime/src/tasks/worker.rs", "grace: Duration::from_secs(")
}

#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

#[derive(Debug)]
struct Stage {
    base: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.instructions.iter().filter(move |i| i.keyword == keyword).map(|i| i.args.as_str())
    }

    /// Its `ENV` variables (`ENV A=1 B=2` or `ENV A 1`).
    fn env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for args in self.all("ENV") {
            if args.split_whitespace().next().is_some_and(|first| first.contains('=')) {
                for pair in args.split_whitespace() {
                    let (name, value) = pair.split_once('=').unwrap_or_else(|| panic!("ENV `{args}`"));
                    env.insert(name.to_owned(), value.trim_matches('"').to_owned());
                }
            } else if let Some((name, value)) = args.split_once(char::is_whitespace) {
                env.insert(name.to_owned(), value.trim().trim_matches('"').to_owned());
            }
        }
        env
    }

    /// Its `COPY`s as (`--from` stage, sources, destination).
    fn copies(&self) -> Vec<(Option<String>, Vec<String>, String)> {
        self.all("COPY")
            .map(|args| {
                let mut from = None;
                let mut paths = Vec::new();
                for word in args.split_whitespace() {
                    match word.strip_prefix("--") {
                        Some(flag) => from = flag.strip_prefix("from=").map(str::to_owned).or(from),
                        None => paths.push(word.to_owned()),
                    }
                }
                let destination = paths.pop().unwrap_or_else(|| panic!("COPY `{args}` has no destination"));
                (from, paths, destination)
            })
            .collect()
    }

    /// Its working directory, which a stage built on another inherits.
    fn workdir(&self, stages: &[Stage]) -> String {
        match self.all("WORKDIR").last() {
            Some(workdir) => workdir.to_owned(),
            None => match stages.iter().find(|stage| stage.name.as_deref() == Some(self.base.as_str())) {
                Some(parent) => parent.workdir(stages),
                None => "/".to_owned(),
            },
        }
    }
}

/// The Dockerfile's stages, its continued lines joined and comments dropped.
fn dockerfile() -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(continued) => {
                current.push_str(continued);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical.iter().filter(|line| !line.trim().is_empty()) {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let keyword = keyword.to_uppercase();
        let args = args.trim().to_owned();
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().filter(|word| !word.starts_with("--")).collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                _ => None,
            };
            stages.push(Stage { base: words[0].to_owned(), name, instructions: Vec::new() });
        } else {
            let stage = stages.last_mut().unwrap_or_else(|| panic!("`{keyword}` before any FROM"));
            stage.instructions.push(Instruction { keyword, args });
        }
    }
    stages
}

/// The image every process of the app runs, under whatever tag.
const IMAGE: &str = "fastsaas-agents";

fn compose() -> Value {
    let mut documents = yaml("compose.yaml");
    assert_eq!(documents.len(), 1, "compose.yaml is one document");
    documents.remove(0)
}

/// The services that run the app's image.
fn app_services(compose: &Value) -> Vec<(String, &Value)> {
    let services = compose["services"].as_object().unwrap_or_else(|| panic!("compose.yaml has no services"));
    services
        .iter()
        .filter(|(_, service)| {
            service.get("build").is_some() || scalar(&service["image"]).split(':').next() == Some(IMAGE)
        })
        .map(|(name, service)| (name.clone(), service))
        .collect()
}

/// A compose service's `environment`, as a map or as `NAME=value` lines.
fn compose_env(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Object(map) => map.iter().map(|(name, value)| (name.clone(), scalar(value))).collect(),
        Value::Array(lines) => lines
            .iter()
            .map(|line| {
                let line = scalar(line);
                let (name, value) = line.split_once('=').unwrap_or((&line, ""));
                (name.to_owned(), value.to_owned())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// What compose would pass for `${NAME:-default}` (the default) and for
/// `${NAME:?message}` or `${NAME}` (a value the operator gives: a sample).
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end =
            rest[start..].find('}').map(|end| start + end).unwrap_or_else(|| panic!("unclosed `${{` in `{value}`"));
        let inner = &rest[start + 2..end];
        match inner.split_once(":-") {
            Some((_, default)) => out.push_str(default),
            None => out.push_str("an operator's value, 32 bytes long or longer"),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Seconds of a compose duration such as `40s` or `1m30s`.
fn duration_secs(text: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = number.parse().unwrap_or_else(|_| panic!("duration `{text}`"));
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                number.clear();
            }
            _ => panic!("duration `{text}`"),
        }
    }
    assert!(number.is_empty(), "duration `{text}` needs a unit");
    total
}

/// Every object of deploy/k8s/*.yaml, with the file it is in.
fn k8s() -> Vec<(String, Value)> {
    let dir = root().join("deploy/k8s");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap_or_else(|err| panic!("{err}")).file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .flat_map(|file| yaml(&format!("deploy/k8s/{file}")).into_iter().map(move |doc| (file.clone(), doc)))
        .collect()
}

fn of_kind<'a>(objects: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    objects.iter().map(|(_, object)| object).filter(|object| object["kind"] == kind).collect()
}

fn named<'a>(objects: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    of_kind(objects, kind)
        .into_iter()
        .find(|object| object["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} `{name}` in deploy/k8s"))
}

/// Whether every label a selector asks for is on these labels.
fn selects(selector: &Value, labels: &Value) -> bool {
    let wanted = selector.as_object().filter(|wanted| !wanted.is_empty());
    wanted.is_some_and(|wanted| wanted.iter().all(|(key, value)| &labels[key] == value))
}

/// A Secret's values, from `stringData` (the files here write no base64).
fn secret_values(secret: &Value) -> BTreeMap<String, String> {
    assert!(secret.get("data").is_none(), "write Secrets as stringData, which this test reads");
    let data = secret["stringData"].as_object().cloned().unwrap_or_default();
    data.iter().map(|(key, value)| (key.clone(), scalar(value))).collect()
}

/// Where a container's variable comes from.
#[derive(Debug, PartialEq)]
enum Source {
    Literal,
    ConfigMap,
    Secret,
}

/// A container's environment as the kubelet would give it (`env` over
/// `envFrom`), with where each value comes from.
fn container_env(objects: &[(String, Value)], container: &Value) -> BTreeMap<String, (String, Source)> {
    let mut env = BTreeMap::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        if let Some(name) = source["configMapRef"]["name"].as_str() {
            let data = named(objects, "ConfigMap", name)["data"].as_object().cloned().unwrap_or_default();
            env.extend(data.iter().map(|(key, value)| (key.clone(), (scalar(value), Source::ConfigMap))));
        }
        if let Some(name) = source["secretRef"]["name"].as_str() {
            let values = secret_values(named(objects, "Secret", name));
            env.extend(values.into_iter().map(|(key, value)| (key, (value, Source::Secret))));
        }
    }
    for variable in container["env"].as_array().into_iter().flatten() {
        let name = scalar(&variable["name"]);
        let entry = if let Some(value) = variable.get("value") {
            (scalar(value), Source::Literal)
        } else if let Some(reference) = variable["valueFrom"].get("secretKeyRef") {
            let values = secret_values(named(objects, "Secret", &scalar(&reference["name"])));
            let key = scalar(&reference["key"]);
            let value = values.get(&key).cloned();
            assert!(
                value.is_some() || reference["optional"] == true,
                "{name}: the Secret `{}` has no key `{key}`",
                reference["name"]
            );
            (value.unwrap_or_default(), Source::Secret)
        } else if let Some(reference) = variable["valueFrom"].get("configMapKeyRef") {
            let data = &named(objects, "ConfigMap", &scalar(&reference["name"]))["data"];
            (scalar(&data[scalar(&reference["key"])]), Source::ConfigMap)
        } else {
            panic!("{name}: a variable with neither a value nor a reference this test reads")
        };
        env.insert(name, entry);
    }
    env
}

/// A container port by number or by name.
fn resolve_port(container: &Value, port: &Value) -> u16 {
    if let Some(number) = port.as_u64() {
        return u16::try_from(number).unwrap_or_else(|_| panic!("port {number}"));
    }
    let ports = container["ports"].as_array().into_iter().flatten();
    ports
        .filter(|declared| declared["name"] == *port)
        .find_map(|declared| declared["containerPort"].as_u64())
        .and_then(|number| u16::try_from(number).ok())
        .unwrap_or_else(|| panic!("container `{}` declares no port named {port}", container["name"]))
}

/// The Deployments, each with its only container (the app's).
fn deployments(objects: &[(String, Value)]) -> Vec<(String, &Value, &Value)> {
    of_kind(objects, "Deployment")
        .into_iter()
        .map(|deployment| {
            let name = scalar(&deployment["metadata"]["name"]);
            let containers = deployment["spec"]["template"]["spec"]["containers"].as_array();
            let [container] = containers.map(Vec::as_slice).unwrap_or_default() else {
                panic!("Deployment `{name}`: one container, the app, expected");
            };
            assert_eq!(
                scalar(&container["image"]).split(':').next(),
                Some(IMAGE),
                "Deployment `{name}` runs the app's image"
            );
            (name, deployment, container)
        })
        .collect()
}

fn is_worker_only(env: &BTreeMap<String, (String, Source)>) -> bool {
    env.get("FASTSAAS_WORKER_ONLY").is_some_and(|(value, _)| value == "true")
}

/// Marks the child process that loads `Settings` from a deployment's
/// environment, and the line it prints them on.
const CHILD: &str = "DEPLOY_TEST_PRINT_SETTINGS";
const PRINTED: &str = "deploy-test settings: ";

/// Run by [`loaded_settings`] in a child process whose environment is a
/// deployment's: prints what the app's `Settings` make of it.
#[test]
#[ignore = "a helper: loaded_settings runs it in a child process"]
fn print_settings() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // No fastsaas.toml: the environment alone, as in a container.
    let settings = Settings::load_from(Path::new("/nonexistent/fastsaas.toml")).expect("the settings load");
    let mut printed = serde_json::to_value(&settings).expect("settings serialize");
    printed["unsafe_for_production"] = settings.unsafe_for_production().into();
    println!("{PRINTED}{printed}");
}

/// The app's `Settings` loaded from `env` alone, as a JSON object (with
/// `unsafe_for_production`).
fn loaded_settings(label: &str, env: &BTreeMap<String, String>) -> Value {
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("the test binary's path: {err}"));
    let mut command = Command::new(exe);
    command.args(["print_settings", "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("FASTSAAS_") || ["DATABASE_URL", "REDIS_URL", "RUST_LOG"].contains(&name.as_ref()) {
            command.env_remove(name.as_ref());
        }
    }
    let output = command
        .envs(env)
        .env(CHILD, "1")
        .output()
        .unwrap_or_else(|err| panic!("{label}: the test binary does not run: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{label}: the app's settings refuse this environment:\n{stdout}\n{stderr}");
    let line = stdout.lines().find_map(|line| line.split_once(PRINTED).map(|(_, json)| json));
    let line = line.unwrap_or_else(|| panic!("{label}: the child printed no settings:\n{stdout}\n{stderr}"));
    serde_json::from_str(line).unwrap_or_else(|err| panic!("{label}: {err}: {line}"))
}

/// The final image's environment under a process's own.
fn with_image_env(own: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let stages = dockerfile();
    let mut env = stages.last().map(Stage::env).unwrap_or_default();
    env.extend(own);
    env
}

/// A production process on PostgreSQL and Redis, worker-only or not.
fn assert_production(label: &str, settings: &Value, worker_only: bool) {
    assert_eq!(settings["env"], "production", "{label}");
    assert_eq!(settings["unsafe_for_production"], Value::Null, "{label}");
    assert!(scalar(&settings["database_url"]).starts_with("postgres://"), "{label}: {}", settings["database_url"]);
    // Replicas and workers hear of each other's tasks and notifications through Redis.
    assert!(scalar(&settings["redis_url"]).starts_with("redis://"), "{label}: {}", settings["redis_url"]);
    assert_eq!(settings["worker_only"], worker_only, "{label}: worker_only");
    if worker_only {
        assert!(settings["task_workers"].as_u64().is_some_and(|n| n > 0), "{label}: a worker with no task workers");
    }
}

#[test]
fn every_variable_set_is_one_the_app_reads() {
    let known = app_variables();
    let mut set: Vec<(String, String)> = Vec::new();
    // The final image's: the build stages' are the compiler's, not the app's.
    let stages = dockerfile();
    let image = stages.last().map(Stage::env).unwrap_or_default();
    set.extend(image.into_keys().map(|name| ("Dockerfile".to_owned(), name)));
    let compose = compose();
    for (service, definition) in app_services(&compose) {
        set.extend(compose_env(definition).into_keys().map(|name| (format!("compose.yaml `{service}`"), name)));
    }
    let objects = k8s();
    for (file, object) in &objects {
        let keys = match object["kind"].as_str() {
            Some("ConfigMap") => object["data"].as_object().map(|data| data.keys().cloned().collect::<Vec<_>>()),
            Some("Secret") => Some(secret_values(object).into_keys().collect()),
            _ => None,
        };
        set.extend(keys.unwrap_or_default().into_iter().map(|key| (file.clone(), key)));
    }
    for (name, _, container) in deployments(&objects) {
        set.extend(container_env(&objects, container).into_keys().map(|key| (format!("Deployment `{name}`"), key)));
    }
    let unknown: Vec<&(String, String)> = set.iter().filter(|(_, name)| !known.contains(name)).collect();
    assert!(unknown.is_empty(), "variables the app does not read (see docs/settings.md): {unknown:?}");
    for wanted in ["FASTSAAS_BIND", "FASTSAAS_ENV", "FASTSAAS_WORKER_ONLY", "DATABASE_URL", "FASTSAAS_JWT_SECRET"] {
        assert!(set.iter().any(|(_, name)| name == wanted), "no file sets {wanted}");
    }
}

#[test]
fn the_app_loads_each_process_environment_as_intended() {
    // The image alone is production without a database: it must refuse to
    // run on a SQLite file inside the container.
    let image = loaded_settings("the image's ENV", &with_image_env(BTreeMap::new()));
    assert_eq!(image["env"], "production", "the image's FASTSAAS_ENV");
    assert!(image["unsafe_for_production"].is_string(), "the image alone would run on SQLite in the container");

    let compose = compose();
    let services = app_services(&compose);
    assert!(services.len() >= 2, "compose.yaml runs the app and a worker: {:?}", services.iter().map(|s| &s.0));
    let mut worker_services = 0;
    for (service, definition) in &services {
        let env: BTreeMap<String, String> =
            compose_env(definition).into_iter().map(|(name, value)| (name, interpolate(&value))).collect();
        let worker_only = env.get("FASTSAAS_WORKER_ONLY").is_some_and(|value| value == "true");
        worker_services += usize::from(worker_only);
        let label = format!("compose.yaml `{service}`");
        assert_production(&label, &loaded_settings(&label, &with_image_env(env)), worker_only);
    }
    assert_eq!(worker_services, 1, "compose.yaml has one worker-only service");

    let objects = k8s();
    let mut worker_deployments = 0;
    for (name, _, container) in deployments(&objects) {
        let env = container_env(&objects, container);
        let worker_only = is_worker_only(&env);
        worker_deployments += usize::from(worker_only);
        let plain = env.into_iter().map(|(name, (value, _))| (name, value)).collect();
        let label = format!("Deployment `{name}`");
        assert_production(&label, &loaded_settings(&label, &with_image_env(plain)), worker_only);
    }
    assert_eq!(worker_deployments, 1, "deploy/k8s has one worker-only Deployment");
}

#[test]
fn the_log_filter_parses() {
    let compose = compose();
    let objects = k8s();
    let mut filters: Vec<String> = app_services(&compose)
        .into_iter()
        .filter_map(|(_, service)| compose_env(service).remove("RUST_LOG"))
        .chain(
            deployments(&objects)
                .into_iter()
                .filter_map(|(_, _, c)| container_env(&objects, c).remove("RUST_LOG").map(|v| v.0)),
        )
        .collect();
    filters.extend(dockerfile().iter().filter_map(|stage| stage.env().remove("RUST_LOG")));
    for filter in filters {
        assert!(tracing_subscriber::EnvFilter::try_new(&filter).is_ok(), "RUST_LOG=`{filter}`");
    }
}

#[test]
fn the_image_builds_the_example_and_runs_only_it_as_a_user_that_is_not_root() {
    let stages = dockerfile();
    assert!(stages.len() >= 2, "a multi-stage build");
    let channel = read("rust-toolchain.toml")
        .lines()
        .find_map(|line| {
            Some(line.trim().strip_prefix("channel")?.trim().strip_prefix('=')?.trim().trim_matches('"').to_owned())
        })
        .expect("rust-toolchain.toml names its channel");
    let first = &stages[0];
    assert_eq!(
        first.base.strip_prefix("rust:").and_then(|tag| tag.split('-').next()),
        Some(channel.as_str()),
        "the builder's toolchain ({}) is rust-toolchain.toml's",
        first.base
    );

    let last = stages.last().expect("a final stage");
    assert!(
        !stages.iter().any(|stage| stage.name.as_deref() == Some(last.base.as_str())),
        "the final image starts afresh"
    );
    assert_eq!(last.all("RUN").count(), 0, "nothing runs in the final stage: it has no shell");

    // Only the binary and the CA certificates, each from a build stage.
    let copies = last.copies();
    assert_eq!(copies.len(), 2, "the final stage copies the binary and the CA certificates, nothing else: {copies:?}");
    let mut binary = None;
    let mut certificates = false;
    for (from, sources, destination) in &copies {
        let from = from.as_deref().unwrap_or_else(|| panic!("COPY to {destination} takes from the build context"));
        let stage = stages
            .iter()
            .find(|stage| stage.name.as_deref() == Some(from))
            .unwrap_or_else(|| panic!("COPY --from={from}: no such stage"));
        let [source] = sources.as_slice() else { panic!("one source per COPY: {sources:?}") };
        if source.starts_with("/etc/ssl/certs/") {
            assert!(
                source.ends_with(".crt") && destination.starts_with("/etc/ssl/certs/"),
                "{source} -> {destination}"
            );
            certificates = true;
        } else {
            binary = Some((stage, source.clone(), destination.clone()));
        }
    }
    assert!(certificates, "the final stage has the CA certificates");
    let (builder, source, destination) = binary.expect("the final stage has the binary");

    // The binary is the example the builder builds, under its own name.
    let build = builder
        .all("RUN")
        .find(|run| run.contains("cargo build"))
        .unwrap_or_else(|| panic!("the stage the binary comes from runs no `cargo build`"));
    let words: Vec<&str> = build.split_whitespace().collect();
    assert!(words.contains(&"--release") && words.contains(&"--locked"), "`{build}`");
    let example = words
        .windows(2)
        .find_map(|pair| (pair[0] == "--example").then_some(pair[1]))
        .unwrap_or_else(|| panic!("`{build}` builds no example"));
    assert_eq!(example, "agents", "the image deploys examples/agents");
    assert!(
        root().join(format!("examples/{example}/main.rs")).exists()
            || root().join(format!("examples/{example}.rs")).exists()
    );
    let built = format!("{}/target/release/examples/{example}", builder.workdir(&stages).trim_end_matches('/'));
    assert_eq!(source, built, "the final stage copies the binary that `{build}` makes");
    let entrypoint: Vec<String> = last
        .all("ENTRYPOINT")
        .last()
        .map(|args| serde_json::from_str(args).unwrap_or_else(|_| panic!("ENTRYPOINT in exec form (JSON): {args}")))
        .expect("an ENTRYPOINT");
    assert_eq!(entrypoint.first(), Some(&destination), "the ENTRYPOINT runs the copied binary");
    assert!(destination.ends_with(&format!("/{example}")), "{destination}");

    // Dependencies are a layer of their own: compiled before the sources come in.
    let lines: Vec<&Instruction> = builder.instructions.iter().collect();
    let cook = lines.iter().position(|i| i.keyword == "RUN" && i.args.contains("cargo chef cook"));
    let sources = lines.iter().position(|i| i.keyword == "COPY" && i.args.split_whitespace().next() == Some("."));
    let compile = lines.iter().position(|i| i.keyword == "RUN" && i.args.contains("cargo build"));
    assert!(
        matches!((cook, sources, compile), (Some(c), Some(s), Some(b)) if c < s && s < b),
        "the builder cooks the dependencies, then copies the sources, then builds"
    );
    assert!(lines.iter().any(|i| i.keyword == "COPY" && i.args.contains("recipe.json")), "cooked from a recipe");

    let user = last.all("USER").last().expect("the final stage sets a USER");
    let user = user.split(':').next().unwrap_or_default();
    assert!(!user.is_empty() && user != "root" && user != "0", "USER {user}");
    assert!(user.parse::<u32>().is_ok(), "USER {user}: numeric, so that runAsNonRoot can verify it");

    // The port it listens on is the one it exposes.
    let env = last.env();
    let bind = env.get("FASTSAAS_BIND").expect("the image sets FASTSAAS_BIND (the default, 127.0.0.1, is unreachable)");
    assert!(bind.starts_with("0.0.0.0:") || bind.starts_with("[::]:"), "FASTSAAS_BIND={bind}");
    let mut served: BTreeSet<u16> = BTreeSet::from([port_of(bind)]);
    served.extend(env.get("FASTSAAS_METRICS_BIND").map(|metrics| port_of(metrics)));
    let exposed: BTreeSet<u16> = last
        .all("EXPOSE")
        .flat_map(str::split_whitespace)
        .map(|port| port.trim_end_matches("/tcp").parse().unwrap_or_else(|_| panic!("EXPOSE {port}")))
        .collect();
    assert_eq!(exposed, served, "EXPOSE and the addresses the image's ENV binds");
}

#[test]
fn compose_runs_three_replicas_behind_one_proxy() {
    let compose = compose();
    let services = compose["services"].as_object().expect("services");
    let apps = app_services(&compose);
    let (web_name, web) = apps
        .iter()
        .find(|(_, service)| compose_env(service).get("FASTSAAS_WORKER_ONLY").is_none_or(|value| value != "true"))
        .expect("a service that serves the API");
    assert_eq!(web["deploy"]["replicas"], 3, "`{web_name}` runs 3 replicas");
    let web_env = compose_env(web);
    let bind_port = port_of(web_env.get("FASTSAAS_BIND").expect("the app's FASTSAAS_BIND"));

    // One port for everything: the proxy's. Replicas of one service cannot
    // share a host port, and the metrics port must stay private.
    let publishing: Vec<&String> =
        services.iter().filter(|(_, service)| service.get("ports").is_some()).map(|(name, _)| name).collect();
    assert_eq!(publishing.len(), 1, "only the proxy publishes a port: {publishing:?}");
    let proxy_name = publishing[0];
    let proxy = &services[proxy_name];
    assert!(apps.iter().all(|(name, _)| name != proxy_name), "the proxy is not the app");
    let ports = proxy["ports"].as_array().expect("ports as a list");
    assert_eq!(ports.len(), 1, "one port");
    let published = scalar(&ports[0]);
    let container_port: u16 =
        published.rsplit(':').next().and_then(|port| port.trim_end_matches("/tcp").parse().ok()).expect("a port");
    for (name, service) in &apps {
        let env = compose_env(service);
        let bound: Vec<u16> =
            ["FASTSAAS_BIND", "FASTSAAS_METRICS_BIND"].iter().filter_map(|v| env.get(*v)).map(|a| port_of(a)).collect();
        for exposed in service["expose"].as_array().into_iter().flatten() {
            assert!(
                bound.contains(&scalar(exposed).parse().unwrap_or(0)),
                "`{name}` exposes {exposed}, binds {bound:?}"
            );
        }
    }

    // The proxy's configuration: it listens where compose publishes, and
    // forwards to the app's service on the app's port.
    let mount = proxy["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(scalar)
        .find(|volume| volume.contains("nginx.conf"))
        .expect("the proxy mounts its nginx.conf");
    let config_path = mount.split(':').next().expect("a source").trim_start_matches("./").to_owned();
    let config = read(&config_path);
    let directives: Vec<Vec<&str>> = config
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim().trim_end_matches(';'))
        .filter(|line| !line.is_empty())
        .map(|line| line.split_whitespace().collect())
        .collect();
    let listen: Vec<u16> = directives
        .iter()
        .filter(|words| words[0] == "listen")
        .map(|words| words[1].rsplit(':').next().and_then(|port| port.parse().ok()).expect("listen <port>"))
        .collect();
    assert_eq!(listen, vec![container_port], "nginx listens on the port compose publishes ({published})");
    let upstreams: Vec<&str> = directives
        .iter()
        .filter(|words| words[0] == "server" && words.get(1).is_some_and(|word| *word != "{"))
        .map(|words| words[1])
        .collect();
    assert!(!upstreams.is_empty(), "nginx has an upstream server");
    for upstream in upstreams {
        let (host, port) = upstream.rsplit_once(':').expect("server host:port");
        assert_eq!(host, web_name, "nginx forwards to the app's service");
        assert_eq!(port.parse::<u16>().ok(), Some(bind_port), "nginx forwards to the app's FASTSAAS_BIND port");
    }
    // Only the proxy's X-Forwarded-For is believed, and it is the proxy's.
    let proxy_address = scalar(&proxy["networks"]["default"]["ipv4_address"]);
    let trusted = web_env.get("FASTSAAS_TRUSTED_PROXIES").expect("the app trusts the proxy");
    assert!(trusted.split(',').map(str::trim).any(|entry| entry == proxy_address), "{trusted} vs {proxy_address}");
    let subnet = scalar(&compose["networks"]["default"]["ipam"]["config"][0]["subnet"]);
    assert!(in_subnet(&proxy_address, &subnet), "{proxy_address} in {subnet}");

    // Health checks: PostgreSQL's and Redis's own tools, and for the app the
    // proxy's, through to /readyz (the app's image has no HTTP client).
    let check = |name: &str| -> String {
        let test = &services[name]["healthcheck"]["test"];
        assert!(!test.is_null(), "`{name}` has a health check");
        test.as_array()
            .map(|words| words.iter().map(scalar).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| scalar(test))
    };
    assert!(check("postgres").contains("pg_isready"));
    assert!(check("redis").contains("redis-cli ping"));
    let proxy_check = check(proxy_name);
    let url =
        proxy_check.split_whitespace().find(|word| word.starts_with("http://")).expect("the proxy's check asks a URL");
    let authority = url.trim_start_matches("http://").split('/').next().unwrap_or_default();
    let port = authority.rsplit_once(':').map_or(Some(80), |(_, port)| port.parse().ok());
    assert_eq!(port, Some(container_port), "the proxy's check asks the proxy ({url})");
    assert!(url.ends_with("/readyz"), "the proxy's check asks the app's readiness: {url}");

    for (name, service) in &apps {
        let env = compose_env(service);
        for dependency in ["postgres", "redis"] {
            assert_eq!(
                service["depends_on"][dependency]["condition"], "service_healthy",
                "`{name}` waits for {dependency}"
            );
        }
        let database = env.get("DATABASE_URL").expect("DATABASE_URL");
        let postgres = compose_env(&services["postgres"]);
        let expected = format!(
            "postgres://{}:{}@postgres:5432/{}",
            postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"]
        );
        assert_eq!(database, &expected, "`{name}` uses the postgres service's database");
        assert_eq!(
            env.get("REDIS_URL").map(String::as_str),
            Some("redis://redis:6379"),
            "`{name}` uses the redis service"
        );
        let secret = env.get("FASTSAAS_JWT_SECRET").expect("FASTSAAS_JWT_SECRET");
        assert!(
            secret.starts_with("${") && secret.contains(":?"),
            "`{name}`: the JWT secret is the operator's, required: {secret}"
        );

        // Docker's SIGKILL must not cut the app's own shutdown short.
        let workers = env.get("FASTSAAS_TASK_WORKERS").map_or(4, |n| n.parse().expect("a number"));
        let serves = env.get("FASTSAAS_WORKER_ONLY").is_none_or(|value| value != "true");
        let needed = if serves { drain_secs() } else { 0 } + if workers > 0 { task_grace_secs() } else { 0 };
        let grace = service["stop_grace_period"].as_str().map_or(10, duration_secs);
        assert!(grace > needed, "`{name}`: stop_grace_period {grace} s, its shutdown may take {needed} s");
    }
}

/// Whether an IPv4 address is in a network such as `172.30.80.0/24`.
fn in_subnet(address: &str, subnet: &str) -> bool {
    let (network, bits) = subnet.split_once('/').unwrap_or_else(|| panic!("`{subnet}` is not network/bits"));
    let parse = |text: &str| {
        text.parse::<std::net::Ipv4Addr>().map(u32::from).unwrap_or_else(|_| panic!("`{text}` is not IPv4"))
    };
    let bits: u32 = bits.parse().unwrap_or_else(|_| panic!("`{subnet}` is not network/bits"));
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    parse(address) & mask == parse(network) & mask
}

#[test]
fn kubernetes_web_pods_probe_healthz_and_readyz_behind_the_service() {
    let objects = k8s();
    let all = deployments(&objects);
    let webs: Vec<&(String, &Value, &Value)> =
        all.iter().filter(|(_, _, container)| !is_worker_only(&container_env(&objects, container))).collect();
    let [(name, deployment, container)] = webs.as_slice() else { panic!("one Deployment serves the API") };
    assert_eq!(deployment["spec"]["replicas"], 3, "`{name}` runs 3 replicas");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert!(selects(&deployment["spec"]["selector"]["matchLabels"], labels), "`{name}` selects its own pods");

    let env = container_env(&objects, container);
    let bind = port_of(&env.get("FASTSAAS_BIND").expect("FASTSAAS_BIND").0);
    let metrics = env.get("FASTSAAS_METRICS_BIND").map(|(address, _)| port_of(address));
    let declared: BTreeSet<u16> = container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|port| resolve_port(container, &port["containerPort"]))
        .collect();
    assert_eq!(declared, [Some(bind), metrics].into_iter().flatten().collect(), "`{name}` declares the ports it binds");

    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")] {
        // A startup probe is optional; the other two are not.
        if probe == "startupProbe" && container.get(probe).is_none() {
            continue;
        }
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "`{name}` {probe}");
        assert_eq!(resolve_port(container, &get["port"]), bind, "`{name}` {probe} asks the API's port");
    }
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    if let Some(port) = annotations.get("prometheus.io/port") {
        assert_eq!(Some(scalar(port).parse().expect("a port")), metrics, "Prometheus scrapes FASTSAAS_METRICS_BIND");
    }

    // SIGKILL waits for the preStop pause, the drain, and any task's grace.
    let spec = &deployment["spec"]["template"]["spec"];
    let pause = container["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().unwrap_or(0);
    let workers: u64 = env.get("FASTSAAS_TASK_WORKERS").map_or(4, |(n, _)| n.parse().expect("a number"));
    let needed = pause + drain_secs() + if workers > 0 { task_grace_secs() } else { 0 };
    let grace = spec["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    assert!(grace > needed, "`{name}`: terminationGracePeriodSeconds {grace}, its shutdown may take {needed} s");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "`{name}` runs as non-root");

    // The Service: the web pods only, on the API's port, never the metrics one.
    let services = of_kind(&objects, "Service");
    assert!(!services.is_empty(), "a Service");
    for service in &services {
        assert!(selects(&service["spec"]["selector"], labels), "the Service selects the web pods");
        for port in service["spec"]["ports"].as_array().expect("ports") {
            let target = port.get("targetPort").unwrap_or(&port["port"]);
            assert_eq!(resolve_port(container, target), bind, "the Service forwards to FASTSAAS_BIND");
        }
    }

    let budgets = of_kind(&objects, "PodDisruptionBudget");
    assert_eq!(budgets.len(), 1, "a PodDisruptionBudget");
    let budget = &budgets[0]["spec"];
    assert!(selects(&budget["selector"]["matchLabels"], labels), "the PodDisruptionBudget selects the web pods");
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap_or(1);
    let allowed_down = match budget["minAvailable"].as_u64() {
        Some(min) => replicas.saturating_sub(min),
        None => budget["maxUnavailable"].as_u64().unwrap_or(0),
    };
    assert!((1..replicas).contains(&allowed_down), "the budget lets a drain go on and keeps pods serving");
}

#[test]
fn kubernetes_worker_pods_are_worker_only_and_serve_no_api() {
    let objects = k8s();
    let all = deployments(&objects);
    let workers: Vec<&(String, &Value, &Value)> =
        all.iter().filter(|(_, _, container)| is_worker_only(&container_env(&objects, container))).collect();
    let [(name, deployment, container)] = workers.as_slice() else { panic!("one worker-only Deployment") };
    let env = container_env(&objects, container);
    let tasks = env.get("FASTSAAS_TASK_WORKERS").map(|(n, _)| n.parse::<u64>().expect("a number"));
    assert!(tasks.unwrap_or(4) > 0, "`{name}`: FASTSAAS_WORKER_ONLY needs task workers");

    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for service in of_kind(&objects, "Service") {
        assert!(
            !selects(&service["spec"]["selector"], labels),
            "the Service `{}` selects worker pods",
            service["metadata"]["name"]
        );
    }
    for budget in of_kind(&objects, "PodDisruptionBudget") {
        assert!(!selects(&budget["spec"]["selector"]["matchLabels"], labels), "the web pods' budget counts workers");
    }

    // Its only port is the metrics one; the API's probes would fail on it.
    let metrics = env.get("FASTSAAS_METRICS_BIND").map(|(address, _)| port_of(address));
    let declared: Vec<u16> = container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|port| resolve_port(container, &port["containerPort"]))
        .collect();
    assert!(
        declared.iter().all(|port| Some(*port) == metrics),
        "`{name}` declares {declared:?}, serves only {metrics:?}"
    );
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(get) = container.get(probe).map(|probe| &probe["httpGet"]) else { continue };
        assert!(
            get["path"] != "/healthz" && get["path"] != "/readyz",
            "`{name}` {probe}: a worker serves no {}",
            get["path"]
        );
        assert_eq!(Some(resolve_port(container, &get["port"])), metrics, "`{name}` {probe} asks the metrics port");
    }

    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    assert!(grace > task_grace_secs(), "`{name}`: running tasks get {} s at SIGTERM", task_grace_secs());
}

#[test]
fn kubernetes_secrets_come_from_the_secret_only() {
    let objects = k8s();
    let secret_names: BTreeSet<String> =
        of_kind(&objects, "Secret").iter().map(|s| scalar(&s["metadata"]["name"])).collect();
    assert!(!secret_names.is_empty(), "deploy/k8s has the Secret");
    for config in of_kind(&objects, "ConfigMap") {
        for secret in SECRET_VARIABLES {
            assert!(
                config["data"].get(secret).is_none(),
                "{secret} is in the ConfigMap `{}`",
                config["metadata"]["name"]
            );
        }
    }
    for (name, _, container) in deployments(&objects) {
        let env = container_env(&objects, container);
        for (variable, (_, from)) in &env {
            if SECRET_VARIABLES.contains(&variable.as_str()) {
                assert_eq!(from, &Source::Secret, "`{name}`: {variable} comes from a Secret");
            }
        }
        let jwt = container["env"].as_array().into_iter().flatten().find(|v| v["name"] == "FASTSAAS_JWT_SECRET");
        let reference = jwt.map(|jwt| &jwt["valueFrom"]["secretKeyRef"]).expect("FASTSAAS_JWT_SECRET is set");
        assert!(
            secret_names.contains(&scalar(&reference["name"])),
            "`{name}`: the JWT secret's Secret is in deploy/k8s"
        );
        assert_ne!(reference["optional"], true, "`{name}`: the JWT secret is required");
    }
    // What is in git is a placeholder production refuses (under 32 bytes).
    for secret in of_kind(&objects, "Secret") {
        if let Some(jwt) = secret_values(secret).get("FASTSAAS_JWT_SECRET") {
            assert!(jwt.len() < 32, "the committed FASTSAAS_JWT_SECRET would be accepted: make it a placeholder");
        }
    }

    // `kubectl apply -k` applies every file but the Secret's template, which
    // would replace the real Secret with placeholders.
    let kustomization =
        objects.iter().find(|(_, object)| object["kind"] == "Kustomization").expect("a kustomization.yaml");
    let listed: BTreeSet<String> =
        kustomization.1["resources"].as_array().expect("resources").iter().map(scalar).collect();
    let mut files: BTreeSet<String> = objects.iter().map(|(file, _)| file.clone()).collect();
    files.remove(&kustomization.0);
    let secret_files: BTreeSet<String> =
        objects.iter().filter(|(_, object)| object["kind"] == "Secret").map(|(file, _)| file.clone()).collect();
    let expected: BTreeSet<String> = files.difference(&secret_files).cloned().collect();
    assert_eq!(listed, expected, "kustomization.yaml lists every manifest but the Secret");
}
