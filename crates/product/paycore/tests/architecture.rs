//! The house's rules, checked over the workspace itself so that they hold by themselves:
//!
//! - dependencies point down the layers (support → foundations → core → product), and between
//!   crates of one layer only the declared ones exist;
//! - no crate reads or writes another subsystem's tables (each owns the tables its migrations
//!   create);
//! - no status or kind is written as a literal in SQL (they are bound from their enums, and
//!   only the state-machine executor changes a status);
//! - acquiring's modules import each other without a cycle;
//! - no production source file is over about 800 lines, no function over about 100.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

const LAYERS: [&str; 4] = ["support", "foundations", "core", "product"];

/// Dependencies between crates of the same layer that are part of the design.
const SIBLINGS: &[(&str, &str)] = &[
    ("paycore-store", "paycore-kernel"),
    ("paycore-sandbox", "paycore-channels"),
    ("paycore-merchant", "paycore-product"),
    ("paycore-acquiring", "paycore-product"),
    ("paycore-acquiring", "paycore-merchant"),
    ("paycore-acquiring", "paycore-notify"),
    ("paycore-fund", "paycore-member"),
    ("paycore-fund", "paycore-card"),
    ("paycore-fund", "paycore-quota"),
    ("paycore-agreement", "paycore-merchant"),
    ("paycore-agreement", "paycore-member"),
    ("paycore-agreement", "paycore-card"),
    ("paycore-agreement", "paycore-product"),
    ("paycore-cashier", "paycore-acquiring"),
    ("paycore-cashier", "paycore-member"),
    ("paycore-cashier", "paycore-card"),
    ("paycore-cashier", "paycore-marketing"),
    ("paycore-cashier", "paycore-quota"),
    ("paycore-cashier", "paycore-credit"),
    ("paycore-cashier", "paycore-risk"),
    ("paycore-gateway", "paycore-api"),
    ("paycore", "paycore-api"),
    ("paycore", "paycore-gateway"),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(3)
        .expect("workspace root")
        .to_path_buf()
}

struct Crate {
    name: String,
    layer: usize,
    dir: PathBuf,
    deps: Vec<String>,
}

fn crates() -> Vec<Crate> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let root = workspace_root().join("crates");
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest"));
            let dir = manifest.parent().expect("crate dir").to_path_buf();
            let rel = dir
                .strip_prefix(&root)
                .unwrap_or_else(|_| panic!("{} is not under crates/<layer>/<name>", dir.display()));
            let layer_name = rel.components().next().expect("layer folder");
            let layer_name = layer_name.as_os_str().to_string_lossy().to_string();
            let layer = LAYERS
                .iter()
                .position(|l| *l == layer_name)
                .unwrap_or_else(|| panic!("{} is in no layer folder", dir.display()));
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["path"].is_string())
                .map(|d| d["name"].as_str().expect("name").to_string())
                .collect();
            Crate {
                name: p["name"].as_str().expect("name").to_string(),
                layer,
                dir,
                deps,
            }
        })
        .collect()
}

