//! Merges generated settings into a VS Code `settings.json` (JSONC) through a concrete syntax
//! tree, so that comments, trailing commas, blank lines and key order stay as they were.
//!
//! Never round-trip the user's file through serde_json: it would drop every comment. serde_json
//! reads only our own generated text.

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde_json::{Map, Value};

use super::MergeError;
use super::text::Shape;

/// The result of a merge: the new text and what memsafe did besides setting its own keys.
#[derive(Debug, PartialEq, Eq)]
pub struct Merged {
    pub text: String,
    pub notes: Vec<String>,
}

/// Old rust-analyzer setting names and their current form (rust-analyzer's config.rs aliases
/// and patch_old_style.rs, at rust-lang/rust-analyzer@d2e55da4; see ../shared/data/README.md).
static RENAMED_SETTINGS: &str = include_str!("../data/rust-analyzer-renamed-settings.json");

/// Keys whose old values do not fit the new key as they are: memsafe does not guess.
const NOT_MIGRATED: &[&str] = &[
    "rust-analyzer.assist.importMergeBehavior",
    "rust-analyzer.assist.importMergeBehaviour",
    "rust-analyzer.completion.addCallArgumentSnippets",
    "rust-analyzer.completion.addCallParenthesis",
    "rust-analyzer.callInfo.full",
];

/// The key whose array memsafe edits element by element.
const CHECK_EXTRA_ARGS: &str = "rust-analyzer.check.extraArgs";

fn parse_options() -> ParseOptions {
    // What VS Code accepts in settings.json: comments and trailing commas, nothing looser.
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// Parses and checks that the top level is an object (or empty).
pub fn check(existing: &str) -> Result<(), MergeError> {
    let (_, body) = Shape::of(existing);
    root_object(&body).map(|_| ())
}

fn root_object(body: &str) -> Result<(CstRootNode, CstObject), MergeError> {
    let root = CstRootNode::parse(body, &parse_options()).map_err(|error| MergeError::Syntax {
        line: error.line_display(),
        column: error.column_display(),
        message: error.kind().to_string(),
    })?;
    if let Some(value) = root.value()
        && value.as_object().is_none()
    {
        let found = if value.as_array().is_some() {
            "an array"
        } else if value.as_string_lit().is_some() {
            "a string"
        } else {
            "not an object"
        };
        return Err(MergeError::WrongType {
            key: "the top level".into(),
            expected: "an object `{ ... }`",
            found,
            line: Some(first_value_line(body)),
        });
    }
    let object = root.object_value_or_set();
    Ok((root, object))
}

/// How to merge into a settings file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// VS Code: flat dotted keys; old rust-analyzer names are migrated.
    Vscode,
    /// Zed and others: nested objects, merged level by level.
    Nested,
}

/// Merges the generated JSON object into `existing` (VS Code style); returns `existing`
/// unchanged (byte for byte) when every generated value is already there and nothing needed
/// migrating.
pub fn merge(existing: &str, generated: &str) -> Result<Merged, MergeError> {
    merge_styled(existing, generated, Style::Vscode)
}

/// Merges the generated JSON object into `existing`, objects level by level.
pub fn merge_styled(existing: &str, generated: &str, style: Style) -> Result<Merged, MergeError> {
    let ours: Map<String, Value> = serde_json::from_str(generated).expect("generated JSON parses");
    let (shape, body) = Shape::of(existing);
    if body.trim().is_empty() {
        // An empty file: nothing of the user's to keep.
        return Ok(Merged {
            text: shape.restore(generated),
            notes: Vec::new(),
        });
    }
    let (root, object) = root_object(&body)?;
    let notes = if style == Style::Vscode {
        migrate_renamed(&object)
    } else {
        Vec::new()
    };
    let mut changed = !notes.is_empty();
    changed |= merge_object(&object, &ours, &mut Vec::new());
    if !changed {
        return Ok(Merged {
            text: existing.to_string(),
            notes,
        });
    }
    let mut text = root.to_string();
    if !text.ends_with('\n') && (body.ends_with('\n') || body.trim().is_empty()) {
        text.push('\n');
    }
    Ok(Merged {
        text: shape.restore(&text),
        notes,
    })
}

