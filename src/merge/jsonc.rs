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
/// and patch_old_style.rs, at rust-lang/rust-analyzer@d2e55da4).
static RENAMED_SETTINGS: &str = include_str!("../data/rust-analyzer-renamed-settings.json");

/// The renamed settings, parsed once (a filter over a user's settings asks per key).
fn renamed() -> &'static Map<String, Value> {
    static RENAMED: std::sync::LazyLock<Map<String, Value>> =
        std::sync::LazyLock::new(|| serde_json::from_str(RENAMED_SETTINGS).expect("embedded data parses"));
    &RENAMED
}

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

/// Sets every value of the generated JSON object in `existing`, objects level by level,
/// after renaming old rust-analyzer settings (VS Code's flat keys), through [`JsonDoc`];
/// returns `existing` unchanged (byte for byte) when nothing needed changing.
pub fn merge(existing: &str, generated: &str) -> Result<Merged, MergeError> {
    fn leaves(prefix: &mut Vec<String>, value: &Value, out: &mut Vec<(Vec<String>, Value)>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, value) in map {
                    prefix.push(key.clone());
                    leaves(prefix, value, out);
                    prefix.pop();
                }
            }
            other => out.push((prefix.clone(), other.clone())),
        }
    }
    let ours: Value = serde_json::from_str(generated).expect("generated JSON parses");
    let mut wanted = Vec::new();
    leaves(&mut Vec::new(), &ours, &mut wanted);
    let mut doc = JsonDoc::parse(existing)?;
    let (renamed, mut notes) = doc.migrate_renamed();
    let mut changed = !renamed.is_empty();
    notes.splice(0..0, renamed.into_iter().map(|r| r.note));
    for (path, value) in wanted {
        changed |= doc.set(&path, &value, &mut Vec::new())?;
    }
    Ok(Merged {
        text: if changed {
            doc.finish()
        } else {
            existing.to_string()
        },
        notes,
    })
}

/// rust-analyzer's `check.extraArgs`, flat (VS Code) or nested (Zed).
fn is_jobs_args(path: &[String]) -> bool {
    path.last().is_some_and(|k| k == CHECK_EXTRA_ARGS)
        || (path.len() >= 2 && path[path.len() - 2] == "check" && path[path.len() - 1] == "extraArgs")
}

/// Whether `name` is an old rust-analyzer setting name (renamed or removed upstream).
pub fn is_old_name(name: &str) -> bool {
    let renamed = renamed();
    renamed.contains_key(name)
}

/// Whether renaming `from` to `to` is one memsafe makes (see [`migrate`]).
pub fn is_rename(from: &str, to: &str) -> bool {
    match from {
        "rust-analyzer.inlayHints.enable" => return to == "[rust]",
        "rust-analyzer.cargo.allFeatures" => return to == "rust-analyzer.cargo.features",
        "rust-analyzer.checkOnSave.allFeatures" => return to == "rust-analyzer.check.features",
        _ => {}
    }
    let renamed = renamed();
    renamed
        .get(from)
        .and_then(|entry| entry.get("current"))
        .and_then(Value::as_str)
        == Some(to)
        && is_plain_key(to)
        && !NOT_MIGRATED.contains(&from)
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

/// A settings file opened for key-by-key edits, through the concrete syntax tree. At every
/// level the last property of a name is the one edited: it is the one editors use.
pub struct JsonDoc {
    shape: Shape,
    body: String,
    root: CstRootNode,
    object: CstObject,
    /// Quoted marker strings standing in for raw text that is put back as it was written.
    placeholders: Vec<(String, String)>,
    /// Pairs of markers (name, value) whose whole property is replaced by raw text.
    properties: Vec<(String, String, String)>,
    /// The start of every marker: a string the file does not contain.
    prefix: String,
}

/// A value found at a key path: as JSON, and its raw text (comments inside included).
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub value: Value,
    pub raw: String,
}

/// An old rust-analyzer setting renamed in place (its value and comments stay where they were).
#[derive(Clone, Debug, PartialEq)]
pub struct Renamed {
    pub from: String,
    pub to: String,
    /// The whole property as it was, to put back.
    pub original: String,
    /// The value under the new name.
    pub value: Value,
    pub note: String,
}

fn marker(prefix: &str, kind: &str, index: usize) -> String {
    format!("{prefix}{kind}-{index}@@")
}

fn last_prop(object: &CstObject, name: &str) -> Option<jsonc_parser::cst::CstObjectProp> {
    object
        .properties()
        .into_iter()
        .filter(|prop| prop.name().and_then(|n| n.decoded_value().ok()).as_deref() == Some(name))
        .last()
}

