//! Property tests on the key-by-key edits: for generated TOML and JSONC documents, bringing a
//! file to a plan keeps every key and comment memsafe does not own, a second run changes
//! nothing, and releasing every key (what `memsafe remove` does) gives back the original bytes.

use memsafe::merge;
use memsafe::owned::{FileId, registry};
use memsafe::plan::Preset;
use memsafe::sync::{plan_file, release_file};
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
    "rustc-wrapper",
    "MEMSAFE_RUSTC_WRAPPER",
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

/// Every value of a JSONC text, flattened to (key path, JSON text); duplicate keys: the last.
fn json_values(text: &str) -> Vec<(Vec<String>, String)> {
    fn walk(prefix: &mut Vec<String>, value: &serde_json::Value, out: &mut Vec<(Vec<String>, String)>) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (key, value) in map {
                    prefix.push(key.clone());
                    walk(prefix, value, out);
                    prefix.pop();
                }
            }
            other => out.push((prefix.clone(), other.to_string())),
        }
    }
    let body = text.trim_start_matches('\u{feff}');
    let Some(value) = jsonc_parser::cst::CstRootNode::parse(body, &jsonc_parser::ParseOptions::default())
        .ok()
        .and_then(|root| root.value())
        .and_then(|value| value.to_serde_value())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&mut Vec::new(), &value, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn toml_edits_keep_the_rest_are_idempotent_and_undo(
        document in toml_document(),
        preset in 0..3usize,
        governor in 0..3usize,
    ) {
        let presets = [Preset::Safe, Preset::Balanced, Preset::Fast];
        let mut plan = common::plan(16.0, 8, presets[preset]);
        // The governor off, on, and on chained to a wrapper of the user's: as the plan chains
        // it, the one in the document when it has one (a string), else one from elsewhere
        // (`$CARGO_HOME`'s).
        let in_document = merge::toml::TomlDoc::parse(&document)
            .ok()
            .and_then(|doc| doc.get(&["build".to_string(), "rustc-wrapper".to_string()]))
            .and_then(|found| found.value.as_str().map(str::to_owned))
            .filter(|w| !w.is_empty());
        plan.governor = (governor > 0).then(|| memsafe::plan::Governor {
            program: "/opt/memsafe/memsafe".into(),
            chain: (governor == 2).then(|| in_document.clone().unwrap_or_else(|| "sccache".into())),
            chain_in_repo: governor == 2 && in_document.is_some(),
        });
        for file in [FileId::Manifest, FileId::CargoConfig] {
            // Documents can clash with memsafe's keys (`[profile.dev] debug` holding a table),
            // so every document is either edited or reported, never a panic.
            let Ok(first) = plan_file(file, &document, None, &plan) else { continue };
            let after = first.after.clone().unwrap();
            let again = plan_file(file, &after, first.record.as_ref(), &plan).unwrap();
            prop_assert_eq!(again.after.as_deref(), Some(after.as_str()));
            let owned: Vec<String> = registry()
                .iter()
                .filter(|k| k.file == file)
                .map(memsafe::owned::Key::display)
                .collect();
            let after_leaves = merge::toml::leaves(&after);
            for (path, value) in merge::toml::leaves(&document) {
                if owned.contains(&path) {
                    continue;
                }
                prop_assert!(after_leaves.contains(&(path.clone(), value.clone())), "{} lost", path);
            }
            let after_comments = toml_comments(&after);
            // A misplaced `[build] jobs` leaves Cargo.toml with its comments (into the record; the
            // release below checks that they come back).
            let moved = file == FileId::Manifest && merge::toml::leaves(&document).iter().any(|(k, _)| k == "build.jobs");
            for comment in toml_comments(&document).into_iter().filter(|_| !moved) {
                prop_assert!(after_comments.contains(&comment), "comment {} lost", comment);
            }
            let undone = release_file(file, &after, first.record.as_ref()).unwrap();
            prop_assert_eq!(undone.after.as_deref(), Some(document.as_str()), "release did not give the original back");
        }
    }

    #[test]
    fn jsonc_edits_keep_the_rest_are_idempotent_and_undo(document in jsonc_document(), preset in 0..3usize) {
        let presets = [Preset::Safe, Preset::Balanced, Preset::Fast];
        let plan = common::plan(16.0, 8, presets[preset]);
        // A value of the user's where memsafe needs an object (`files.watcherExclude: 1`) is
        // reported, never overwritten.
        let Ok(first) = plan_file(FileId::Vscode, &document, None, &plan) else { return Ok(()) };
        let after = first.after.clone().unwrap();
        let again = plan_file(FileId::Vscode, &after, first.record.as_ref(), &plan).unwrap();
        prop_assert_eq!(again.after.as_deref(), Some(after.as_str()));
        let owned: Vec<Vec<String>> = registry()
            .into_iter()
            .filter(|k| k.file == FileId::Vscode)
            .map(|k| k.path)
            .collect();
        let values = json_values(&after);
        for (key, value) in json_values(&document) {
            let mine = owned.iter().any(|m| key.starts_with(m) || m.starts_with(&key));
            if mine || key.first().is_some_and(|k| k.starts_with("rust-analyzer.")) {
                continue;
            }
            prop_assert!(values.contains(&(key.clone(), value.clone())), "{:?} lost", key);
        }
        for comment in ["// note", "/* block */", "// keep: \"a\": 1"] {
            prop_assert_eq!(after.matches(comment).count(), document.matches(comment).count());
        }
        let undone = release_file(FileId::Vscode, &after, first.record.as_ref()).unwrap();
        prop_assert_eq!(undone.after.as_deref(), Some(document.as_str()), "release did not give the original back");
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
            memsafe::sync::check_round_trip(&text);
            let step = (text.len() / 40).max(1);
            for cut in (0..text.len())
                .step_by(step)
                .filter(|&i| text.is_char_boundary(i))
            {
                memsafe::sync::check_round_trip(&text[..cut]);
            }
        }
    }
}