/// Merges `ours` into `object`, descending into objects; returns whether anything changed.
fn merge_object(object: &CstObject, ours: &Map<String, Value>, path: &mut Vec<String>) -> bool {
    let mut changed = false;
    for (key, value) in ours {
        path.push(key.clone());
        changed |= match value {
            Value::Array(args) if is_jobs_args(path) => set_jobs_args(object, key, args),
            Value::Object(entries) => {
                let existing = object.get(key).and_then(|prop| prop.object_value());
                let inner = match existing {
                    Some(inner) => inner,
                    None => {
                        changed = true;
                        object.object_value_or_set(key)
                    }
                };
                merge_object(&inner, entries, path)
            }
            _ => set_value(object, key, value),
        };
        path.pop();
    }
    changed
}

/// rust-analyzer's `check.extraArgs`, flat (VS Code) or nested (Zed).
fn is_jobs_args(path: &[String]) -> bool {
    path.last().is_some_and(|k| k == CHECK_EXTRA_ARGS)
        || (path.len() >= 2 && path[path.len() - 2] == "check" && path[path.len() - 1] == "extraArgs")
}

/// Sets `key` to `value` unless it already holds it; returns whether anything changed.
fn set_value(object: &CstObject, key: &str, value: &Value) -> bool {
    match object.get(key) {
        Some(prop) => {
            if prop.to_serde_value().as_ref() == Some(value) {
                return false;
            }
            prop.set_value(to_input(value));
        }
        None => {
            object.append(key, to_input(value));
        }
    }
    true
}

/// `check.extraArgs` may hold the user's own arguments: only `--jobs`/`-j` are replaced,
/// element by element, so the array keeps its layout and comments.
fn set_jobs_args(object: &CstObject, key: &str, ours: &[Value]) -> bool {
    let Some(array) = object.get(key).and_then(|prop| prop.array_value()) else {
        return set_value(object, key, &Value::Array(ours.to_vec()));
    };
    let elements = array.elements();
    let values: Vec<Option<Value>> = elements.iter().map(|element| element.to_serde_value()).collect();
    let texts: Vec<Option<&str>> = values
        .iter()
        .map(|v| v.as_ref().and_then(Value::as_str))
        .collect();
    let ours_text: Vec<&str> = ours.iter().filter_map(Value::as_str).collect();
    let Some(remove) = super::jobs_args_to_replace(&texts, &ours_text) else {
        return false;
    };
    for (element, remove) in elements.into_iter().zip(remove) {
        if remove {
            element.remove();
        }
    }
    for value in ours {
        array.append(to_input(value));
    }
    true
}

/// Renames old rust-analyzer keys in place (the value, its comments and its position stay).
/// Returns one note per old key found.
fn migrate_renamed(object: &CstObject) -> Vec<String> {
    let renamed: Map<String, Value> = serde_json::from_str(RENAMED_SETTINGS).expect("embedded data parses");
    let mut notes = Vec::new();
    for prop in object.properties() {
        let Some(name) = prop.name().and_then(|name| name.decoded_value().ok()) else {
            continue;
        };
        let Some(entry) = renamed.get(&name) else { continue };
        let current = entry.get("current").and_then(Value::as_str);
        let value = prop.to_serde_value();
        match (name.as_str(), current) {
            ("rust-analyzer.inlayHints.enable", _) => {
                prop.remove();
                if value == Some(Value::Bool(false)) {
                    let rust = object.object_value_or_set("[rust]");
                    if rust.get("editor.inlayHints.enabled").is_none() {
                        rust.append("editor.inlayHints.enabled", CstInputValue::from("off"));
                    }
                    notes.push(format!(
                        "replaced `{name}` (removed from rust-analyzer) with VS Code's \
                         `\"[rust]\": {{ \"editor.inlayHints.enabled\": \"off\" }}`"
                    ));
                } else {
                    notes.push(format!(
                        "removed `{name}`: rust-analyzer no longer has it, and hints are on by default"
                    ));
                }
            }
            ("rust-analyzer.cargo.allFeatures" | "rust-analyzer.checkOnSave.allFeatures", _) => {
                let target = if name.starts_with("rust-analyzer.cargo.") {
                    "rust-analyzer.cargo.features"
                } else {
                    "rust-analyzer.check.features"
                };
                if value == Some(Value::Bool(true)) && object.get(target).is_none() {
                    prop.replace_with(target, CstInputValue::from("all"));
                    notes.push(format!("replaced `{name}` with `\"{target}\": \"all\"`"));
                } else {
                    prop.remove();
                    notes.push(format!(
                        "removed `{name}`: rust-analyzer no longer reads it (`{target}` replaces it)"
                    ));
                }
            }
            (_, Some(current)) if is_plain_key(current) && !NOT_MIGRATED.contains(&name.as_str()) => {
                if object.get(current).is_some() {
                    prop.remove();
                    notes.push(format!(
                        "removed `{name}`: its current name `{current}` is already set"
                    ));
                } else if let Some(literal) = prop.name().and_then(|n| n.as_string_lit()) {
                    literal.set_raw_value(Value::String(current.to_string()).to_string());
                    notes.push(format!(
                        "renamed `{name}` to `{current}` (rust-analyzer's current name)"
                    ));
                }
            }
            (_, current) => notes.push(format!(
                "left `{name}` as it is: it is an old name that VS Code does not know, and its value \
                 does not carry over as it is; set `{}` by hand",
                current.unwrap_or("the matching current setting")
            )),
        }
    }
    notes
}