#[test]
fn dependencies_point_down_or_to_declared_siblings() {
    let all = crates();
    let layer: HashMap<&str, usize> = all.iter().map(|c| (c.name.as_str(), c.layer)).collect();
    let mut wrong = Vec::new();
    for c in &all {
        for d in &c.deps {
            let Some(&dl) = layer.get(d.as_str()) else {
                continue;
            };
            let declared = SIBLINGS.contains(&(c.name.as_str(), d.as_str()));
            if dl > c.layer || (dl == c.layer && !declared) {
                wrong.push(format!(
                    "{} ({}) depends on {d} ({})",
                    c.name, LAYERS[c.layer], LAYERS[dl]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against the layers:\n{}",
        wrong.join("\n")
    );
    assert!(all.len() >= 14, "every subsystem is a crate: {}", all.len());
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A source file's production part: what comes before its `#[cfg(test)]` module.
fn production(text: &str) -> &str {
    match text.find("\n#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// The contents of the string literals of Rust source (plain, escaped and raw).
fn string_literals(src: &str) -> Vec<String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' => {
                // A char literal or a lifetime: skip it.
                i += if b.get(i + 2) == Some(&b'\'') { 3 } else { 1 };
            }
            b'r' if matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
                && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = j + 1;
                let end = src[start..].find(&close).map_or(b.len(), |k| start + k);
                out.push(src[start..end].to_string());
                i = end + close.len();
            }
            b'"' => {
                let mut j = i + 1;
                let mut s = String::new();
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    if let Some(c) = b.get(j) {
                        s.push(*c as char);
                    }
                    j += 1;
                }
                out.push(s);
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

fn is_sql(s: &str) -> bool {
    ["SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM"]
        .iter()
        .any(|k| s.contains(k))
}

/// `'word'` with a lower-case word: a status, kind or other name written into SQL.
fn quoted_names(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let parts: Vec<&str> = sql.split('\'').collect();
    for (n, p) in parts.iter().enumerate() {
        let inside = n % 2 == 1 && n + 1 < parts.len();
        let word = !p.is_empty()
            && p.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && p.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        if inside && word {
            out.push(format!("'{p}'"));
        }
    }
    out
}

#[test]
fn no_status_or_kind_is_a_literal_in_sql() {
    let mut wrong = Vec::new();
    for c in crates() {
        let mut files = Vec::new();
        rust_files(&c.dir.join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("source");
            for lit in string_literals(production(&text))
                .iter()
                .filter(|s| is_sql(s))
            {
                for q in quoted_names(lit) {
                    wrong.push(format!("{}: {q} in {:?}", f.display(), lit.trim()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "bind names from their enums:\n{}",
        wrong.join("\n")
    );
}

/// `CREATE TABLE name` of a crate's migrations.
fn owned_tables(c: &Crate) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(c.dir.join("migrations")) else {
        return out;
    };
    for e in entries.flatten() {
        let sql = std::fs::read_to_string(e.path()).expect("migration");
        let words: Vec<&str> = sql.split_whitespace().collect();
        for w in words.windows(3) {
            if w[0] == "CREATE" && w[1] == "TABLE" {
                out.push(w[2].trim_end_matches('(').to_string());
            }
        }
    }
    out
}

/// The tables a piece of SQL names after FROM, JOIN, INTO or UPDATE.
fn tables_named(sql: &str) -> Vec<String> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| matches!(w[0], "FROM" | "JOIN" | "INTO" | "UPDATE"))
        .map(|w| {
            w[1].trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .to_string()
        })
        .collect()
}

#[test]
fn no_crate_touches_another_subsystems_tables() {
    let all = crates();
    let mut owner: HashMap<String, String> = HashMap::new();
    for c in &all {
        for t in owned_tables(c) {
            if let Some(other) = owner.insert(t.clone(), c.name.clone()) {
                panic!("table {t} is created by {other} and {}", c.name);
            }
        }
    }
    assert!(owner.contains_key("payments") && owner.contains_key("jobs"));
    let mut wrong = BTreeSet::new();
    for c in &all {
        let mut files = Vec::new();
        rust_files(&c.dir.join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("source");
            for lit in string_literals(production(&text))
                .iter()
                .filter(|s| is_sql(s))
            {
                for t in tables_named(lit) {
                    match owner.get(&t) {
                        Some(o) if *o != c.name => {
                            wrong.insert(format!("{} uses {t} of {o} ({})", c.name, f.display()));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "go through the owner's API:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn acquirings_modules_import_without_cycles() {
    let src = workspace_root().join("crates/core/acquiring/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let module_of = |f: &Path| -> String {
        let rel = f.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("component");
        first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string()
    };
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let m = module_of(f);
        if m == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("source");
        for (i, _) in production(&text).match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&name) && name != m && name != "lib" {
                uses.entry(m.clone()).or_default().insert(name);
            }
        }
    }
    // Depth-first search for a cycle.
    fn visit(
        m: &str,
        uses: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for n in uses.get(m).into_iter().flatten() {
            if let Some(c) = visit(n, uses, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in &modules {
        if let Some(cycle) = visit(m, &uses, &mut Vec::new(), &mut done) {
            panic!(
                "acquiring's modules import in a cycle: {}",
                cycle.join(" → ")
            );
        }
    }
    assert!(uses.contains_key("create"), "{uses:?}");
}

#[test]
fn files_and_functions_stay_short() {
    let mut wrong = Vec::new();
    for c in crates() {
        let mut files = Vec::new();
        rust_files(&c.dir.join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("source");
            let prod = production(&text);
            let lines: Vec<&str> = prod.lines().collect();
            if lines.len() > 850 {
                wrong.push(format!("{}: {} lines", f.display(), lines.len()));
            }
            for (i, l) in lines.iter().enumerate() {
                let t = l.trim_start();
                let is_fn = [
                    "fn ",
                    "pub fn ",
                    "async fn ",
                    "pub async fn ",
                    "pub(crate) fn ",
                    "pub(crate) async fn ",
                    "pub(super) fn ",
                    "pub(super) async fn ",
                ]
                .iter()
                .any(|p| t.starts_with(p));
                if !is_fn || l.ends_with(';') {
                    continue;
                }
                let indent = l.len() - t.len();
                let close = format!("{}}}", " ".repeat(indent));
                let len = lines[i..].iter().position(|x| *x == close).unwrap_or(0);
                if len > 110 {
                    wrong.push(format!(
                        "{}:{}: a function of {len} lines",
                        f.display(),
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "split these by what they do:\n{}",
        wrong.join("\n")
    );
}
