//! Merges on real-world files (tests/fixtures, copied from ../shared/fixtures/real) and on the
//! shapes cargo and VS Code allow: only managed keys change, every other byte stays, a second
//! merge changes nothing.

use memsafe::merge::{self, MergeError};
use memsafe::owned::FileId;
use memsafe::plan::{Plan, Preset};
use memsafe::render::Templates;
use similar::{ChangeTag, TextDiff};
use toml_edit::{Item, Value};

use crate::common::{self, diff, fixtures, snapshots};

/// The safe preset writes every managed key there is.
fn safe_plan() -> Plan {
    common::plan(16.0, 8, Preset::Safe)
}

const CARGO_MANAGED: &[&str] = &[
    "profile.dev.debug",
    "profile.dev.incremental",
    "profile.dev.package.*.debug",
];
const CONFIG_MANAGED: &[&str] = &["build.jobs", "env.RUST_TEST_THREADS"];

/// Every leaf of a TOML document as (dotted path, value text with its decor).
fn toml_leaves(text: &str) -> Vec<(String, String)> {
    fn walk(item: &Item, path: &str, out: &mut Vec<(String, String)>) {
        match item {
            Item::Table(table) => {
                for (key, child) in table.iter() {
                    walk(child, &join(path, key), out);
                }
            }
            Item::ArrayOfTables(array) => {
                for (index, table) in array.iter().enumerate() {
                    for (key, child) in table.iter() {
                        walk(child, &join(&format!("{path}[{index}]"), key), out);
                    }
                }
            }
            Item::Value(Value::InlineTable(table)) => {
                for (key, value) in table.iter() {
                    walk(&Item::Value(value.clone()), &join(path, key), out);
                }
            }
            Item::Value(value) => out.push((path.to_string(), value.to_string())),
            Item::None => {}
        }
    }
    fn join(path: &str, key: &str) -> String {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    }
    let (_, body) = merge::text::Shape::of(text);
    let document: toml_edit::DocumentMut = body.parse().unwrap();
    let mut out = Vec::new();
    walk(document.as_item(), "", &mut out);
    out
}

/// Lines removed and added by a merge.
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for change in TextDiff::from_lines(before, after).iter_all_changes() {
        let line = change.value().trim_end_matches(['\r', '\n']).to_string();
        match change.tag() {
            ChangeTag::Delete => removed.push(line),
            ChangeTag::Insert => added.push(line),
            ChangeTag::Equal => {}
        }
    }
    (removed, added)
}

/// The checks every TOML merge must pass; returns the merged text.
fn check_toml_merge(name: &str, before: &str, generated: &str, managed: &[&str], headers: &[&str]) -> String {
    let after = merge::toml::merge(before, generated).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        merge::toml::merge(&after, generated).unwrap(),
        after,
        "{name}: a second merge changed the file"
    );

    // Every unmanaged leaf keeps its exact text, decor included.
    let after_leaves = toml_leaves(&after);
    for (path, value) in toml_leaves(before) {
        if managed.contains(&path.as_str()) {
            continue;
        }
        let kept = after_leaves.iter().find(|(p, _)| *p == path).map(|(_, v)| v);
        assert_eq!(kept, Some(&value), "{name}: `{path}` changed");
    }
    // Every managed leaf has the generated value.
    for (path, value) in toml_leaves(generated) {
        let merged = after_leaves
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, v)| v.trim().to_string());
        assert_eq!(merged, Some(value.trim().to_string()), "{name}: `{path}`");
    }
    // Only managed key lines leave; only they, their tables' headers and blank lines arrive.
    let managed_keys: Vec<&str> = managed.iter().map(|p| p.rsplit('.').next().unwrap()).collect();
    let is_managed_line = |line: &str| {
        let key = line.split('=').next().unwrap_or("").trim();
        managed_keys
            .iter()
            .any(|managed| key == *managed || key.ends_with(&format!(".{managed}")))
    };
    // A file without a final newline gets one when memsafe appends to it.
    let before_lines = if before.ends_with('\n') || before.is_empty() {
        before.to_string()
    } else {
        format!("{before}{}", if before.contains("\r\n") { "\r\n" } else { "\n" })
    };
    let (removed, added) = changed_lines(&before_lines, &after);
    for line in &removed {
        assert!(is_managed_line(line), "{name}: removed `{line}`");
    }
    for line in &added {
        assert!(
            line.trim().is_empty() || is_managed_line(line) || headers.contains(&line.trim()),
            "{name}: added `{line}`"
        );
    }
    // Line endings and BOM as they were.
    assert_eq!(
        after.starts_with('\u{feff}'),
        before.starts_with('\u{feff}'),
        "{name}: BOM"
    );
    if before.contains("\r\n") && !before.replace("\r\n", "").contains('\n') {
        assert!(
            !after.replace("\r\n", "").contains('\n'),
            "{name}: a bare LF in a CRLF file"
        );
    }
    after
}

