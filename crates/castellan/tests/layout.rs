//! The layout of the source tree: one file per concern (none over 800 lines but the emulators'
//! per-platform modules and their scenario generator), no two files of one crate importing
//! each other, and every source directory named in ARCHITECTURE.md's codemap.
//!
//! `cargo nextest run -p castellan --test layout` shows each.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use support::{is_source, root, rust_files};

/// Files that earn their size: each emulator module mirrors one platform's API surface, and
/// the scenario generator builds both platforms' worlds.
const LONG_BY_DESIGN: [&str; 3] = [
    "crates/emulators/src/pinterest.rs",
    "crates/emulators/src/tiktok.rs",
    "crates/emulators/src/scenario.rs",
];

#[test]
fn no_source_file_is_over_800_lines() {
    let long: Vec<String> = rust_files()
        .into_iter()
        .filter(|(p, _)| is_source(p) && !LONG_BY_DESIGN.contains(&p.as_str()))
        .filter(|(_, t)| t.lines().count() > 800)
        .map(|(p, t)| format!("{p} ({} lines)", t.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "files over 800 lines usually hold two concerns: {long:?}"
    );
}

/// The module path of a file under `src/` (`web/apps/mod.rs` → `web::apps`).
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        parts.pop();
    }
    parts
}

/// The paths a `use` tree names: `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    fn split_top(s: &str) -> Vec<&str> {
        let (mut depth, mut start, mut out) = (0, 0, Vec::new());
        for (i, c) in s.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(&s[start..]);
        out
    }
    fn go(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        for part in split_top(tree) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            if let Some(open) = part.find('{') {
                let mut p = prefix.to_vec();
                p.extend(
                    part[..open]
                        .split("::")
                        .filter(|x| !x.trim().is_empty())
                        .map(|x| x.trim().to_string()),
                );
                let close = part.rfind('}').filter(|&c| c > open).unwrap_or(part.len());
                go(&p, &part[open + 1..close], out);
            } else {
                let name = part.split(" as ").next().unwrap_or(part).trim();
                let mut p = prefix.to_vec();
                p.extend(name.split("::").map(|x| x.trim().to_string()));
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    go(
        &[],
        &tree.split_whitespace().collect::<Vec<_>>().join(" "),
        &mut out,
    );
    out
}

/// Which files of one crate each file imports. A file's `use` statements and paths through
/// `crate::`, `super::` and `self::` count, as do a parent's paths through the modules it
/// declares; a root file's (`lib.rs`, `main.rs`, `mod.rs`) `pub use child::…` re-exports and
/// `mod` declarations are the module tree, not imports. Inside a trailing `#[cfg(test)]`
/// module, `super` is the file itself.
fn imports(
    files: &BTreeMap<Vec<String>, String>,
    src: &std::path::Path,
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let comment = Regex::new(r"//[^\n]*").unwrap();
    let reexport = Regex::new(r"\bpub(\([^)]*\))?\s+use\s+(self::)?\w+::[^;]*;").unwrap();
    // A `use` item starts its line (words such as "we use its assets" in a string do not).
    let use_stmt = Regex::new(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);").unwrap();
    let rooted = Regex::new(r"\b((?:crate|super|self)(?:::\w+)+)").unwrap();
    let declared = Regex::new(r"\bmod\s+(\w+)\s*;").unwrap();
    let super_in_tests = Regex::new(r"\bsuper::((?:\w+::)*\w+)").unwrap();
    let crate_in_tests = Regex::new(r"\bcrate((?:::\w+)+)").unwrap();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, rel) in files {
        let raw = std::fs::read_to_string(src.join(rel)).unwrap();
        let is_root = rel.ends_with("mod.rs") || rel == "lib.rs" || rel == "main.rs";
        let mut text = comment.replace_all(&raw, "").into_owned();
        if is_root {
            text = reexport.replace_all(&text, "").into_owned();
        }
        let mut paths: Vec<Vec<String>> = Vec::new();
        if let Some(cut) = text.find("#[cfg(test)]") {
            let tail = text.split_off(cut);
            for c in super_in_tests.captures_iter(&tail) {
                let mut p = vec!["self".to_string()];
                p.extend(c[1].split("::").map(str::to_string));
                paths.push(p);
            }
            for c in crate_in_tests.captures_iter(&tail) {
                let mut p = vec!["crate".to_string()];
                p.extend(c[1].split("::").skip(1).map(str::to_string));
                paths.push(p);
            }
        }
        for c in declared.captures_iter(&text) {
            let child = &c[1];
            let through = Regex::new(&format!(r"(?:^|[^:\w]){child}((?:::\w+)+)")).unwrap();
            for d in through.captures_iter(&text) {
                let mut p = vec!["self".to_string(), child.to_string()];
                p.extend(d[1].split("::").skip(1).map(str::to_string));
                paths.push(p);
            }
        }
        for c in use_stmt.captures_iter(&text) {
            paths.extend(expand(&c[1]));
        }
        for c in rooted.captures_iter(&text) {
            paths.push(c[1].split("::").map(str::to_string).collect());
        }
        for p in paths {
            let Some(first) = p.first() else { continue };
            let full: Vec<String> = match first.as_str() {
                "crate" => p[1..].to_vec(),
                "super" | "self" => {
                    let mut base = module.clone();
                    let mut i = 0;
                    while i < p.len() && (p[i] == "super" || p[i] == "self") {
                        if p[i] == "super" {
                            base.pop();
                        }
                        i += 1;
                    }
                    base.extend(p[i..].iter().cloned());
                    base
                }
                _ => continue,
            };
            let target = (0..=full.len())
                .rev()
                .map(|k| full[..k].to_vec())
                .find(|m| files.contains_key(m));
            if let Some(t) = target
                && &t != module
            {
                edges.entry(module.clone()).or_default().insert(t);
            }
        }
    }
    edges
}