impl JsonDoc {
    pub fn parse(text: &str) -> Result<JsonDoc, MergeError> {
        let (shape, body) = Shape::of(text);
        let (root, object) = if body.trim().is_empty() {
            let root = CstRootNode::parse("{}\n", &parse_options()).expect("`{}` parses");
            let object = root.object_value_or_set();
            (root, object)
        } else {
            root_object(&body)?
        };
        let prefix = super::text::marker_prefix(&body);
        Ok(JsonDoc {
            shape,
            body,
            root,
            object,
            placeholders: Vec::new(),
            properties: Vec::new(),
            prefix,
        })
    }

    fn object_at(&self, path: &[String]) -> Option<CstObject> {
        let mut object = self.object.clone();
        for name in path {
            object = last_prop(&object, name)?.object_value()?;
        }
        Some(object)
    }

    pub fn get(&self, path: &[String]) -> Option<Found> {
        let (key, parents) = path.split_last()?;
        let prop = last_prop(&self.object_at(parents)?, key)?;
        let node = prop.value()?;
        let raw = node.to_string();
        // A value put back in this session stands as a marker until `finish`: see through it.
        if let Some((_, original)) = self.placeholders.iter().find(|(marker, _)| *marker == raw) {
            let parsed = JsonDoc::parse(&format!("{{\"k\": {original}}}")).ok()?;
            let value = parsed.get(&["k".to_string()])?.value;
            return Some(Found {
                value,
                raw: original.clone(),
            });
        }
        Some(Found {
            value: node.to_serde_value()?,
            raw,
        })
    }

    /// Sets `path` to `value`, creating the objects on the way (added to `created`);
    /// `check.extraArgs` is edited element by element. Returns whether anything changed.
    pub fn set(
        &mut self,
        path: &[String],
        value: &Value,
        created: &mut Vec<Vec<String>>,
    ) -> Result<bool, MergeError> {
        let Some((key, parents)) = path.split_last() else {
            return Ok(false);
        };
        let mut object = self.object.clone();
        let mut changed = false;
        for (depth, name) in parents.iter().enumerate() {
            object = match last_prop(&object, name) {
                Some(prop) => match prop.object_value() {
                    Some(inner) => inner,
                    None => {
                        return Err(MergeError::WrongType {
                            key: path[..=depth].join("."),
                            expected: "an object",
                            found: "another value",
                            line: None,
                        });
                    }
                },
                None => {
                    changed = true;
                    created.push(path[..=depth].to_vec());
                    object.append(name, CstInputValue::Object(Vec::new()));
                    last_prop(&object, name)
                        .and_then(|p| p.object_value())
                        .expect("just appended")
                }
            };
        }
        let mut full = parents.to_vec();
        full.push(key.clone());
        if let Value::Array(ours) = value
            && is_jobs_args(&full)
            && let Some(array) = last_prop(&object, key).and_then(|p| p.array_value())
        {
            return Ok(changed | replace_jobs_args(&array, ours));
        }
        Ok(changed | set_last(&object, key, value))
    }

    /// Puts `raw` (a value's text as it was) back at `path`.
    pub fn restore(&mut self, path: &[String], raw: &str) -> Result<(), MergeError> {
        let marker = marker(&self.prefix, "value", self.placeholders.len());
        self.set(path, &Value::String(marker.clone()), &mut Vec::new())?;
        self.placeholders.push((format!("\"{marker}\""), raw.to_string()));
        Ok(())
    }

    /// Takes the key at `path` out (the last of that name). Returns whether it was there.
    pub fn remove(&mut self, path: &[String]) -> bool {
        let Some((key, parents)) = path.split_last() else {
            return false;
        };
        match self.object_at(parents).and_then(|o| last_prop(&o, key)) {
            Some(prop) => {
                prop.remove();
                true
            }
            None => false,
        }
    }

    /// Puts a renamed property back as it was, whole: name, separator, value and comments.
    pub fn restore_property(&mut self, path: &[String], original: &str) -> bool {
        let Some((key, parents)) = path.split_last() else {
            return false;
        };
        let Some(prop) = self.object_at(parents).and_then(|o| last_prop(&o, key)) else {
            return false;
        };
        let index = self.properties.len();
        let (name, value) = (
            marker(&self.prefix, "name", index),
            marker(&self.prefix, "prop", index),
        );
        if let Some(literal) = prop.name().and_then(|n| n.as_string_lit()) {
            literal.set_raw_value(format!("\"{name}\""));
        } else {
            return false;
        }
        prop.set_value(CstInputValue::String(value.clone()));
        self.properties.push((
            format!("\"{name}\""),
            format!("\"{value}\""),
            original.to_string(),
        ));
        true
    }