/// Merges the template into every fixture of a folder, checks each, and snapshots the diffs.
fn check_toml_fixtures(folder: &str, file: FileId, managed: &[&str], headers: &[&str], snapshot: &str) {
    let generated = Templates::new().fragment(file, &safe_plan());
    let mut report = String::new();
    for (name, before) in fixtures(folder) {
        let after = check_toml_merge(&name, &before, &generated, managed, headers);
        report.push_str(&format!("── {name} ──\n{}\n", diff(&name, &before, &after)));
    }
    snapshots(|| insta::assert_snapshot!(snapshot, report));
}

#[test]
fn cargo_toml_fixtures() {
    let headers = ["[profile.dev]", "[profile.dev.package.\"*\"]"];
    check_toml_fixtures(
        "cargo-toml",
        FileId::Manifest,
        CARGO_MANAGED,
        &headers,
        "merge_cargo_toml_fixtures",
    );
}

#[test]
fn cargo_config_fixtures() {
    let headers = ["[build]", "[env]"];
    check_toml_fixtures(
        "cargo-config",
        FileId::CargoConfig,
        CONFIG_MANAGED,
        &headers,
        "merge_cargo_config_fixtures",
    );
}

/// Every comment in a JSONC text, in order.
fn comments(text: &str) -> Vec<String> {
    let mut scanner = jsonc_parser::Scanner::new(text, &jsonc_parser::ScannerOptions::default());
    let mut out = Vec::new();
    while let Ok(Some(token)) = scanner.scan() {
        match token {
            jsonc_parser::tokens::Token::CommentLine(c) | jsonc_parser::tokens::Token::CommentBlock(c) => {
                out.push(c.to_string());
            }
            _ => {}
        }
    }
    out
}

fn json_value(text: &str) -> serde_json::Map<String, serde_json::Value> {
    let (_, body) = merge::text::Shape::of(text);
    let root = jsonc_parser::cst::CstRootNode::parse(&body, &jsonc_parser::ParseOptions::default()).unwrap();
    match root.value().and_then(|v| v.to_serde_value()) {
        Some(serde_json::Value::Object(map)) => map,
        None => serde_json::Map::new(),
        Some(other) => panic!("not an object: {other}"),
    }
}

fn renamed_keys() -> Vec<String> {
    let data: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(include_str!("../../src/data/rust-analyzer-renamed-settings.json")).unwrap();
    data.keys().cloned().collect()
}