#[test]
fn no_two_files_of_a_crate_import_each_other() {
    let mut circles = Vec::new();
    let all = rust_files();
    for krate in std::fs::read_dir(root().join("crates")).unwrap() {
        let krate = krate.unwrap();
        let src = krate.path().join("src");
        if !src.is_dir() {
            continue;
        }
        let prefix = format!("crates/{}/src/", krate.file_name().to_string_lossy());
        let files: BTreeMap<Vec<String>, String> = all
            .iter()
            .filter_map(|(p, _)| p.strip_prefix(&prefix))
            .map(|rel| (module_of(rel), rel.to_string()))
            .collect();
        let edges = imports(&files, &src);
        for (a, targets) in &edges {
            for b in targets {
                if a < b && edges.get(b).is_some_and(|t| t.contains(a)) {
                    circles.push(format!("{}: {} <-> {}", src.display(), files[a], files[b]));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "files that import each other (move what both need into a third): {circles:#?}"
    );
}

#[test]
fn import_graph_sees_a_circle() {
    // The check itself can fail: two files of a made-up crate that import each other.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lib.rs"), "//! x\nmod a;\nmod b;\n").unwrap();
    std::fs::write(
        dir.path().join("a.rs"),
        "//! a\nuse crate::b::B;\npub struct A;\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.rs"),
        "//! b\npub struct B;\nfn f() { let _ = crate::a::A; }\n",
    )
    .unwrap();
    let files: BTreeMap<Vec<String>, String> = ["lib.rs", "a.rs", "b.rs"]
        .into_iter()
        .map(|f| (module_of(f), f.to_string()))
        .collect();
    let edges = imports(&files, dir.path());
    let (a, b) = (vec!["a".to_string()], vec!["b".to_string()]);
    assert!(
        edges[&a].contains(&b) && edges[&b].contains(&a),
        "{edges:?}"
    );
    // A parent's declarations and re-exports are the module tree, not imports.
    std::fs::write(
        dir.path().join("lib.rs"),
        "//! x\nmod a;\nmod b;\npub use a::A;\n",
    )
    .unwrap();
    assert!(!imports(&files, dir.path()).contains_key(&Vec::new()));
}

#[test]
fn every_source_directory_is_in_the_codemap() {
    let arch = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut dirs = BTreeSet::new();
    for (path, _) in rust_files() {
        if !is_source(&path) {
            continue;
        }
        let Some((_, under_src)) = path.split_once("/src/") else {
            continue;
        };
        if let Some((dir, _)) = under_src.rsplit_once('/') {
            dirs.insert(dir.to_string());
        }
    }
    let missing: Vec<String> = dirs
        .into_iter()
        .filter(|d| !arch.contains(&format!("{d}/")))
        .collect();
    assert!(
        missing.is_empty(),
        "source directories the codemap in ARCHITECTURE.md does not name (as `dir/`): {missing:?}"
    );
}
