//! The runtime's modules depend one way (DESIGN.md section 2,
//! docs/ARCHITECTURE.md): every module of fastsaas-runtime has a layer, and
//! none may name a module of a higher layer. The sources are read as text:
//! every `crate::`, `super::` and `self::` path, and each `mod.rs`'s uses of
//! its own children, is a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first.
const LAYER_NAMES: [&str; 5] = ["infrastructure", "domain services", "state", "HTTP surfaces", "app"];

/// The layer of every module (a module's submodules share its layer unless
/// listed themselves). Written down once here and in docs/ARCHITECTURE.md.
const LAYERS: &[(&str, usize)] = &[
    // Infrastructure: HTTP plumbing, the database, errors, field values.
    ("error", 0),
    ("field", 0),
    ("validate", 0),
    ("body", 0),
    ("query", 0),
    ("cursor", 0),
    ("json", 0),
    ("http", 0),
    ("cors", 0),
    ("route_table", 0),
    ("server", 0),
    ("telemetry", 0),
    ("cache", 0),
    ("app_config", 0),
    ("openapi", 0),
    ("db", 0),
    ("db::references", 0),
    ("migrations", 0),
    ("identity::entities", 0),
    ("templates::entity", 0),
    ("identity::bodies", 0),
    ("notify::entity", 0),
    ("tasks::entity", 0),
    ("notify::bodies", 0),
    // Domain services: they know neither the router nor the app state.
    ("access", 1),
    ("cached", 1),
    ("references", 1),
    ("expand", 1),
    ("resource", 1),
    ("seal", 1),
    ("guarded", 1),
    ("registry", 1),
    ("store", 1),
    ("identity", 1),
    ("identity::password", 1),
    ("identity::tokens", 1),
    ("identity::rate_limit", 1),
    ("identity::client_address", 1),
    ("identity::bootstrap", 1),
    ("identity::principal", 1),
    ("templates", 1),
    ("templates::chain", 1),
    ("templates::load", 1),
    ("notify", 1),
    ("notify::store", 1),
    ("notify::hub", 1),
    ("notify::bus", 1),
    ("tasks", 1),
    ("tasks::queue", 1),
    ("tasks::worker", 1),
    ("tasks::schedule", 1),
    // The state and what reads it: extractors, the context, records.
    ("state", 2),
    ("identity::extract", 2),
    ("authorized", 2),
    ("ctx", 2),
    ("records", 2),
    ("tasks::enqueue", 2),
    ("tasks::chores", 2),
    // HTTP surfaces: one routes module per subsystem.
    ("crud", 3),
    ("acl_routes", 3),
    ("keys", 3),
    ("nested", 3),
    ("endpoints", 3),
    ("health", 3),
    ("docs", 3),
    ("metrics_routes", 3),
    ("identity::routes", 3),
    ("identity::orgs", 3),
    ("identity::roles", 3),
    ("templates::routes", 3),
    ("notify::routes", 3),
    ("notify::socket", 3),
    ("tasks::routes", 3),
    ("stub", 3),
    // The builder, the only module that knows every subsystem.
    ("app", 4),
    ("routes", 3),
    ("testing", 4),
    ("lib", 4),
];

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fastsaas-runtime/src")
}

/// Every source file as (module path, text).
fn modules() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, found: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path.strip_prefix(root).unwrap_or(&path).with_extension("");
                let mut parts: Vec<String> =
                    relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                if parts.last().is_some_and(|last| last == "mod") && parts.len() > 1 {
                    parts.pop();
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                found.push((parts.join("::"), text));
            }
        }
    }
    let root = source_root();
    let mut found = Vec::new();
    walk(&root, &root, &mut found);
    found
}

/// The text without comments and string literals, which may mention paths.
fn code_only(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut in_string = false;
        let mut escaped = false;
        for c in line.chars() {
            match (in_string, escaped, c) {
                (true, false, '\\') => escaped = true,
                (true, false, '"') => in_string = false,
                (true, _, _) => escaped = false,
                (false, _, '"') => in_string = true,
                (false, _, c) => code.push(c),
            }
        }
        code.push('\n');
    }
    code
}

