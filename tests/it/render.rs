//! The plan and every rendered file, for the machines memsafe's users have.

use memsafe::hardware::{Hardware, MemorySource, Os};
use memsafe::owned::FileId;
use memsafe::plan::{Answers, Editors, Plan, Preset};
use memsafe::render::{self, Templates};

use crate::common::{hardware, snapshots};

fn combined(plan: &Plan) -> String {
    let templates = Templates::new();
    let mut out = format!(
        "── plan.json ──\n{}\n",
        serde_json::to_string_pretty(plan).unwrap()
    );
    let editors = plan.answers.editors;
    for (wanted, name, file) in [
        (true, "Cargo.toml (merged part)", FileId::Manifest),
        (true, ".cargo/config.toml", FileId::CargoConfig),
        (editors.vscode, ".vscode/settings.json", FileId::Vscode),
        (editors.zed, ".zed/settings.json", FileId::Zed),
        (editors.helix, ".helix/languages.toml", FileId::Helix),
    ] {
        if wanted {
            out.push_str(&format!("── {name} ──\n{}\n", templates.fragment(file, plan)));
        }
    }
    for (name, id) in [
        ("test-safe.sh", render::TEST_SH),
        ("test-safe.ps1", render::TEST_PS1),
    ] {
        out.push_str(&format!("── {name} ──\n{}\n", templates.render(id, plan)));
    }
    out
}

fn check(name: &str, hardware: &Hardware, answers: Answers) {
    let plan = Plan::compute(hardware, &answers);
    snapshots(|| insta::assert_snapshot!(name, combined(&plan)));
}

#[test]
fn linux_2_cpus_4_gib() {
    check(
        "render_linux_2cpu_4gib",
        &hardware(4.0, 2, Os::Linux),
        Answers::default(),
    );
}

#[test]
fn windows_4_cpus_8_gib() {
    check(
        "render_windows_4cpu_8gib",
        &hardware(8.0, 4, Os::Windows),
        Answers::default(),
    );
}

#[test]
fn macos_8_cpus_16_gib() {
    check(
        "render_macos_8cpu_16gib",
        &hardware(16.0, 8, Os::Macos),
        Answers::default(),
    );
}

#[test]
fn linux_16_cpus_32_gib() {
    check(
        "render_linux_16cpu_32gib",
        &hardware(32.0, 16, Os::Linux),
        Answers::default(),
    );
}

#[test]
fn linux_32_cpus_128_gib() {
    check(
        "render_linux_32cpu_128gib",
        &hardware(128.0, 32, Os::Linux),
        Answers::default(),
    );
}

#[test]
fn container_limit_2_gib_on_8_cpus() {
    let mut container = hardware(2.0, 8, Os::Linux);
    container.memory_source = MemorySource::CgroupLimit;
    check("render_container_2gib_8cpu", &container, Answers::default());
}

#[test]
fn presets_on_a_16_gib_laptop() {
    let laptop = hardware(16.0, 8, Os::Linux);
    check(
        "render_linux_8cpu_16gib_safe",
        &laptop,
        Answers {
            preset: Preset::Safe,
            ..Answers::default()
        },
    );
    check(
        "render_linux_8cpu_16gib_fast",
        &laptop,
        Answers {
            preset: Preset::Fast,
            ..Answers::default()
        },
    );
}

#[test]
fn every_editor_on_a_safe_16_gib_mac() {
    let answers = Answers {
        preset: Preset::Safe,
        editors: Editors {
            vscode: true,
            zed: true,
            helix: true,
        },
        ..Answers::default()
    };
    check(
        "render_macos_8cpu_16gib_all_editors_safe",
        &hardware(16.0, 8, Os::Macos),
        answers,
    );
}

