//! A checkpoint's text files as transformers 5 saves them (`tests/fixtures/tf5`, made by
//! `tests/fixtures/make_tf5_fixtures.py` with transformers' own `save_pretrained`): the chat
//! template lives in `chat_template.jinja`, not in `tokenizer_config.json`, and renders as
//! `apply_chat_template` rendered it there; the other places transformers keeps a template
//! (`chat_template.json`, `tokenizer_config.json`) and its special tokens
//! (`special_tokens_map.json`) are read in transformers' order.

use std::path::{Path, PathBuf};

use ttc_task::chat_template::ChatOptions;
use ttc_task::tokenizer::PromptTemplate;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tf5")
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture().join("expected.json")).unwrap())
        .unwrap()
}

fn copy(to: &Path) {
    for e in std::fs::read_dir(fixture()).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn the_template_in_chat_template_jinja_renders_as_transformers_did() {
    let want = expected();
    let dir = fixture();
    assert!(dir.join("chat_template.jinja").exists());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tokenizer_config.json")).unwrap())
            .unwrap();
    assert!(
        config.get("chat_template").is_none(),
        "transformers 5 keeps it apart"
    );
    let problem = want["problem"].as_str().unwrap();
    let t = PromptTemplate::chat(&dir, ChatOptions::default()).unwrap();
    assert_eq!(
        t.render(problem).unwrap(),
        want["rendered"].as_str().unwrap()
    );
    let with_system = ChatOptions {
        system: Some(want["system"].as_str().unwrap().to_string()),
        ..ChatOptions::default()
    };
    let t = PromptTemplate::chat(&dir, with_system).unwrap();
    assert_eq!(
        t.render(problem).unwrap(),
        want["rendered_with_system"].as_str().unwrap()
    );
}

#[test]
fn every_place_transformers_keeps_a_template_is_read_in_its_order() {
    let want = expected();
    let problem = want["problem"].as_str().unwrap();
    let rendered = want["rendered"].as_str().unwrap();
    let jinja = std::fs::read_to_string(fixture().join("chat_template.jinja")).unwrap();
    let d = tempfile::tempdir().unwrap();
    copy(d.path());
    let render = |dir: &Path| {
        PromptTemplate::chat(dir, ChatOptions::default())
            .and_then(|t| t.render(problem))
            .map_err(|e| e.to_string())
    };
    // chat_template.jinja comes before a tokenizer_config.json template (as in transformers).
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("tokenizer_config.json")).unwrap(),
    )
    .unwrap();
    config["chat_template"] = serde_json::json!("{{ 'from tokenizer_config' }}");
    std::fs::write(d.path().join("tokenizer_config.json"), config.to_string()).unwrap();
    assert_eq!(render(d.path()).unwrap(), rendered);
    // Without the .jinja file: chat_template.json, then tokenizer_config.json.
    std::fs::remove_file(d.path().join("chat_template.jinja")).unwrap();
    std::fs::write(
        d.path().join("chat_template.json"),
        serde_json::json!({ "chat_template": jinja }).to_string(),
    )
    .unwrap();
    assert_eq!(render(d.path()).unwrap(), rendered);
    std::fs::remove_file(d.path().join("chat_template.json")).unwrap();
    assert_eq!(render(d.path()).unwrap(), "from tokenizer_config");
    // None anywhere: an error that says where it looked.
    config.as_object_mut().unwrap().remove("chat_template");
    std::fs::write(d.path().join("tokenizer_config.json"), config.to_string()).unwrap();
    let e = render(d.path()).unwrap_err();
    assert!(
        e.contains("chat_template.jinja") && e.contains("tokenizer_config.json"),
        "{e}"
    );
}

#[test]
fn special_tokens_come_from_special_tokens_map_where_the_config_lacks_them() {
    let d = tempfile::tempdir().unwrap();
    copy(d.path());
    std::fs::write(
        d.path().join("chat_template.jinja"),
        "{{ bos_token }}{{ messages[0]['content'] }}{{ eos_token }}",
    )
    .unwrap();
    std::fs::write(
        d.path().join("special_tokens_map.json"),
        r#"{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"}"#,
    )
    .unwrap();
    let t = PromptTemplate::chat(d.path(), ChatOptions::default()).unwrap();
    // eos from tokenizer_config.json (it has one), bos from special_tokens_map.json.
    assert_eq!(t.render("x").unwrap(), "<s>x<|im_end|>");
}