/// The values of a settings file as (key path, JSON text). A top-level key is its own name; an
/// object is descended into, each level written `["name"]`: `files.watcherExclude["**/target/**"]`,
/// `lsp["rust-analyzer"]["initialization_options"]["numThreads"]`. Unparsable text has none.
pub fn values(text: &str) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(entries) if !entries.is_empty() => {
                for (key, value) in entries {
                    walk(&format!("{prefix}[{}]", Value::String(key)), value, out);
                }
            }
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let (_, body) = Shape::of(text);
    let Ok(root) = CstRootNode::parse(&body, &parse_options()) else {
        return Vec::new();
    };
    let Some(Value::Object(map)) = root.value().and_then(|v| v.to_serde_value()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in map {
        walk(&key, value, &mut out);
    }
    out
}

/// A key path as [`values`] writes it, split into its names.
fn split_path(path: &str) -> Vec<String> {
    let (first, mut rest) = match path.find("[\"") {
        Some(index) => (&path[..index], &path[index..]),
        None => (path, ""),
    };
    let mut names = vec![first.to_string()];
    while let Some(after) = rest.strip_prefix('[') {
        let mut reader = serde_json::Deserializer::from_str(after).into_iter::<String>();
        let Some(Ok(name)) = reader.next() else { break };
        names.push(name);
        rest = after[reader.byte_offset()..].strip_prefix(']').unwrap_or("");
    }
    names
}

/// Removes the keys named as [`values`] names them; objects left empty on the way go too.
/// Comments stay.
pub fn remove_keys(existing: &str, keys: &[String]) -> Result<String, MergeError> {
    fn remove_in(object: &CstObject, names: &[String]) {
        let Some((first, rest)) = names.split_first() else {
            return;
        };
        let Some(prop) = object.get(first) else { return };
        if rest.is_empty() {
            prop.remove();
            return;
        }
        if let Some(inner) = prop.object_value() {
            remove_in(&inner, rest);
            if inner.properties().is_empty() {
                prop.remove();
            }
        }
    }
    let (shape, body) = Shape::of(existing);
    if body.trim().is_empty() {
        return Ok(existing.to_string());
    }
    let (root, object) = root_object(&body)?;
    for key in keys {
        remove_in(&object, &split_path(key));
    }
    Ok(shape.restore(&root.to_string()))
}

/// The keys of a generated settings text, as [`values`] names them.
pub fn key_paths(text: &str) -> Vec<String> {
    values(text).into_iter().map(|(key, _)| key).collect()
}

fn is_plain_key(key: &str) -> bool {
    key.starts_with("rust-analyzer.") && !key.contains([' ', '*', '=', '+'])
}

fn to_input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(flag) => CstInputValue::Bool(*flag),
        Value::Number(number) => CstInputValue::Number(number.to_string()),
        Value::String(text) => CstInputValue::String(text.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(to_input).collect()),
        Value::Object(entries) => CstInputValue::Object(
            entries
                .iter()
                .map(|(key, value)| (key.clone(), to_input(value)))
                .collect(),
        ),
    }
}

/// The line of the first character that is not blank and not in a comment.
fn first_value_line(body: &str) -> usize {
    let mut line = 1;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            _ => return line,
        }
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_paths_split_back_into_names() {
        assert_eq!(super::split_path("editor.tabSize"), ["editor.tabSize"]);
        assert_eq!(
            super::split_path(r#"files.watcherExclude["**/target/**"]"#),
            ["files.watcherExclude", "**/target/**"]
        );
        assert_eq!(
            super::split_path(r#"lsp["rust-analyzer"]["a]\"b"]"#),
            ["lsp", "rust-analyzer", "a]\"b"]
        );
    }
}
