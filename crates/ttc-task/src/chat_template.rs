//! A tokenizer's own chat template — from every place transformers keeps one: its own file
//! `chat_template.jinja` (transformers ≥ 4.43 can, 5 always does), `chat_template.json`, or
//! `chat_template` in `tokenizer_config.json` (a string or named templates) — rendered
//! as transformers' `apply_chat_template(messages, add_generation_prompt=True,
//! tokenize=False)` does: Jinja (minijinja, with Python string methods through
//! minijinja-contrib's pycompat) with `trim_blocks` and `lstrip_blocks`, the special tokens
//! (`bos_token`, `eos_token`, …) as variables, `raise_exception`, `tojson` and
//! `strftime_now`. The rendered text holds its special tokens (Llama-3's BOS), so it is
//! encoded without adding any — transformers' `tokenize=True` does the same.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, ErrorKind, Value};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What the chat prompt holds beyond the problem: a system message and extra template
/// variables (e.g. Qwen3's `enable_thinking = false`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatOptions {
    /// A system message before the problem (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Extra variables for the template, as `apply_chat_template(**kwargs)`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kwargs: BTreeMap<String, serde_json::Value>,
}

/// A compiled chat template with the tokenizer's special tokens.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    specials: BTreeMap<String, String>,
    env: Environment<'static>,
}

impl PartialEq for ChatTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.specials == other.specials
    }
}

/// A special token in `tokenizer_config.json`: a string or an `AddedToken` object.
fn token_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// A JSON file of a checkpoint, read whole; errors name it.
fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Config(format!("{}: not JSON ({e})", path.display())))
}

/// The `chat_template` of a `tokenizer_config.json` or `chat_template.json`: a string, or
/// named templates of which transformers takes "default"; `None` when absent.
fn template_in(cfg: &serde_json::Value, path: &Path) -> Result<Option<String>> {
    match cfg.get("chat_template") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .and_then(|t| t.get("template")?.as_str().map(str::to_string))
            .map(Some)
            .ok_or_else(|| {
                Error::Config(format!(
                    "{}: chat_template is a list without a \"default\" entry",
                    path.display()
                ))
            }),
        Some(_) => Err(Error::Config(format!(
            "{}: chat_template is neither a string nor a list of named templates",
            path.display()
        ))),
    }
}

/// The special tokens a template sees (`bos_token`, …) as a tokenizer config gives them.
fn specials_of(cfg: &serde_json::Value) -> BTreeMap<String, String> {
    let mut specials = BTreeMap::new();
    for key in ["bos_token", "eos_token", "pad_token", "unk_token"] {
        if let Some(t) = cfg.get(key).and_then(token_text) {
            specials.insert(key.to_string(), t);
        }
    }
    specials
}

fn raise_exception(msg: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
}

