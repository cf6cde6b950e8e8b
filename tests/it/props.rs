//! Property tests on the merges: for generated TOML and JSONC documents, a merge keeps every
//! unmanaged key and comment, a second merge changes nothing, and undoing the merge (what
//! `memsafe remove` does) gives back the original bytes.

use memsafe::merge::{self, text::Shape};
use memsafe::plan::Preset;
use memsafe::render::{self, Templates};
use memsafe::undo;
use proptest::prelude::*;

use crate::common;

const TABLES: &[&str] = &[
    "package",
    "dependencies",
    "build",
    "env",
    "alias",
    "profile.dev",
    "profile.release",
    "profile.dev.package.\"*\"",
    "profile.dev.package.foo",
    "profile.dev.build-override",
    "profile.custom",
    "workspace",
];
const KEYS: &[&str] = &[
    "debug",
    "opt-level",
    "incremental",
    "jobs",
    "name",
    "lto",
    "x",
    "RUST_TEST_THREADS",
    "inherits",
];
const VALUES: &[&str] = &[
    "1",
    "0",
    "true",
    "false",
    "\"line-tables-only\"",
    "'z'",
    "3",
    "\"dev\"",
    "[\"a\", \"b\"]",
];
const COMMENTS: &[&str] = &["", "# note", "#", "# keep: this = 1", "## heading"];

/// A TOML document: tables from TABLES (each once), keys from KEYS (each once per table),
/// comments and blank lines here and there, LF or CRLF, with or without a BOM.
fn toml_document() -> impl Strategy<Value = String> {
    let entry = (
        0..KEYS.len(),
        0..VALUES.len(),
        0..COMMENTS.len(),
        0..COMMENTS.len(),
        any::<bool>(),
    );
    let table = (
        0..TABLES.len(),
        proptest::collection::vec(entry, 0..5),
        0..COMMENTS.len(),
        any::<bool>(),
    );
    (
        proptest::collection::vec(table, 0..7),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(tables, crlf, bom, final_newline)| {
            let mut seen_tables = std::collections::BTreeSet::new();
            let mut out = String::new();
            for (table, entries, comment, blank) in tables {
                if !seen_tables.insert(table) {
                    continue;
                }
                if blank {
                    out.push('\n');
                }
                if !COMMENTS[comment].is_empty() {
                    out.push_str(COMMENTS[comment]);
                    out.push('\n');
                }
                out.push_str(&format!("[{}]\n", TABLES[table]));
                let mut seen_keys = std::collections::BTreeSet::new();
                for (key, value, above, trailing, spaced) in entries {
                    if !seen_keys.insert(key) {
                        continue;
                    }
                    if !COMMENTS[above].is_empty() {
                        out.push_str(COMMENTS[above]);
                        out.push('\n');
                    }
                    let equals = if spaced { " = " } else { "=" };
                    out.push_str(&format!("{}{equals}{}", KEYS[key], VALUES[value]));
                    if !COMMENTS[trailing].is_empty() {
                        out.push_str(&format!(" {}", COMMENTS[trailing]));
                    }
                    out.push('\n');
                }
            }
            if !final_newline && out.ends_with('\n') {
                out.pop();
            }
            let out = if crlf { out.replace('\n', "\r\n") } else { out };
            if bom { format!("\u{feff}{out}") } else { out }
        })
}

const JSON_KEYS: &[&str] = &[
    "editor.tabSize",
    "rust-analyzer.numThreads",
    "rust-analyzer.check.extraArgs",
    "rust-analyzer.cargo.features",
    "files.watcherExclude",
    "files.exclude",
    "[rust]",
    "rust-analyzer.procMacro.enable",
];
const JSON_VALUES: &[&str] = &[
    "1",
    "true",
    "\"x\"",
    "[\"--all-features\"]",
    "{ \"**/node_modules\": true }",
    "{}",
    "[]",
    "null",
];
const JSON_COMMENTS: &[&str] = &["", "// note", "/* block */", "// keep: \"a\": 1"];

