//! `extends = "base.toml"`: a preset written as its differences from another (DESIGN §1).
//! The base (itself possibly extending another) is read first; the preset's tables merge into
//! it key by key, recursively, and any other value — a number, a string, an array, an array
//! of tables such as `[[search.runs]]` — replaces the base's. TOML has no null, so a key the
//! base sets and this preset wants absent is named in `unset = ["section.key", …]`. Relative
//! paths keep meaning what they meant in the file that wrote them. What comes out is one
//! TOML table, deserialized into [`super::Preset`] as a preset written in one file would be.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use toml::{Table, Value};

/// The preset keys that hold paths, relative to the file that writes them.
const PATH_KEYS: &[(&str, &str)] = &[
    ("problems", "test"),
    ("problems", "train"),
    ("problems", "val"),
    ("import", "policy"),
    ("import", "prm"),
    ("import", "policy_large"),
    ("prm", "init"),
];

/// A preset file with what it extends merged in.
pub struct Resolved {
    /// The merged table, `extends` removed; paths relative to the first file's directory.
    pub table: Table,
    /// Every file read with its text: the preset first, then what it extends, in order.
    pub files: Vec<(PathBuf, String)>,
}

/// Read `path` and, when it has `extends`, the presets it extends.
pub fn resolve(path: &Path) -> Result<Resolved> {
    let mut files = Vec::new();
    let table = resolve_into(path, &mut Vec::new(), &mut files)?;
    Ok(Resolved { table, files })
}

fn resolve_into(
    path: &Path,
    chain: &mut Vec<PathBuf>,
    files: &mut Vec<(PathBuf, String)>,
) -> Result<Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading preset {}", path.display()))?;
    let mut table: Table = text.parse().map_err(|e: toml::de::Error| {
        anyhow::anyhow!("{}{}: {}", path.display(), line_of(&e, &text), e.message())
    })?;
    files.push((path.to_path_buf(), text));
    let Some(ext) = table.remove("extends") else {
        return Ok(table);
    };
    let Value::String(name) = ext else {
        bail!(
            "{}: extends: the file name of the preset this one extends (a string), got {ext}",
            path.display()
        );
    };
    if !table.contains_key("name") {
        bail!(
            "{}: a preset that extends {name:?} needs its own `name` (it would share the base's run directories)",
            path.display()
        );
    }
    let me = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    chain.push(me);
    let base_path = path.parent().unwrap_or(Path::new(".")).join(&name);
    let base_id = base_path
        .canonicalize()
        .unwrap_or_else(|_| base_path.clone());
    if chain.contains(&base_id) {
        let names: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "{}: extends {name:?}, which leads back to it ({} → {})",
            path.display(),
            names.join(" → "),
            base_id.display()
        );
    }
    let mut base = resolve_into(&base_path, chain, files)
        .with_context(|| format!("{}: extends {name:?}", path.display()))?;
    chain.pop();
    if let Some(unset) = table.remove("unset") {
        remove_keys(&mut base, &unset)
            .map_err(|m| anyhow::anyhow!("{}: unset: {m}", path.display()))?;
    }
    if let Some(dir) = Path::new(&name)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        rebase_paths(&mut base, dir);
    }
    merge(&mut base, table);
    Ok(base)
}

/// Remove each dotted key of `unset` (an array of strings) from `base`; a key the base does
/// not set is an error (a typo would otherwise pass unnoticed).
fn remove_keys(base: &mut Table, unset: &Value) -> Result<(), String> {
    let Value::Array(keys) = unset else {
        return Err(format!("an array of dotted keys, got {unset}"));
    };
    for k in keys {
        let Value::String(k) = k else {
            return Err(format!("an array of dotted keys, got {k}"));
        };
        let parts: Vec<&str> = k.split('.').collect();
        let (last, sections) = parts.split_last().expect("split gives one");
        let mut t = &mut *base;
        for s in sections {
            t = match t.get_mut(*s) {
                Some(Value::Table(inner)) => inner,
                _ => return Err(format!("{k:?}: the base has no [{s}] table")),
            };
        }
        if t.remove(*last).is_none() {
            return Err(format!("{k:?}: the base does not set it"));
        }
    }
    Ok(())
}

/// `over` on top of `base`: tables merge key by key; anything else replaces.
pub(crate) fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The base's relative paths, re-expressed from the extending file's directory.
fn rebase_paths(table: &mut Table, dir: &Path) {
    for (section, key) in PATH_KEYS {
        let Some(Value::Table(s)) = table.get_mut(*section) else {
            continue;
        };
        if let Some(Value::String(p)) = s.get_mut(*key)
            && Path::new(p.as_str()).is_relative()
            && !(*section == "prm" && super::PRM_INIT_NAMES.contains(&p.as_str()))
        {
            *p = dir.join(&*p).to_string_lossy().into_owned();
        }
    }
}

/// `:LINE` of a TOML parse error, when it has a place.
fn line_of(e: &toml::de::Error, text: &str) -> String {
    e.span()
        .map(|s| format!(":{}", text[..s.start].matches('\n').count() + 1))
        .unwrap_or_default()
}