#[test]
fn vscode_settings_fixtures() {
    let generated = Templates::new().fragment(FileId::Vscode, &safe_plan());
    let ours: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&generated).unwrap();
    let renamed = renamed_keys();
    let mut report = String::new();
    for (name, before) in fixtures("vscode-settings") {
        let merged = merge::jsonc::merge(&before, &generated).unwrap_or_else(|e| panic!("{name}: {e}"));
        let after = merged.text;
        let again = merge::jsonc::merge(&after, &generated).unwrap();
        assert_eq!(again.text, after, "{name}: a second merge changed the file");
        // A second run renames nothing; it only warns again about old keys it cannot rename.
        assert!(
            again.notes.iter().all(|n| n.starts_with("left `")),
            "{name}: {:?}",
            again.notes
        );

        assert_eq!(comments(&after), comments(&before), "{name}: comments");
        let old = json_value(&before);
        let new = json_value(&after);
        for (key, value) in &old {
            if ours.contains_key(key) || renamed.contains(key) || key == "[rust]" {
                continue;
            }
            assert_eq!(new.get(key), Some(value), "{name}: `{key}` changed");
        }
        for (key, value) in &ours {
            match value {
                serde_json::Value::Object(entries) => {
                    for (inner, value) in entries {
                        assert_eq!(new[key].get(inner), Some(value), "{name}: {key}.{inner}");
                    }
                    // The user's own entries stay.
                    if let Some(serde_json::Value::Object(before)) = old.get(key) {
                        for (inner, value) in before {
                            assert_eq!(new[key].get(inner), Some(value), "{name}: {key}.{inner}");
                        }
                    }
                }
                serde_json::Value::Array(args) => {
                    let merged = new[key].as_array().unwrap();
                    assert!(merged.ends_with(args), "{name}: {key}");
                }
                _ => assert_eq!(new.get(key), Some(value), "{name}: {key}"),
            }
        }
        for key in new.keys() {
            let warned = merged
                .notes
                .iter()
                .any(|n| n.starts_with(&format!("left `{key}`")));
            assert!(
                !renamed.contains(key) || warned,
                "{name}: old key `{key}` left in place silently"
            );
        }
        report.push_str(&format!("── {name} ──\n"));
        for note in &merged.notes {
            report.push_str(&format!("note: {note}\n"));
        }
        report.push_str(&format!("{}\n", diff(&name, &before, &after)));
    }
    snapshots(|| insta::assert_snapshot!("merge_vscode_settings_fixtures", report));
}

#[test]
fn invalid_toml_names_line_and_column() {
    let (_, before) = fixtures("invalid").into_iter().next().unwrap();
    let generated = Templates::new().fragment(FileId::Manifest, &safe_plan());
    let error = merge::toml::merge(&before, &generated).unwrap_err();
    let MergeError::Syntax {
        line,
        column,
        message,
    } = &error
    else {
        panic!("{error:?}")
    };
    // toml_edit and this check agree on where the broken line is.
    let broken = before.lines().nth(line - 1).unwrap();
    assert!(!message.is_empty() && *column >= 1, "{error}");
    assert!(
        format!("{broken}\n").parse::<toml_edit::DocumentMut>().is_err()
            || before
                .lines()
                .take(*line)
                .collect::<Vec<_>>()
                .join("\n")
                .parse::<toml_edit::DocumentMut>()
                .is_err(),
        "line {line} (`{broken}`) is not where the file breaks"
    );
}

fn merge_profile(before: &str) -> String {
    let generated = Templates::new().fragment(FileId::Manifest, &safe_plan());
    let after = merge::toml::merge(before, &generated).unwrap();
    assert_eq!(
        merge::toml::merge(&after, &generated).unwrap(),
        after,
        "not idempotent"
    );
    after
}

