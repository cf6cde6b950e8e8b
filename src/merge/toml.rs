//! Merges generated TOML (Cargo profiles, `.cargo/config.toml`) into a user's file.
//!
//! Only the leaf keys of the generated document are touched. An existing key keeps its place,
//! its comments and its formatting; only its value changes, and only when it differs. A new
//! key goes into the table that should hold it; a missing table is created after its siblings
//! (toml_edit places a table without a position right after the table before it), with
//! implicit parents so that no empty `[profile]` header appears. Dotted and inline tables are
//! extended in their own style.

use toml_edit::{DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::MergeError;
use super::text::Shape;

/// Merges `generated` into `existing`; returns `existing` unchanged (byte for byte) when every
/// generated value is already there.
pub fn merge(existing: &str, generated: &str) -> Result<String, MergeError> {
    let (shape, body) = Shape::of(existing);
    let mut document = parse(&body)?;
    let ours: DocumentMut = generated.parse().expect("generated TOML parses");
    let mut leaves = Vec::new();
    collect_leaves(ours.as_table(), &mut Vec::new(), &mut leaves);

    let mut changed = false;
    let mut created = Vec::new();
    for (path, value) in leaves {
        changed |= set(document.as_table_mut(), &path, value, &mut created).map_err(|mut error| {
            if let MergeError::WrongType { line, .. } = &mut error {
                *line = line_of(&body, &path);
            }
            error
        })?;
    }
    if !changed {
        return Ok(existing.to_string());
    }
    for path in &created {
        place_after_family(document.as_table_mut(), path);
    }
    Ok(shape.restore(&document.to_string()))
}

/// Parses TOML, turning a syntax error into a line, a column and cargo-style words.
pub fn parse(body: &str) -> Result<DocumentMut, MergeError> {
    body.parse::<DocumentMut>().map_err(|error| {
        let (line, column) = super::line_column(body, error.span().map_or(0, |span| span.start));
        MergeError::Syntax {
            line,
            column,
            message: error.message().trim().to_string(),
        }
    })
}

/// Removes the leaf at `path` (e.g. `["build", "jobs"]`), and the tables on the way when
/// they are left empty and have no comments. Returns `None` when there was nothing to remove.
pub fn remove(existing: &str, path: &[&str]) -> Result<Option<String>, MergeError> {
    let (shape, body) = Shape::of(existing);
    let mut document = parse(&body)?;
    if !remove_in(document.as_table_mut(), path) {
        return Ok(None);
    }
    Ok(Some(shape.restore(&document.to_string())))
}

fn remove_in(table: &mut dyn TableLike, path: &[&str]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() {
        return table.remove(first).is_some();
    }
    let removed = match table.get_mut(first) {
        Some(Item::Table(child)) => remove_in(child, rest),
        Some(Item::Value(Value::InlineTable(child))) => remove_in(child, rest),
        _ => false,
    };
    if removed {
        let empty_and_bare = match table.get(first) {
            Some(Item::Table(child)) => {
                child.is_empty()
                    && child
                        .decor()
                        .prefix()
                        .and_then(|p| p.as_str())
                        .is_none_or(|p| !p.contains('#'))
            }
            _ => false,
        };
        if empty_and_bare {
            table.remove(first);
        }
    }
    removed
}

/// Every leaf of a TOML text as (dotted key path, value), e.g. (`profile.dev.package."*".debug`,
/// `false`). Values are written as TOML, without their comments. Unparsable text has none.
pub fn leaves(text: &str) -> Vec<(String, String)> {
    let (_, body) = Shape::of(text);
    let Ok(document) = body.parse::<DocumentMut>() else {
        return Vec::new();
    };
    let mut raw = Vec::new();
    collect_leaves(document.as_table(), &mut Vec::new(), &mut raw);
    raw.into_iter()
        .map(|(path, value)| (dotted(&path), value.to_string().trim().to_string()))
        .collect()
}

/// The dotted key paths of a TOML text's leaves.
pub fn leaf_paths(text: &str) -> Vec<String> {
    leaves(text).into_iter().map(|(path, _)| path).collect()
}

fn dotted(path: &[String]) -> String {
    path.iter()
        .map(|segment| toml_edit::Key::new(segment.as_str()).to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn collect_leaves(table: &dyn TableLike, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    for (key, item) in table.iter() {
        path.push(key.to_string());
        match item {
            Item::Table(child) => collect_leaves(child, path, out),
            Item::Value(value) => {
                let mut value = value.clone();
                value.decor_mut().clear();
                out.push((path.clone(), value));
            }
            Item::None | Item::ArrayOfTables(_) => {}
        }
        path.pop();
    }
}

/// Sets one leaf; returns whether the document changed.
/// Header tables it creates are added to `created`, to be placed by [`place_after_family`].
fn set(
    root: &mut Table,
    path: &[String],
    value: Value,
    created: &mut Vec<Vec<String>>,
) -> Result<bool, MergeError> {
    let (key, parents) = path.split_last().expect("a leaf has a key");
    let mut current: &mut dyn TableLike = root;
    let (mut inline, mut dotted) = (false, false);
    for (depth, name) in parents.iter().enumerate() {
        let holds_leaf = depth + 1 == parents.len();
        if current.get(name).is_none_or(Item::is_none) {
            current.insert(name, new_table_like(inline, dotted, !holds_leaf));
            if holds_leaf && !inline && !dotted {
                created.push(path[..=depth].to_vec());
            }
        }
        let item = current.get_mut(name).expect("just ensured");
        current = match item {
            Item::Table(table) => {
                if holds_leaf {
                    table.set_implicit(false);
                }
                (inline, dotted) = (false, table.is_dotted());
                table
            }
            Item::Value(Value::InlineTable(table)) => {
                inline = true;
                table
            }
            other => {
                return Err(MergeError::WrongType {
                    key: path[..=depth].join("."),
                    expected: "a table",
                    found: describe(other),
                    line: None,
                });
            }
        };
    }
    match current.get_mut(key) {
        Some(Item::Value(old)) => {
            if same_value(old, &value) {
                return Ok(false);
            }
            let is_jobs_args = path.len() >= 2 && path[path.len() - 2] == "check" && key == "extraArgs";
            if is_jobs_args && let (Value::Array(old_args), Value::Array(our_args)) = (&mut *old, &value) {
                return Ok(merge_jobs_args(old_args, our_args));
            }
            let decor = old.decor().clone();
            *old = value;
            *old.decor_mut() = decor;
            Ok(true)
        }
        None | Some(Item::None) => {
            current.insert(key, Item::Value(value));
            Ok(true)
        }
        Some(other) => Err(MergeError::WrongType {
            key: path.join("."),
            expected: "a value",
            found: describe(other),
            line: None,
        }),
    }
}

/// Gives a new header table a place in the file: right after the last table of its nearest
/// family (`[profile.dev.package."*"]` after the other `[profile.dev.package.*]`, a new
/// `[profile.dev]` after the other profiles), or at the end when it has none. Tables after
/// that place move down one position.
fn place_after_family(root: &mut Table, new_path: &[String]) {
    let mut positions: Vec<(Vec<String>, isize)> = Vec::new();
    visit_tables(root, &mut Vec::new(), &mut |path, table| {
        if let Some(position) = table.position()
            && path != new_path
        {
            positions.push((path.to_vec(), position));
        }
    });
    let family_end = (1..new_path.len()).rev().find_map(|len| {
        positions
            .iter()
            .filter(|(path, _)| path.starts_with(&new_path[..len]))
            .map(|(_, p)| *p)
            .max()
    });
    let Some(anchor) = family_end.or_else(|| positions.iter().map(|(_, p)| *p).max()) else {
        return;
    };
    visit_tables(root, &mut Vec::new(), &mut |path, table| {
        if path == new_path {
            table.set_position(Some(anchor + 1));
        } else if let Some(position) = table.position()
            && position > anchor
        {
            table.set_position(Some(position + 1));
        }
    });
}

/// Calls `f` on every table below `table` (arrays of tables included), depth first.
fn visit_tables(table: &mut Table, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &mut Table)) {
    for (key, item) in table.iter_mut() {
        path.push(key.get().to_string());
        match item {
            Item::Table(child) => {
                f(path, child);
                visit_tables(child, path, f);
            }
            Item::ArrayOfTables(array) => {
                for child in array.iter_mut() {
                    f(path, child);
                    visit_tables(child, path, f);
                }
            }
            Item::None | Item::Value(_) => {}
        }
        path.pop();
    }
}

/// A new child table in the style of its parent: inline in an inline table, dotted in a
/// dotted one, a `[header]` table otherwise.
fn new_table_like(parent_inline: bool, parent_dotted: bool, implicit: bool) -> Item {
    if parent_inline {
        return Item::Value(Value::InlineTable(InlineTable::new()));
    }
    let mut table = Table::new();
    table.set_implicit(implicit);
    table.set_dotted(parent_dotted);
    Item::Table(table)
}

/// rust-analyzer's `check.extraArgs` may hold the user's own arguments: only `--jobs`/`-j`
/// are replaced, in place, so the array keeps its layout and comments.
fn merge_jobs_args(old: &mut toml_edit::Array, ours: &toml_edit::Array) -> bool {
    let texts: Vec<Option<String>> = old.iter().map(|v| v.as_str().map(str::to_string)).collect();
    let borrowed: Vec<Option<&str>> = texts.iter().map(Option::as_deref).collect();
    let ours_text: Vec<&str> = ours.iter().filter_map(Value::as_str).collect();
    let Some(remove) = super::jobs_args_to_replace(&borrowed, &ours_text) else {
        return false;
    };
    for index in (0..texts.len()).rev() {
        if remove[index] {
            old.remove(index);
        }
    }
    for value in ours {
        let mut value = value.clone();
        value.decor_mut().clear();
        old.push(value);
    }
    true
}

fn same_value(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::String(a), Value::String(b)) => a.value() == b.value(),
        (Value::Integer(a), Value::Integer(b)) => a.value() == b.value(),
        (Value::Boolean(a), Value::Boolean(b)) => a.value() == b.value(),
        (Value::Float(a), Value::Float(b)) => a.value() == b.value(),
        _ => old.to_string().trim() == new.to_string().trim(),
    }
}

fn describe(item: &Item) -> &'static str {
    match item {
        Item::None => "missing",
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(Value::String(_)) => "a string",
        Item::Value(Value::Integer(_)) => "an integer",
        Item::Value(Value::Float(_)) => "a float",
        Item::Value(Value::Boolean(_)) => "a boolean",
        Item::Value(Value::Datetime(_)) => "a date",
        Item::Value(Value::Array(_)) => "an array",
        Item::Value(Value::InlineTable(_)) => "an inline table",
    }
}

/// The line of the deepest existing key on `path`, for error messages.
fn line_of(body: &str, path: &[String]) -> Option<usize> {
    let document = toml_edit::Document::parse(body).ok()?;
    let mut table: &dyn TableLike = document.as_table();
    let mut span = None;
    for name in path {
        let item = table.get(name)?;
        span = item.span().or(span);
        table = match item {
            Item::Table(child) => child,
            Item::Value(Value::InlineTable(child)) => child,
            _ => break,
        };
    }
    span.map(|span| super::line_column(body, span.start).0)
}