/// The nested settings of Zed and Helix, flattened to VS Code's names: the same schema applies.
fn flattened(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match value {
        serde_json::Value::Object(entries) => {
            for (key, value) in entries {
                flattened(&format!("{prefix}.{key}"), value, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

#[test]
fn zed_and_helix_keys_are_in_the_rust_analyzer_schema() {
    let schema: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(include_str!("../fixtures/rust-analyzer-settings.json")).unwrap();
    let templates = Templates::new();
    for preset in [Preset::Safe, Preset::Balanced, Preset::Fast] {
        let answers = Answers {
            preset,
            editors: Editors {
                vscode: false,
                zed: true,
                helix: true,
            },
            ..Answers::default()
        };
        let plan = Plan::compute(&hardware(3.0, 64, Os::Linux), &answers);
        let zed: serde_json::Value = serde_json::from_str(&templates.fragment(FileId::Zed, &plan)).unwrap();
        let zed_options = &zed["lsp"]["rust-analyzer"]["initialization_options"];
        let helix = templates.fragment(FileId::Helix, &plan);
        let mut keys = Vec::new();
        flattened("rust-analyzer", zed_options, &mut keys);
        assert!(keys.len() >= 4, "{keys:?}");
        for (path, value) in memsafe::merge::toml::leaves(&helix) {
            let key = path
                .strip_prefix("language-server.rust-analyzer.config.")
                .expect("under the rust-analyzer config");
            // TOML values of these shapes (integers, booleans, string arrays) read as JSON.
            let value: serde_json::Value = serde_json::from_str(&value).expect("a JSON-compatible value");
            keys.push((format!("rust-analyzer.{key}"), value));
        }
        for (key, value) in keys {
            let entry = schema
                .get(&key)
                .unwrap_or_else(|| panic!("`{key}` is not in the schema"));
            assert!(
                fits(&entry["schema"], &value),
                "`{key}` = {value} does not fit {}",
                entry["schema"]
            );
        }
    }
}

/// Every rust-analyzer key memsafe writes is in rust-analyzer's current settings schema (copied
/// from ../shared/data), with a value of the declared type and range, and none is an old name.
#[test]
fn vscode_keys_are_in_the_rust_analyzer_schema() {
    let schema: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(include_str!("../fixtures/rust-analyzer-settings.json")).unwrap();
    let renamed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(include_str!("../../src/data/rust-analyzer-renamed-settings.json")).unwrap();
    let templates = Templates::new();
    for preset in [Preset::Safe, Preset::Balanced, Preset::Fast] {
        for gib in [2.0, 4.0, 16.0, 256.0] {
            let plan = Plan::compute(
                &hardware(gib, 64, Os::Linux),
                &Answers {
                    preset,
                    ..Answers::default()
                },
            );
            let settings: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&templates.fragment(FileId::Vscode, &plan)).unwrap();
            for (key, value) in &settings {
                assert!(!renamed.contains_key(key), "`{key}` is an old name");
                if !key.starts_with("rust-analyzer.") {
                    continue;
                }
                let entry = schema
                    .get(key)
                    .unwrap_or_else(|| panic!("`{key}` is not in the schema"));
                assert!(
                    fits(&entry["schema"], value),
                    "`{key}` = {value} does not fit {}",
                    entry["schema"]
                );
            }
        }
    }
}

/// A value against the JSON-schema subset rust-analyzer's manifest uses.
fn fits(schema: &serde_json::Value, value: &serde_json::Value) -> bool {
    if let Some(any) = schema.get("anyOf").and_then(|a| a.as_array()) {
        return any.iter().any(|alternative| fits(alternative, value));
    }
    if let Some(allowed) = schema.get("enum").and_then(|e| e.as_array())
        && !allowed.contains(value)
    {
        return false;
    }
    let types: Vec<&str> = match &schema["type"] {
        serde_json::Value::String(t) => vec![t.as_str()],
        serde_json::Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).collect(),
        _ => vec![],
    };
    let type_ok = types.iter().any(|t| match *t {
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "string" => value.is_string(),
        "null" => value.is_null(),
        "object" => value.is_object(),
        "array" => value.as_array().is_some_and(|items| {
            items
                .iter()
                .all(|item| schema.get("items").is_none_or(|s| fits(s, item)))
        }),
        _ => false,
    });
    let number = value.as_f64();
    let in_range = number.is_none_or(|n| {
        schema
            .get("minimum")
            .and_then(serde_json::Value::as_f64)
            .is_none_or(|min| n >= min)
            && schema
                .get("maximum")
                .and_then(serde_json::Value::as_f64)
                .is_none_or(|max| n <= max)
    });
    type_ok && in_range
}

#[test]
fn schema_check_catches_a_bad_value() {
    let schema =
        serde_json::json!({"anyOf": [{"type": "null"}, {"type": "number", "minimum": 0, "maximum": 255}]});
    assert!(fits(&schema, &serde_json::json!(4)));
    assert!(!fits(&schema, &serde_json::json!(300)));
    assert!(!fits(&schema, &serde_json::json!("4")));
}