#[test]
fn dotted_profile_keys_stay_dotted() {
    let after = merge_profile("profile.dev.debug = 1 # mine\n\n[package]\nname = \"x\"\n");
    insta::assert_snapshot!(after, @r#"
    profile.dev.debug = "line-tables-only" # mine
    profile.dev.incremental = false
    profile.dev.package."*".debug = false

    [package]
    name = "x"
    "#);
}

#[test]
fn existing_star_package_table_is_extended_in_place() {
    let before =
        "[profile.dev.package.\"*\"]\n# deps fast\nopt-level = 2 # keep\n\n[profile.release]\nlto = true\n";
    let after = merge_profile(before);
    insta::assert_snapshot!(after, @r#"
    [profile.dev]
    debug = "line-tables-only"
    incremental = false
    [profile.dev.package."*"]
    # deps fast
    opt-level = 2 # keep
    debug = false

    [profile.release]
    lto = true
    "#);
}

#[test]
fn inline_package_tables_are_extended_inline() {
    let before = "[profile.dev.package]\n\"*\" = { opt-level = 2 }\nfoo = { opt-level = 3 }\n";
    let after = merge_profile(before);
    assert!(
        after.contains("\"*\" = { opt-level = 2 , debug = false }")
            || after.contains("\"*\" = { opt-level = 2, debug = false }"),
        "{after}"
    );
    assert!(after.contains("foo = { opt-level = 3 }"));
}

#[test]
fn custom_profile_and_build_override_are_left_alone() {
    let before = "[profile.dev]\ndebug = true # full\n\n[profile.dev.build-override]\nopt-level = 3\n\n[profile.quick]\ninherits = \"dev\"\ndebug = false\n";
    let after = merge_profile(before);
    insta::assert_snapshot!(after, @r#"
    [profile.dev]
    debug = "line-tables-only" # full
    incremental = false

    [profile.dev.build-override]
    opt-level = 3

    [profile.dev.package."*"]
    debug = false

    [profile.quick]
    inherits = "dev"
    debug = false
    "#);
}

#[test]
fn crlf_and_bom_survive() {
    let before = "\u{feff}[package]\r\nname = \"x\"\r\n\r\n[profile.dev]\r\nopt-level = 1\r\n";
    let after = merge_profile(before);
    assert_eq!(
        after,
        "\u{feff}[package]\r\nname = \"x\"\r\n\r\n[profile.dev]\r\nopt-level = 1\r\ndebug = \"line-tables-only\"\r\nincremental = false\r\n\r\n[profile.dev.package.\"*\"]\r\ndebug = false\r\n"
    );
}

#[test]
fn no_change_means_identical_bytes() {
    let before = "[profile.dev]\ndebug   =   'line-tables-only'   # aligned\nincremental=false\n[profile.dev.package.'*']\ndebug=0x0\n";
    // `debug = 0x0` is an integer 0, not `false`: memsafe replaces it; the rest is the same value.
    let after = merge_profile(before);
    assert!(
        after.starts_with("[profile.dev]\ndebug   =   'line-tables-only'   # aligned\nincremental=false\n"),
        "{after}"
    );
    let settled = merge_profile(&after);
    assert_eq!(settled, after);
}

#[test]
fn profile_that_is_not_a_table_is_an_error_with_its_line() {
    let generated = Templates::new().fragment(FileId::Manifest, &safe_plan());
    let error = merge::toml::merge(
        "cargo-features = []\nprofile = \"fast\"\n\n[package]\nname = \"x\"\n",
        &generated,
    )
    .unwrap_err();
    assert_eq!(
        error,
        MergeError::WrongType {
            key: "profile".into(),
            expected: "a table",
            found: "a string",
            line: Some(2)
        }
    );
    let error = merge::toml::merge("[profile]\ndev = 3\n", &generated).unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 2: `profile.dev` is an integer, expected a table"
    );
}

#[test]
fn misplaced_build_jobs_is_removed_other_keys_stay() {
    let mut plan = safe_plan();
    // The fix for a misplaced `[build] jobs`, as `init --yes` chooses it.
    plan.takes_out = vec!["build.jobs".into()];
    let manifest = |before: &str| {
        memsafe::sync::plan_file(FileId::Manifest, before, None, &plan)
            .unwrap()
            .after
            .unwrap()
    };
    let before = "[package]\nname = \"x\"\n\n[build]\njobs = 2\nrustflags = [\"--cfg\", \"x\"]\n";
    assert!(
        manifest(before).starts_with("[package]\nname = \"x\"\n\n[build]\nrustflags = [\"--cfg\", \"x\"]\n"),
        "{}",
        manifest(before)
    );
    // Alone in `[build]`: the table goes too, so cargo has no empty table to warn about.
    let only_jobs = manifest("[package]\nname = \"x\"\n\n[build]\njobs = 2\n");
    assert!(!only_jobs.contains("[build]"), "{only_jobs}");
}

fn merge_settings(before: &str) -> merge::jsonc::Merged {
    let generated = Templates::new().fragment(FileId::Vscode, &common::plan(16.0, 8, Preset::Balanced));
    let merged = merge::jsonc::merge(before, &generated).unwrap();
    assert_eq!(
        merge::jsonc::merge(&merged.text, &generated).unwrap().text,
        merged.text,
        "not idempotent"
    );
    merged
}

#[test]
fn settings_shapes() {
    for empty in ["", "\n", "  \n"] {
        let merged = merge_settings(empty);
        assert!(
            merged.text.starts_with("{\n  \"rust-analyzer.numThreads\": 4,"),
            "{:?}",
            merged.text
        );
    }
    let braces = merge_settings("{}");
    assert!(
        braces.text.starts_with("{\n  \"rust-analyzer.numThreads\": 4,"),
        "{}",
        braces.text
    );

    let commented = "{\n\t// editor\n\t\"editor.tabSize\": 4, /* four */\n\t\"[rust]\": {\n\t\t\"editor.formatOnSave\": true,\n\t},\n}\n";
    let merged = merge_settings(commented);
    insta::assert_snapshot!(merged.text, @r#"
    {
    	// editor
    	"editor.tabSize": 4, /* four */
    	"[rust]": {
    		"editor.formatOnSave": true,
    	},
    	"rust-analyzer.numThreads": 4,
    	"rust-analyzer.cachePriming.numThreads": 4,
    	"rust-analyzer.check.extraArgs": ["--jobs", "8"],
    	"files.watcherExclude": {
    		"**/target/**": true
    	},
    }
    "#);
}

#[test]
fn old_settings_are_renamed_in_place() {
    let before = "{\n  // mine\n  \"rust-analyzer.checkOnSave.enable\": false, // off\n  \"rust-analyzer.inlayHints.enable\": false\n}\n";
    let merged = merge_settings(before);
    insta::assert_snapshot!(merged.text, @r#"
    {
      // mine
      "rust-analyzer.checkOnSave": false, // off
      "[rust]": {
        "editor.inlayHints.enabled": "off"
      },
      "rust-analyzer.numThreads": 4,
      "rust-analyzer.cachePriming.numThreads": 4,
      "rust-analyzer.check.extraArgs": ["--jobs", "8"],
      "files.watcherExclude": {
        "**/target/**": true
      }
    }
    "#);
    assert_eq!(merged.notes.len(), 2, "{:?}", merged.notes);
}

#[test]
fn check_extra_args_keep_the_users_own() {
    let merged = merge_settings(
        "{ \"rust-analyzer.check.extraArgs\": [\"-j\", \"16\", \"--all-features\", \"--jobs=3\"] }",
    );
    let value = json_value(&merged.text);
    assert_eq!(
        value["rust-analyzer.check.extraArgs"],
        serde_json::json!(["--all-features", "--jobs", "8"])
    );
}

#[test]
fn settings_bad_input() {
    let generated = Templates::new().fragment(FileId::Vscode, &safe_plan());
    let error = merge::jsonc::merge("{\n  \"a\": 1,\n  \"b\" 2\n}\n", &generated).unwrap_err();
    assert!(matches!(error, MergeError::Syntax { line: 3, .. }), "{error:?}");
    let error = merge::jsonc::merge("// list\n[1, 2]\n", &generated).unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 2: `the top level` is an array, expected an object `{ ... }`"
    );
}