    /// Takes out the objects in `objects` (memsafe created them) that hold nothing now and
    /// carry no comment, innermost first.
    pub fn remove_empty_objects(&mut self, objects: &[Vec<String>]) {
        let mut sorted: Vec<&Vec<String>> = objects.iter().collect();
        sorted.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for path in sorted {
            let Some((key, parents)) = path.split_last() else {
                continue;
            };
            let Some(prop) = self.object_at(parents).and_then(|o| last_prop(&o, key)) else {
                continue;
            };
            let empty = prop.object_value().is_some_and(|inner| {
                inner.properties().is_empty() && !inner.children().iter().any(|c| c.is_comment())
            });
            if empty {
                prop.remove();
            }
        }
    }

    /// The names of the top-level properties, in order.
    pub fn top_level_names(&self) -> Vec<String> {
        self.object
            .properties()
            .iter()
            .filter_map(|p| p.name().and_then(|n| n.decoded_value().ok()))
            .collect()
    }

    /// How many properties the top-level object has.
    pub fn property_count(&self) -> usize {
        self.object.properties().len()
    }

    /// Whether an object is at `path`.
    pub fn object_exists(&self, path: &[String]) -> bool {
        self.object_at(path).is_some()
    }

    /// No property is left (comments may be).
    pub fn has_no_values(&self) -> bool {
        self.object.properties().is_empty()
    }

    /// Renames old rust-analyzer keys in place (VS Code's flat settings): see [`migrate`].
    pub fn migrate_renamed(&mut self) -> (Vec<Renamed>, Vec<String>) {
        migrate(&self.object)
    }

    pub fn finish(self) -> String {
        if self.body.trim().is_empty() && self.object.properties().is_empty() {
            // A blank file stays as it was when nothing is set in it.
            return self.shape.restore(&self.body);
        }
        let text = self.root.to_string();
        let spans: Vec<(String, String, String)> = self
            .placeholders
            .iter()
            .map(|(marker, raw)| (marker.clone(), marker.clone(), raw.clone()))
            .chain(
                self.properties
                    .iter()
                    .map(|(name, value, original)| (name.clone(), value.clone(), original.clone())),
            )
            .collect();
        let text = super::text::splice(&text, &spans);
        let text = if self.body.trim().is_empty() {
            if text.ends_with('\n') { text } else { text + "\n" }
        } else {
            super::text::reconcile(&self.body, &text)
        };
        self.shape.restore(&text)
    }
}

