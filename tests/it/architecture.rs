//! The shape of `src/`, checked on every run (issue 17): each top-level module has a layer and
//! names only its own layer or lower ones; no import cycle between top-level modules; `http`
//! only from `http` and the entry point; `AppState` only in the web layer; `Provider` never
//! below the protocol; no source file (in `src/` or `tests/`) over 600 lines. `docs/architecture.md` draws the same
//! table. A new top-level module fails here until it is given a layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by layer, highest first. A module may name modules of its own layer (the
/// cycle check keeps those honest) and of every layer below.
const LAYERS: &[(&str, &[&str])] = &[
    ("entry", &["cli"]),
    ("web", &["http", "state"]),
    ("protocol", &["oauth", "superid", "oidc", "pruning", "outbox", "audit_log"]),
    ("provider", &["provider"]),
    ("domain", &["approvals", "apps", "tenants", "keys", "federation"]),
    ("storage", &["store"]),
    (
        "base",
        &["config", "error", "vocab", "paths", "jose", "outbound", "mail", "clock", "crypto", "secret", "failpoint"],
    ),
];

/// Modules that may hold an `AppState`: the web layer and the entry point that builds it.
const APP_STATE_ALLOWED: &[&str] = &["http", "state", "cli"];
const MAX_LINES: usize = 600;

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments, so a doc comment that mentions a module is not an
/// import. String literals are kept (they may contain `//`), comments inside them are not seen.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = '\0';
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            if c == '"' && prev != '\\' {
                in_string = !in_string;
            }
            if !in_string && c == '/' && prev == '/' {
                cut = i - 1;
                break;
            }
            prev = c;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// The top-level module a file belongs to (`src/oauth/grants/mod.rs` → `oauth`); None for the
/// crate root files.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src_dir()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// What `lib.rs` re-exports at the crate root (`pub use state::AppState;`), so that
/// `crate::AppState` counts as naming `state`.
fn root_reexports() -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let mut map = BTreeMap::new();
    for line in code_of(&lib).lines() {
        if let Some(path) = line.trim().strip_prefix("pub use ").and_then(|p| p.strip_suffix(';')) {
            let parts: Vec<&str> = path.split("::").collect();
            if let (Some(first), Some(last)) = (parts.first(), parts.last()) {
                map.insert(last.to_string(), first.to_string());
            }
        }
    }
    map
}

/// Every top-level module a piece of code names through `crate::`, including inside
/// `use crate::{a::b, c}` groups.
fn named_modules(code: &str, reexports: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut name = |ident: &str| {
        if let Some(m) = reexports.get(ident) {
            found.insert(m.clone());
        } else {
            found.insert(ident.to_string());
        }
    };
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find("};").or_else(|| group.find('}')).unwrap_or(group.len());
            // Only the first segment of each top-level path in the group.
            let mut depth = 0;
            let mut start = true;
            let mut ident = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_alphanumeric() || c == '_' => {
                        if start {
                            ident.push(c);
                        }
                        continue;
                    }
                    _ => {}
                }
                if !ident.is_empty() {
                    name(&ident);
                    ident.clear();
                }
                if c != ',' && !c.is_whitespace() {
                    start = false;
                }
            }
            if !ident.is_empty() {
                name(&ident);
            }
        } else {
            let ident: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !ident.is_empty() {
                name(&ident);
            }
        }
        rest = after;
    }
    found
}

struct Tree {
    /// Top-level module → the top-level modules it names, with one file that does.
    edges: BTreeMap<String, BTreeMap<String, String>>,
    modules: BTreeSet<String>,
    files: Vec<(PathBuf, String)>,
}

fn tree() -> Tree {
    let mut paths = Vec::new();
    rust_files(&src_dir(), &mut paths);
    paths.sort();
    let modules: BTreeSet<String> = paths.iter().filter_map(|p| module_of(p)).collect();
    let reexports = root_reexports();
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = code_of(&text);
        if let Some(from) = module_of(&path) {
            for to in named_modules(&code, &reexports) {
                if to != from && modules.contains(&to) {
                    let rel = path.strip_prefix(src_dir()).unwrap().display().to_string();
                    edges.entry(from.clone()).or_default().entry(to).or_insert(rel);
                }
            }
        }
        files.push((path, text));
    }
    Tree { edges, modules, files }
}

fn rel(path: &Path) -> String {
    format!("src/{}", path.strip_prefix(src_dir()).unwrap().display())
}