/// Where a deserialization error of a merged preset comes from: the first file (the preset
/// before what it extends) and line that writes the key the message names in backticks.
pub fn locate(message: &str, files: &[(PathBuf, String)]) -> String {
    let key = (!message.starts_with("missing field"))
        .then(|| message.split('`').nth(1))
        .flatten()
        .filter(|k| !k.is_empty() && !k.contains(' '));
    if let Some(key) = key.map(|k| k.rsplit('.').next().unwrap_or(k)) {
        for (path, text) in files {
            for (i, line) in text.lines().enumerate() {
                let l = line.trim_start();
                let is_key = l
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='));
                let is_table = l.starts_with('[')
                    && l.trim_matches(|c| c == '[' || c == ']')
                        .rsplit('.')
                        .next()
                        .is_some_and(|last| last.trim() == key);
                if is_key || is_table {
                    return format!("{}:{}: {message}", path.display(), i + 1);
                }
            }
        }
    }
    let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    format!("{}: {message}", names.join(" (extends) "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn tables_merge_and_other_values_replace() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "base.toml",
            "name = \"base\"\n[a]\nx = 1\ny = [1, 2]\n[a.inner]\nk = \"base\"\nj = 3\n[[runs]]\nn = 1\n[[runs]]\nn = 2\n",
        );
        let child = write(
            d.path(),
            "child.toml",
            "extends = \"base.toml\"\nname = \"child\"\n[a]\ny = [9]\n[a.inner]\nk = \"child\"\n[[runs]]\nn = 7\n",
        );
        let r = resolve(&child).unwrap();
        let expected: Table = "name = \"child\"\n[a]\nx = 1\ny = [9]\n[a.inner]\nk = \"child\"\nj = 3\n[[runs]]\nn = 7\n"
            .parse()
            .unwrap();
        assert_eq!(r.table, expected);
        assert_eq!(r.files.len(), 2);
    }

    #[test]
    fn unset_removes_what_the_base_sets() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "base.toml",
            "name = \"b\"\n[r]\ncap = 16\nkeep = 1\n",
        );
        let c = write(
            d.path(),
            "c.toml",
            "extends = \"base.toml\"\nname = \"c\"\nunset = [\"r.cap\"]\n",
        );
        let t = resolve(&c).unwrap().table;
        assert_eq!(t["r"].as_table().unwrap().len(), 1, "{t:?}");
        assert_eq!(t["r"]["keep"].as_integer(), Some(1));
        let typo = write(
            d.path(),
            "t.toml",
            "extends = \"base.toml\"\nname = \"t\"\nunset = [\"r.cpa\"]\n",
        );
        let e = format!("{:#}", resolve(&typo).err().unwrap());
        assert!(
            e.contains("unset: \"r.cpa\": the base does not set it"),
            "{e}"
        );
    }

    #[test]
    fn base_paths_keep_their_meaning() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        write(
            d.path(),
            "sub/base.toml",
            "name = \"b\"\n[problems]\ntest = \"data/test.jsonl\"\ntrain = \"/abs/train.jsonl\"\n",
        );
        let child = write(
            d.path(),
            "c.toml",
            "extends = \"sub/base.toml\"\nname = \"c\"\n[import]\npolicy = \"m\"\n",
        );
        let t = resolve(&child).unwrap().table;
        let p = t["problems"].as_table().unwrap();
        assert_eq!(p["test"].as_str(), Some("sub/data/test.jsonl"));
        assert_eq!(p["train"].as_str(), Some("/abs/train.jsonl"));
        assert_eq!(t["import"]["policy"].as_str(), Some("m"));
    }

    #[test]
    fn loops_names_and_bad_values_are_errors() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.toml", "extends = \"b.toml\"\nname = \"a\"\n");
        let b = write(d.path(), "b.toml", "extends = \"a.toml\"\nname = \"b\"\n");
        let e = format!("{:#}", resolve(&b).err().unwrap());
        assert!(e.contains("leads back"), "{e}");
        let n = write(d.path(), "n.toml", "extends = \"a.toml\"\n");
        let e = format!("{:#}", resolve(&n).err().unwrap());
        assert!(e.contains("needs its own `name`"), "{e}");
        let v = write(d.path(), "v.toml", "extends = 3\nname = \"v\"\n");
        let e = format!("{:#}", resolve(&v).err().unwrap());
        assert!(e.contains("extends: the file name"), "{e}");
        let m = write(
            d.path(),
            "m.toml",
            "extends = \"missing.toml\"\nname = \"m\"\n",
        );
        let e = format!("{:#}", resolve(&m).err().unwrap());
        assert!(e.contains("missing.toml"), "{e}");
    }

    #[test]
    fn a_key_is_located_in_the_file_that_writes_it() {
        let files = vec![
            (
                PathBuf::from("child.toml"),
                "name = \"c\"\n[policy]\nsize = \"x\"\n".into(),
            ),
            (
                PathBuf::from("base.toml"),
                "[data]\ntrain = 1\nbogus = 2\n".into(),
            ),
        ];
        assert_eq!(
            locate("unknown field `bogus`, expected one of `a`", &files),
            "base.toml:3: unknown field `bogus`, expected one of `a`"
        );
        assert_eq!(
            locate("unknown field `size`", &files),
            "child.toml:3: unknown field `size`"
        );
        assert!(locate("something else", &files).starts_with("child.toml (extends) base.toml: "));
    }
}