/// Sets the last property `key` of `object` to `value`, or appends it; returns whether
/// anything changed.
fn set_last(object: &CstObject, key: &str, value: &Value) -> bool {
    match last_prop(object, key) {
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

/// Replaces the job arguments in an existing `check.extraArgs` array, element by element.
fn replace_jobs_args(array: &jsonc_parser::cst::CstArray, ours: &[Value]) -> bool {
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

/// Renames old rust-analyzer keys in place, so that their values and comments stay where they
/// were and `memsafe remove` can put the old names back. Keys that cannot be renamed in place
/// (the new name is already set, or the old value does not carry over) are left as they are,
/// with a note that names them.
fn migrate(object: &CstObject) -> (Vec<Renamed>, Vec<String>) {
    let renamed = renamed();
    let mut done = Vec::new();
    let mut notes = Vec::new();
    for prop in object.properties() {
        let Some(name) = prop.name().and_then(|name| name.decoded_value().ok()) else {
            continue;
        };
        let Some(entry) = renamed.get(&name) else { continue };
        let current = entry.get("current").and_then(Value::as_str);
        let value = prop.to_serde_value();
        let original = prop.to_string();
        let mut rename = |to: &str, new_value: Option<Value>, note: String| {
            let Some(literal) = prop.name().and_then(|n| n.as_string_lit()) else {
                return;
            };
            literal.set_raw_value(Value::String(to.to_string()).to_string());
            if let Some(new_value) = &new_value {
                prop.set_value(to_input(new_value));
            }
            done.push(Renamed {
                from: name.clone(),
                to: to.to_string(),
                original: original.clone(),
                value: new_value.or_else(|| value.clone()).unwrap_or(Value::Null),
                note,
            });
        };
        match (name.as_str(), current) {
            ("rust-analyzer.inlayHints.enable", _) => {
                if value == Some(Value::Bool(false)) && last_prop(object, "[rust]").is_none() {
                    let hints = serde_json::json!({ "editor.inlayHints.enabled": "off" });
                    rename(
                        "[rust]",
                        Some(hints),
                        format!(
                            "replaced `{name}` (removed from rust-analyzer) with VS Code's \
                             `\"[rust]\": {{ \"editor.inlayHints.enabled\": \"off\" }}`"
                        ),
                    );
                } else {
                    notes.push(format!(
                        "left `{name}` as it is: rust-analyzer no longer reads it (VS Code's \
                         `editor.inlayHints.enabled` under `[rust]` turns hints off)"
                    ));
                }
            }
            ("rust-analyzer.cargo.allFeatures" | "rust-analyzer.checkOnSave.allFeatures", _) => {
                let target = if name.starts_with("rust-analyzer.cargo.") {
                    "rust-analyzer.cargo.features"
                } else {
                    "rust-analyzer.check.features"
                };
                if value == Some(Value::Bool(true)) && last_prop(object, target).is_none() {
                    rename(
                        target,
                        Some(Value::String("all".into())),
                        format!("replaced `{name}` with `\"{target}\": \"all\"`"),
                    );
                } else {
                    notes.push(format!(
                        "left `{name}` as it is: rust-analyzer no longer reads it (`{target}` replaces it)"
                    ));
                }
            }
            (_, Some(current)) if is_plain_key(current) && !NOT_MIGRATED.contains(&name.as_str()) => {
                if last_prop(object, current).is_some() {
                    notes.push(format!(
                        "left `{name}` as it is: rust-analyzer no longer reads it, and its current name \
                         `{current}` is already set"
                    ));
                } else {
                    rename(
                        current,
                        None,
                        format!("renamed `{name}` to `{current}` (rust-analyzer's current name)"),
                    );
                }
            }
            (_, current) => notes.push(format!(
                "left `{name}` as it is: it is an old name that VS Code does not know, and its value \
                 does not carry over as it is; set `{}` by hand",
                current.unwrap_or("the matching current setting")
            )),
        }
    }
    (done, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_string()).collect()
    }

    #[test]
    fn the_last_of_duplicate_keys_is_edited() {
        let text = "{\n  \"rust-analyzer.numThreads\": 2,\n  \"rust-analyzer.numThreads\": 3\n}\n";
        let mut doc = JsonDoc::parse(text).unwrap();
        assert_eq!(
            doc.get(&path(&["rust-analyzer.numThreads"])).unwrap().value,
            Value::from(3)
        );
        doc.set(
            &path(&["rust-analyzer.numThreads"]),
            &Value::from(1),
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            doc.finish(),
            "{\n  \"rust-analyzer.numThreads\": 2,\n  \"rust-analyzer.numThreads\": 1\n}\n"
        );
    }

    #[test]
    fn a_raw_value_with_comments_comes_back_byte_for_byte() {
        let text = "{\n  // mine\n  \"a\": [ \"x\", /* keep */ \"y\" ], // end\n  \"b\": 1\n}\n";
        let mut doc = JsonDoc::parse(text).unwrap();
        let raw = doc.get(&path(&["a"])).unwrap().raw;
        doc.set(&path(&["a"]), &Value::from(5), &mut Vec::new()).unwrap();
        let changed = doc.finish();
        assert!(changed.contains("\"a\": 5, // end"), "{changed}");
        let mut doc = JsonDoc::parse(&changed).unwrap();
        doc.restore(&path(&["a"]), &raw).unwrap();
        assert_eq!(doc.finish(), text);
    }

    #[test]
    fn a_rename_is_undone_whole() {
        let text = "{\n  \"rust-analyzer.checkOnSave.command\" :  \"clippy\", // lint\n  \"z\": 0\n}\n";
        let mut doc = JsonDoc::parse(text).unwrap();
        let (renamed, _) = doc.migrate_renamed();
        assert_eq!(renamed.len(), 1, "{renamed:?}");
        let renamed = &renamed[0];
        assert!(is_rename(&renamed.from, &renamed.to));
        let after = doc.finish();
        assert!(after.contains(&format!("\"{}\"", renamed.to)), "{after}");
        let mut doc = JsonDoc::parse(&after).unwrap();
        assert!(doc.restore_property(&path(&[&renamed.to]), &renamed.original));
        assert_eq!(doc.finish(), text);
    }
}