#[test]
fn every_top_level_module_has_a_layer_and_names_nothing_above_it() {
    let t = tree();
    let mut wrong = Vec::new();
    for m in &t.modules {
        let Some(own) = layer_of(m) else {
            wrong.push(format!("src/{m}: not in tests/it/architecture.rs LAYERS (nor docs/architecture.md)"));
            continue;
        };
        for (to, file) in t.edges.get(m).into_iter().flatten() {
            if layer_of(to).is_some_and(|theirs| theirs < own) {
                wrong.push(format!(
                    "src/{file}: `{m}` ({}) names `{to}` ({}) above it",
                    LAYERS[own].0,
                    LAYERS[layer_of(to).unwrap()].0
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "layering:\n{}", wrong.join("\n"));
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let t = tree();
    // Tarjan's strongly connected components; any component of two or more is a cycle.
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        cycles: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        w.index.insert(v, w.next);
        w.low.insert(v, w.next);
        w.next += 1;
        w.stack.push(v);
        w.on_stack.insert(v);
        let edges = w.edges;
        for to in edges.get(v).into_iter().flat_map(|e| e.keys()) {
            let to = to.as_str();
            if !w.index.contains_key(to) {
                visit(w, to);
                let l = w.low[v].min(w.low[to]);
                w.low.insert(v, l);
            } else if w.on_stack.contains(to) {
                let l = w.low[v].min(w.index[to]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(x) = w.stack.pop() {
                w.on_stack.remove(x);
                component.push(x);
                if x == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.cycles.push(component);
            }
        }
    }
    let mut w = Walk {
        edges: &t.edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        cycles: Vec::new(),
    };
    for m in &t.modules {
        if !w.index.contains_key(m.as_str()) {
            visit(&mut w, m);
        }
    }
    let explained: Vec<String> = w
        .cycles
        .iter()
        .map(|c| {
            let links: Vec<String> = c
                .iter()
                .flat_map(|a| {
                    t.edges
                        .get(*a)
                        .into_iter()
                        .flatten()
                        .filter(|(b, _)| c.contains(&b.as_str()))
                        .map(move |(b, f)| format!("{a} → {b} (src/{f})"))
                })
                .collect();
            format!("{{{}}}: {}", c.join(", "), links.join("; "))
        })
        .collect();
    assert!(explained.is_empty(), "import cycles:\n{}", explained.join("\n"));
}

#[test]
fn http_is_named_only_by_http_and_the_entry_point() {
    let t = tree();
    let wrong: Vec<String> = t
        .files
        .iter()
        .filter(|(p, _)| module_of(p).is_some_and(|m| m != "http" && m != "cli"))
        .filter(|(_, text)| {
            let code = code_of(text);
            code.contains("crate::http") || code.contains("crate::{http") || code.contains("crate::app(")
        })
        .map(|(p, _)| rel(p))
        .collect();
    assert!(wrong.is_empty(), "`crate::http` outside src/http:\n{}", wrong.join("\n"));
}

#[test]
fn app_state_stays_in_the_web_layer_and_provider_above_the_domain() {
    let t = tree();
    let mut wrong = Vec::new();
    for (path, text) in &t.files {
        let Some(m) = module_of(path) else { continue };
        let code = code_of(text);
        let names = |word: &str| {
            code.match_indices(word).any(|(i, _)| {
                let before = code[..i].chars().next_back();
                let after = code[i + word.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        };
        if names("AppState") && !APP_STATE_ALLOWED.contains(&m.as_str()) {
            wrong.push(format!("{}: AppState below the web layer", rel(path)));
        }
        let below_protocol = layer_of(&m).is_some_and(|l| l > layer_of("provider").unwrap());
        if names("Provider") && below_protocol {
            wrong.push(format!("{}: Provider below the protocol layer (take the parts you use)", rel(path)));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A write that bypassed `on_write!` would be answered before SQLite's group commit put it on
/// disk (the writing connection commits without fsync; `src/store/wal_sync.rs`). Only the
/// macro itself and closing the pool may name the writing pool directly; `on_write_committed!`
/// goes through the same line and gives its value out only through `Committed::durable`.
#[test]
fn every_write_waits_for_the_group_commit() {
    let mut paths = Vec::new();
    rust_files(&src_dir(), &mut paths);
    let mut direct = Vec::new();
    for path in &paths {
        for (i, line) in std::fs::read_to_string(path).unwrap().lines().enumerate() {
            let names_writer = line.contains("on_db!(&self.write") || line.contains("on_db!(&store.write");
            let allowed = line.contains("$crate::on_db!(&store.write, $pool") || line.contains("pool.close()");
            if names_writer && !allowed {
                direct.push(format!("{}:{}", rel(path), i + 1));
            }
        }
    }
    assert!(direct.is_empty(), "writes that skip on_write!:\n{}", direct.join("\n"));
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut paths = Vec::new();
    rust_files(&src_dir(), &mut paths);
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"), &mut paths);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let long: Vec<String> = paths
        .iter()
        .map(|p| (p, std::fs::read_to_string(p).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(p, n)| format!("{}: {n} lines", p.strip_prefix(root).unwrap().display()))
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines (split by concern):\n{}", long.join("\n"));
}

#[test]
fn the_checker_sees_grouped_and_re_exported_imports() {
    let reexports: BTreeMap<String, String> = [("AppState".to_string(), "state".to_string())].into();
    let code = code_of("use crate::{apps::{App, Registry}, store};\n// crate::http in a comment\nlet x = crate::AppState::open;\nlet u = \"https://x\"; crate::keys::Keys");
    let found = named_modules(&code, &reexports);
    assert_eq!(found, ["apps", "keys", "state", "store"].into_iter().map(String::from).collect());
}