/// The paths of a use tree starting at `rest` (after `prefix::`): `a::b`,
/// `a::{b, c::{d}}`, each as a full path.
fn use_tree(prefix: &str, rest: &str, paths: &mut Vec<String>) {
    let ident_end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
    let head = rest[..ident_end].trim_end_matches(':');
    let full = if head.is_empty() { prefix.to_owned() } else { format!("{prefix}::{head}") };
    let after = &rest[ident_end..];
    let group = head.is_empty() || rest[..ident_end].ends_with("::");
    if group && after.starts_with('{') {
        let mut depth = 0;
        let mut start = 1;
        for (index, c) in after.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        use_tree(&full, after[start..index].trim(), paths);
                        return;
                    }
                }
                ',' if depth == 1 => {
                    use_tree(&full, after[start..index].trim(), paths);
                    start = index + 1;
                }
                _ => {}
            }
        }
    } else {
        paths.push(full);
    }
}

/// The modules `module` names, resolved against the known ones.
fn dependencies(module: &str, text: &str, known: &BTreeSet<String>, is_dir: bool) -> BTreeSet<String> {
    let code = code_only(text);
    let mut paths = Vec::new();
    for (anchor, base) in [("crate::", String::new()), ("super::", parent_of(module)), ("self::", module.to_owned())] {
        for (index, _) in code.match_indices(anchor) {
            let before = code[..index].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[index + anchor.len()..];
            let mut found = Vec::new();
            use_tree("", rest, &mut found);
            paths.extend(found.into_iter().map(|path| join(&base, path.trim_start_matches("::"))));
        }
    }
    if is_dir {
        // A `mod.rs` that uses (or re-exports) its children depends on them.
        for line in code.lines() {
            let line = line.trim().trim_start_matches("pub(crate) ").trim_start_matches("pub ");
            if let Some(rest) = line.strip_prefix("use ") {
                let mut found = Vec::new();
                use_tree("", rest, &mut found);
                paths.extend(found.into_iter().map(|path| join(module, path.trim_start_matches("::"))));
            }
        }
    }
    paths
        .iter()
        .filter_map(|path| longest_known(path, known))
        .filter(|target| target != module && !module.starts_with(&format!("{target}::")))
        .collect()
}

fn parent_of(module: &str) -> String {
    module.rsplit_once("::").map_or(String::new(), |(parent, _)| parent.to_owned())
}

fn join(base: &str, path: &str) -> String {
    if base.is_empty() { path.to_owned() } else { format!("{base}::{path}") }
}

/// The longest known module that `path` starts with.
fn longest_known(path: &str, known: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|candidate| known.contains(candidate))
}

/// The layer of `module`: its own, or its nearest listed ancestor's.
fn layer_of(module: &str) -> Option<usize> {
    let parts: Vec<&str> = module.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find_map(|candidate| LAYERS.iter().find(|(name, _)| *name == candidate).map(|(_, layer)| *layer))
}

#[test]
fn no_module_depends_on_a_layer_above_its_own() {
    let sources = modules();
    let known: BTreeSet<String> = sources.iter().map(|(module, _)| module.clone()).collect();
    let unlisted: Vec<&String> = known.iter().filter(|module| layer_of(module).is_none()).collect();
    assert!(unlisted.is_empty(), "give these modules a layer in LAYERS and docs/ARCHITECTURE.md: {unlisted:?}");

    let root = source_root();
    let mut upward: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for (module, text) in &sources {
        let file = root.join(module.replace("::", "/"));
        let is_dir = file.is_dir() || module == "lib";
        let from = layer_of(module).unwrap_or_default();
        for target in dependencies(module, text, &known, is_dir) {
            let to = layer_of(&target).unwrap_or_default();
            if to > from {
                upward.insert((module.clone(), target), (from, to));
            }
        }
    }
    let upward: Vec<String> = upward
        .iter()
        .map(|((from, to), (a, b))| format!("{from} ({}) -> {to} ({})", LAYER_NAMES[*a], LAYER_NAMES[*b]))
        .collect();
    assert!(upward.is_empty(), "modules that depend on a layer above their own:\n{}", upward.join("\n"));
}

/// The check itself finds what it must: a use tree's nested paths, and a
/// `super::` path from a file inside a directory module.
#[test]
fn the_check_reads_nested_uses_and_relative_paths() {
    let known: BTreeSet<String> =
        ["app", "crud", "identity", "identity::entities", "identity::orgs"].iter().map(|m| (*m).to_owned()).collect();
    let text =
        "use crate::{app::AppState, crud::{ObjectId, page_of}};\nuse super::entities::user;\n// crate::nothing\n";
    let found = dependencies("identity::orgs", text, &known, false);
    let expected: BTreeSet<String> = ["app", "crud", "identity::entities"].iter().map(|m| (*m).to_owned()).collect();
    assert_eq!(found, expected);
}
