//! No import circles inside a crate (DESIGN §1; STYLE 22): within each crate of the
//! workspace (and the CLI), the files form a graph — file A → file B when A names an item of
//! B by a `crate::…` or `super::…` path — and that graph has no cycle. Re-exports (`pub use`)
//! are a module's face, not a dependency, and comments and strings are not code, so neither
//! makes an edge. A cycle fails naming every file in it and the edges that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod common;

/// Module path (segments below the crate root) → file.
type Files = BTreeMap<Vec<String>, PathBuf>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `a/b.rs` → `[a, b]`; `a/mod.rs` and `lib.rs` / `main.rs` name their directory.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut segs: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        segs.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        segs.pop();
    }
    segs
}

/// The code of a file: comment lines, `pub use` lines and string contents removed.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("//") || t.starts_with("pub use ") || t.starts_with("pub(crate) use ") {
            continue;
        }
        let mut in_str = false;
        let mut escaped = false;
        for c in line.chars() {
            if in_str {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_str = false;
                    out.push('"');
                }
                continue;
            }
            if c == '"' {
                in_str = true;
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

/// Every `crate::a::b` / `super::…::a` path in `code`, as segments after the keyword (with
/// leading `super`s for each extra level).
fn paths(code: &str) -> Vec<(bool, Vec<String>)> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !ident(bytes[i - 1]);
        let rest: String = bytes[i..(i + 9).min(bytes.len())].iter().collect();
        let kw = if starts_word && rest.starts_with("crate::") {
            Some((true, 7))
        } else if starts_word && rest.starts_with("super::") {
            Some((false, 7))
        } else {
            None
        };
        let Some((is_crate, len)) = kw else {
            i += 1;
            continue;
        };
        let mut j = i + len;
        let mut segs = Vec::new();
        if !is_crate {
            segs.push("super".to_string());
        }
        loop {
            let s = j;
            while j < bytes.len() && ident(bytes[j]) {
                j += 1;
            }
            if s == j {
                break;
            }
            segs.push(bytes[s..j].iter().collect());
            if j + 1 < bytes.len() && bytes[j] == ':' && bytes[j + 1] == ':' {
                j += 2;
            } else {
                break;
            }
        }
        out.push((is_crate, segs));
        i = j.max(i + 1);
    }
    out
}

/// The file a path names: the longest prefix of it that is a module with a file.
fn target(files: &Files, full: &[String]) -> Option<Vec<String>> {
    (0..=full.len())
        .rev()
        .map(|k| full[..k].to_vec())
        .find(|p| files.contains_key(p))
}

fn edges(src: &Path) -> (Files, BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) {
    let mut list = Vec::new();
    rust_files(src, &mut list);
    let files: Files = list
        .iter()
        .map(|f| (module_path(src, f), f.clone()))
        .collect();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &files {
        // `super` of module a::b (file `a/b.rs` or `a/b/mod.rs`) is module `a`.
        let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
        let text = std::fs::read_to_string(file).unwrap();
        // Inline modules (`mod tests { use super::*; }`, at a file's end by convention) sit
        // one level down: their first `super` is this file's own module.
        let split = text
            .lines()
            .scan(0, |at, l| {
                let start = *at;
                *at += l.len() + 1;
                Some((start, l))
            })
            .find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("pub ");
                t.starts_with("mod ") && t.trim_end().ends_with('{')
            })
            .map_or(text.len(), |(start, _)| start);
        for (part, own) in [
            (&text[..split], parent.clone()),
            (&text[split..], module.clone()),
        ] {
            for (is_crate, segs) in paths(&code(part)) {
                let full = if is_crate {
                    segs
                } else {
                    let mut base = own.clone();
                    // the first `super` is `own`; each further one goes up a level.
                    let mut rest = &segs[1..];
                    while rest.first().is_some_and(|s| s == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    base.extend(rest.iter().cloned());
                    base
                };
                if let Some(t) = target(&files, &full)
                    && &t != module
                {
                    graph.entry(module.clone()).or_default().insert(t);
                }
            }
        }
    }
    (files, graph)
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct T<'a> {
        g: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<Vec<String>, usize>,
        low: BTreeMap<Vec<String>, usize>,
        stack: Vec<Vec<String>>,
        on: BTreeSet<Vec<String>>,
        next: usize,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit(t: &mut T, v: &Vec<String>) {
        t.index.insert(v.clone(), t.next);
        t.low.insert(v.clone(), t.next);
        t.next += 1;
        t.stack.push(v.clone());
        t.on.insert(v.clone());
        let succ: Vec<Vec<String>> =
            t.g.get(v)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
        for w in &succ {
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(&w);
                let done = &w == v;
                comp.push(w);
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    let nodes: Vec<Vec<String>> = graph.keys().cloned().collect();
    for v in &nodes {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn crate_sources() -> Vec<(String, PathBuf)> {
    let root = common::repo();
    let mut out = vec![("ttc".to_string(), root.join("src"))];
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    crates.sort();
    for c in crates {
        out.push((
            c.file_name().unwrap().to_string_lossy().into_owned(),
            c.join("src"),
        ));
    }
    out
}

#[test]
fn no_crate_has_an_import_circle() {
    let mut found = Vec::new();
    for (name, src) in crate_sources() {
        let (files, graph) = edges(&src);
        assert!(
            files.len() > 1 || name == "ttc-core",
            "{name}: no files under {}",
            src.display()
        );
        for comp in cycles(&graph) {
            let set: BTreeSet<&Vec<String>> = comp.iter().collect();
            let mut closing = Vec::new();
            for a in &comp {
                for b in graph
                    .get(a)
                    .into_iter()
                    .flatten()
                    .filter(|b| set.contains(b))
                {
                    closing.push(format!("{} → {}", files[a].display(), files[b].display()));
                }
            }
            found.push(format!("{name}: {}", closing.join(", ")));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

/// The checker finds a circle where there is one, and follows `super` and `crate` paths.
#[test]
fn the_checker_sees_a_circle_and_ignores_reexports_and_comments() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "pub mod a;\npub mod b;\npub use a::X;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "pub mod c;\npub use c::Y;\nuse crate::b::Z;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a/c.rs"),
        "fn f() { super::super::b::g(); }\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::Y;\n}\n",
    )
    .unwrap();
    std::fs::write(
        src.join("b.rs"),
        "// crate::a::X in a comment\nconst S: &str = \"crate::a\";\npub fn g() {}\n",
    )
    .unwrap();
    let (_, g) = edges(src);
    assert!(cycles(&g).is_empty(), "{g:?}");
    // b now really uses a: a → b → a.
    std::fs::write(src.join("b.rs"), "pub fn g() { crate::a::h(); }\n").unwrap();
    let (_, g) = edges(src);
    let c = cycles(&g);
    assert_eq!(c.len(), 1, "{g:?}");
    let mut names: Vec<String> = c[0].iter().map(|m| m.join("::")).collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    // a/c.rs → b via super::super.
    assert!(g[&vec!["a".to_string(), "c".to_string()]].contains(&vec!["b".to_string()]));
}