/// A JSONC settings object: keys once each, comments, trailing commas or not, tabs or spaces.
fn jsonc_document() -> impl Strategy<Value = String> {
    let entry = (0..JSON_KEYS.len(), 0..JSON_VALUES.len(), 0..JSON_COMMENTS.len());
    (
        proptest::collection::vec(entry, 0..7),
        any::<bool>(),
        any::<bool>(),
        0..JSON_COMMENTS.len(),
    )
        .prop_map(|(entries, tabs, trailing_comma, head)| {
            let indent = if tabs { "\t" } else { "    " };
            let mut seen = std::collections::BTreeSet::new();
            let mut lines = Vec::new();
            for (key, value, comment) in entries {
                if !seen.insert(key) {
                    continue;
                }
                if !JSON_COMMENTS[comment].is_empty() {
                    lines.push(format!("{indent}{}", JSON_COMMENTS[comment]));
                }
                lines.push(format!("{indent}\"{}\": {},", JSON_KEYS[key], JSON_VALUES[value]));
            }
            if !trailing_comma && let Some(last) = lines.iter_mut().rev().find(|l| l.ends_with(',')) {
                last.pop();
            }
            let head = if JSON_COMMENTS[head].is_empty() {
                String::new()
            } else {
                format!("{}\n", JSON_COMMENTS[head])
            };
            format!("{head}{{\n{}\n}}\n", lines.join("\n"))
        })
}

/// Comments as written, in order.
fn toml_comments(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.find('#').map(|i| line[i..].trim_end().to_string()))
        .collect()
}

fn undo_round_trip(before: &str, after: &str) {
    let (shape, body) = Shape::of(after);
    let hunks = undo::hunks(&Shape::of(before).1, &body);
    let restored = shape.restore(&undo::unpatch(&body, &hunks).unwrap());
    assert_eq!(restored, before, "undo did not give the original back");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn toml_merge_keeps_the_rest_is_idempotent_and_undoes(document in toml_document(), preset in 0..3usize) {
        let presets = [Preset::Safe, Preset::Balanced, Preset::Fast];
        let plan = common::plan(16.0, 8, presets[preset]);
        let templates = Templates::new();
        for id in [render::CARGO_PROFILE, render::CARGO_CONFIG] {
            let generated = templates.render(id, &plan);
            // Generated documents can clash with ours (`[profile.dev] debug` holding a table is
            // not generated), so every document either merges or is reported, never panics.
            let Ok(after) = merge::toml::merge(&document, &generated) else { continue };
            prop_assert_eq!(merge::toml::merge(&after, &generated).unwrap(), after.clone());
            let managed = merge::toml::leaf_paths(&generated);
            let after_leaves = merge::toml::leaves(&after);
            for (path, value) in merge::toml::leaves(&document) {
                if managed.contains(&path) {
                    continue;
                }
                prop_assert!(after_leaves.contains(&(path.clone(), value.clone())), "{} lost", path);
            }
            let after_comments = toml_comments(&after);
            for comment in toml_comments(&document) {
                prop_assert!(after_comments.contains(&comment), "comment {} lost", comment);
            }
            undo_round_trip(&document, &after);
        }
    }

    #[test]
    fn jsonc_merge_keeps_the_rest_is_idempotent_and_undoes(document in jsonc_document(), preset in 0..3usize) {
        let presets = [Preset::Safe, Preset::Balanced, Preset::Fast];
        let plan = common::plan(16.0, 8, presets[preset]);
        let generated = Templates::new().render(render::VSCODE_SETTINGS, &plan);
        let merged = merge::jsonc::merge(&document, &generated).unwrap();
        prop_assert_eq!(merge::jsonc::merge(&merged.text, &generated).unwrap().text, merged.text.clone());
        let managed: Vec<String> = merge::jsonc::key_paths(&generated);
        let after = merge::jsonc::values(&merged.text);
        for (key, value) in merge::jsonc::values(&document) {
            let owned = managed.iter().any(|m| key == *m || key.starts_with(&format!("{m}[")) || m.starts_with(&format!("{key}[")));
            if owned || key.starts_with("rust-analyzer.check.extraArgs") {
                continue;
            }
            prop_assert!(after.contains(&(key.clone(), value.clone())), "{} lost", key);
        }
        for comment in ["// note", "/* block */", "// keep: \"a\": 1"] {
            prop_assert_eq!(merged.text.matches(comment).count(), document.matches(comment).count());
        }
        undo_round_trip(&document, &merged.text);
    }
}

/// The fuzz target's invariants on every real-world file and on 40 prefixes of each (cut
/// mid-line, mid-string, mid-table): a deterministic stand-in for the fuzzer in CI.
#[test]
fn fixture_prefixes_keep_the_invariants() {
    for folder in [
        "cargo-toml",
        "cargo-config",
        "vscode-settings",
        "invalid",
        "nextest",
    ] {
        for (_, text) in common::fixtures(folder) {
            merge::check_round_trip(&text);
            let step = (text.len() / 40).max(1);
            for cut in (0..text.len())
                .step_by(step)
                .filter(|&i| text.is_char_boundary(i))
            {
                merge::check_round_trip(&text[..cut]);
            }
        }
    }
}
