//! The documentation cannot drift from the code: every "DESIGN §N" the sources cite is a
//! section of `docs/design.md`; every module a section names as implementing it exists;
//! every relative link in the README and `docs/` resolves; nothing in the repository points
//! outside it; and the README's first screen holds the two commands.

use std::path::{Path, PathBuf};

mod common;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if !matches!(
                name.as_str(),
                "target"
                    | ".git"
                    | "datasets"
                    | "checkpoints"
                    | "reports"
                    | "__pycache__"
                    | "fixtures"
            ) {
                walk(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// The repository's own text files: sources, presets, scripts and documentation.
fn text_files() -> Vec<PathBuf> {
    let mut all = Vec::new();
    walk(&common::repo(), &mut all);
    all.into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("rs" | "md" | "toml" | "sh" | "py" | "sbatch")
            ) || name == "justfile"
                || name == "run"
        })
        .collect()
}

fn design() -> String {
    std::fs::read_to_string(common::repo().join("docs/design.md")).unwrap()
}

/// The numbers of `## N. Title` headings.
fn sections(doc: &str) -> Vec<u32> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|l| l.split('.').next()?.parse().ok())
        .collect()
}

#[test]
fn every_design_citation_names_a_section() {
    let have = sections(&design());
    assert!(have.len() >= 12, "docs/design.md sections: {have:?}");
    let mut cited = 0;
    let mut bad = Vec::new();
    for f in text_files() {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            for part in line.split("DESIGN §").skip(1) {
                let n: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
                if n.is_empty() {
                    continue; // prose about citations, not one
                }
                cited += 1;
                match n.parse::<u32>() {
                    Ok(n) if have.contains(&n) => {}
                    _ => bad.push(format!("{}:{}: DESIGN §{n}", f.display(), i + 1)),
                }
            }
        }
    }
    assert!(
        cited > 50,
        "only {cited} citations found: is the walk right?"
    );
    assert!(
        bad.is_empty(),
        "citations of no section:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_section_names_modules_that_exist() {
    let doc = design();
    let root = common::repo();
    let mut missing = Vec::new();
    for chunk in doc.split("\n## ").skip(1) {
        let title = chunk.lines().next().unwrap();
        let Some(at) = chunk.find("**Implemented in:**") else {
            missing.push(format!("§{title}: no **Implemented in:** line"));
            continue;
        };
        let rest = &chunk[at..];
        let para = rest.split("\n\n").next().unwrap();
        let paths: Vec<&str> = para.split('`').skip(1).step_by(2).collect();
        assert!(!paths.is_empty(), "§{title}: names no module");
        for p in paths {
            if !root.join(p).exists() {
                missing.push(format!("§{title}: {p}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/design.md names what is not there:\n{}",
        missing.join("\n")
    );
}

#[test]
fn relative_links_resolve() {
    let root = common::repo();
    let mut docs = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        docs.push(e.path());
    }
    let mut broken = Vec::new();
    for d in docs {
        let text = std::fs::read_to_string(&d).unwrap();
        for part in text.split("](").skip(1) {
            let target = part.split(')').next().unwrap();
            if target.contains("://") || target.starts_with('#') {
                continue;
            }
            let file = target.split('#').next().unwrap();
            if !d.parent().unwrap().join(file).exists() {
                broken.push(format!("{}: {target}", d.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn nothing_points_outside_the_repository() {
    // The team checkout's folder beside the repo, spelled so this file does not name it.
    let outside = ["..", "shared"].join("/");
    let mut out = Vec::new();
    for f in text_files() {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if line.contains(&outside) {
                out.push(format!("{}:{}", f.display(), i + 1));
            }
        }
    }
    assert!(
        out.is_empty(),
        "paths outside the repository:\n{}",
        out.join("\n")
    );
}

#[test]
fn the_readme_starts_a_newcomer_in_one_screen() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    assert!(lines.len() <= 150, "README.md has {} lines", lines.len());
    let first = lines[..40.min(lines.len())].join("\n");
    for must in ["just pipeline", "just test", "h on 2 cores", "report.html"] {
        assert!(
            first.contains(must),
            "README's first 40 lines lack {must:?}"
        );
    }
}