fn strftime_now(format: String) -> String {
    chrono::Local::now().format(&format).to_string()
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent)`.
fn tojson(value: Value, indent: Option<usize>) -> std::result::Result<String, minijinja::Error> {
    let v: serde_json::Value = serde_json::to_value(&value)
        .map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let s = match indent {
        None => python_json(&v),
        Some(n) => {
            let ind = " ".repeat(n);
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(ind.as_bytes());
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&v, &mut ser)
                .map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
            String::from_utf8(buf).expect("json is utf-8")
        }
    };
    Ok(s)
}

/// Python's `json.dumps` separators: `", "` and `": "`.
fn python_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(python_json).collect();
            format!("[{}]", items.join(", "))
        }
        serde_json::Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        serde_json::Value::from(k.as_str()),
                        python_json(v)
                    )
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// A JSON value as a template value (not through serde: with serde_json's
/// arbitrary_precision a number would arrive as a private map).
fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(json_value).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => Value::from_iter(
            o.iter()
                .map(|(k, v)| (Value::from(k.as_str()), json_value(v))),
        ),
    }
}

impl ChatTemplate {
    /// Compile `source` with the special tokens `specials` (`bos_token` → text, …).
    pub fn new(source: &str, specials: BTreeMap<String, String>) -> Result<ChatTemplate> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| Error::Config(format!("chat template: {e:#}")))?;
        Ok(ChatTemplate {
            source: source.to_string(),
            specials,
            env,
        })
    }

    /// The template and special tokens of a `tokenizer_config.json`; `None` when it has no
    /// `chat_template`.
    pub fn from_tokenizer_config(path: &Path) -> Result<Option<ChatTemplate>> {
        let cfg = read_json(path)?;
        let Some(source) = template_in(&cfg, path)? else {
            return Ok(None);
        };
        ChatTemplate::new(&source, specials_of(&cfg))
            .map(Some)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// The chat template of checkpoint directory `dir`, found where transformers looks for
    /// it, in its order: `chat_template.jinja`, `chat_template.json`, then
    /// `tokenizer_config.json`'s `chat_template`. The special tokens come from
    /// `tokenizer_config.json`, and from `special_tokens_map.json` for those it lacks.
    /// `Ok(None)`: the checkpoint has no template.
    pub fn from_checkpoint(dir: &Path) -> Result<Option<ChatTemplate>> {
        let config_path = dir.join("tokenizer_config.json");
        let config = if config_path.exists() {
            read_json(&config_path)?
        } else {
            serde_json::Value::Null
        };
        let mut specials = specials_of(&config);
        let map_path = dir.join("special_tokens_map.json");
        if map_path.exists() {
            for (k, v) in specials_of(&read_json(&map_path)?) {
                specials.entry(k).or_insert(v);
            }
        }
        let jinja = dir.join("chat_template.jinja");
        let json = dir.join("chat_template.json");
        let (source, from) = if jinja.exists() {
            let s = std::fs::read_to_string(&jinja)
                .map_err(|e| Error::Config(format!("{}: {e}", jinja.display())))?;
            (s, jinja)
        } else if json.exists() {
            match template_in(&read_json(&json)?, &json)? {
                Some(s) => (s, json),
                None => {
                    return Err(Error::Config(format!(
                        "{}: has no chat_template",
                        json.display()
                    )));
                }
            }
        } else {
            match template_in(&config, &config_path)? {
                Some(s) => (s, config_path),
                None => return Ok(None),
            }
        };
        ChatTemplate::new(&source, specials)
            .map(Some)
            .map_err(|e| Error::Config(format!("{}: {e}", from.display())))
    }

    /// The prompt for `problem`: the system message (if any) and the problem as the user's
    /// turn, with the assistant's turn opened (`add_generation_prompt=True`).
    pub fn render(&self, problem: &str, options: &ChatOptions) -> Result<String> {
        self.render_messages(&[("user", problem)], true, options)
    }

    /// A conversation of `(role, content)` turns after the options' system message (if
    /// any), as `apply_chat_template(messages, add_generation_prompt=…, tokenize=False)`.
    pub fn render_messages(
        &self,
        turns: &[(&str, &str)],
        add_generation_prompt: bool,
        options: &ChatOptions,
    ) -> Result<String> {
        let mut messages = Vec::new();
        if let Some(s) = &options.system {
            messages.push(serde_json::json!({"role": "system", "content": s}));
        }
        for (role, content) in turns {
            messages.push(serde_json::json!({"role": role, "content": content}));
        }
        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in &self.specials {
            ctx.insert(k.clone(), Value::from(v.as_str()));
        }
        for (k, v) in &options.kwargs {
            ctx.insert(k.clone(), json_value(v));
        }
        ctx.insert(
            "messages".into(),
            json_value(&serde_json::Value::Array(messages)),
        );
        ctx.insert(
            "add_generation_prompt".into(),
            Value::from(add_generation_prompt),
        );
        let tmpl = self.env.get_template("chat").expect("added in new");
        tmpl.render(ctx)
            .map_err(|e| Error::Config(format!("chat template: {e:#}")))
    }

    /// The special tokens given to the template.
    pub fn specials(&self) -> &BTreeMap<String, String> {
        &self.specials
    }

    /// The template's source text.
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_messages_specials_and_python_methods() {
        let src = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content.strip() }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
        let t =
            ChatTemplate::new(src, [("bos_token".to_string(), "<s>".to_string())].into()).unwrap();
        let o = ChatOptions {
            system: Some("Be brief.".into()),
            kwargs: BTreeMap::new(),
        };
        assert_eq!(
            t.render(" 1+1? ", &o).unwrap(),
            "<s><system>Be brief.\n<user>1+1?\n<assistant>"
        );
    }

    #[test]
    fn template_errors_are_reported_not_panics() {
        let e = ChatTemplate::new("{% for %}", BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("chat template"), "{e}");
        let t =
            ChatTemplate::new("{{ raise_exception('no system role') }}", BTreeMap::new()).unwrap();
        let e = t
            .render("x", &ChatOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no system role"), "{e}");
    }

    #[test]
    fn tojson_matches_python_separators() {
        let t = ChatTemplate::new("{{ x | tojson }}", BTreeMap::new()).unwrap();
        let mut o = ChatOptions::default();
        o.kwargs
            .insert("x".into(), serde_json::json!({"a": [1, "é"]}));
        assert_eq!(t.render("p", &o).unwrap(), "{\"a\": [1, \"é\"]}");
    }
}
