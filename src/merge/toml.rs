//! Key-by-key edits of a TOML file (Cargo.toml, `.cargo/config.toml`, Helix's languages.toml)
//! through toml_edit: [`TomlDoc`] sets a value, puts a recorded raw value back, takes an entry
//! out and puts it back where it was. [`merge`] sets every leaf of a TOML text (for tests).
//!
//! An existing key keeps its place, its comments and its formatting; only its value changes,
//! and only when it differs. A new key goes into the table that should hold it; a missing table
//! is created after its siblings, with implicit parents so that no empty `[profile]` header
//! appears. Dotted and inline tables are extended in their own style.

use toml_edit::{DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::MergeError;
use super::text::Shape;

/// Sets every leaf of `generated` in `existing`, through [`TomlDoc`]; returns `existing`
/// unchanged (byte for byte) when every generated value is already there.
pub fn merge(existing: &str, generated: &str) -> Result<String, MergeError> {
    let ours: DocumentMut = generated.parse().expect("generated TOML parses");
    let mut leaves = Vec::new();
    collect_leaves(ours.as_table(), &mut Vec::new(), &mut leaves);
    let mut doc = TomlDoc::parse(existing)?;
    let mut changed = false;
    for (path, value) in leaves {
        changed |= doc.set(&path, &to_json(&value), &mut Vec::new())?;
    }
    Ok(if changed {
        doc.finish()
    } else {
        existing.to_string()
    })
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

/// A key path as TOML writes it: `profile.dev."*"`.
pub fn dotted(path: &[String]) -> String {
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
    inserted: &mut Vec<Vec<String>>,
) -> Result<bool, MergeError> {
    let (key, parents) = path.split_last().expect("a leaf has a key");
    let mut current: &mut dyn TableLike = root;
    let (mut inline, mut dotted) = (false, false);
    for (depth, name) in parents.iter().enumerate() {
        let holds_leaf = depth + 1 == parents.len();
        if current.get(name).is_none_or(Item::is_none) {
            current.insert(name, new_table_like(inline, dotted, !holds_leaf));
            inserted.push(path[..=depth].to_vec());
            if holds_leaf && !inline && !dotted {
                created.push(path[..=depth].to_vec());
            }
        }
        let item = current.get_mut(name).expect("just ensured");
        current = match item {
            Item::Table(table) => {
                if holds_leaf && table.is_implicit() && !table.is_dotted() {
                    // Made explicit for memsafe's key: implicit again when that goes.
                    table.set_implicit(false);
                    inserted.push(path[..=depth].to_vec());
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

/// A TOML file opened for key-by-key edits: memsafe's values set, the user's original entries
/// put back, keys taken out. [`TomlDoc::finish`] gives the text, in which every line that no
/// edit touched keeps its bytes (see [`super::text::reconcile`]).
pub struct TomlDoc {
    shape: Shape,
    body: String,
    document: DocumentMut,
    /// Unique strings standing in for raw TOML that is put back as it was written.
    placeholders: Vec<(String, String)>,
    /// The start of every marker: a string the file does not contain.
    prefix: String,
}

/// An entry [`TomlDoc::delete`] took out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    /// The key and value, with their comments, as TOML text.
    pub entry: String,
    /// The key before it in its table.
    pub anchor: Option<String>,
    /// The table's position and the blank and comment lines above its header, when it went
    /// too.
    pub table: Option<(i64, String)>,
    /// The entry is a whole dotted key (`build.jobs = 2`) of the table above the key's own.
    pub dotted: bool,
}

/// A value found at a key path: as JSON (to compare), and its raw TOML text (to put back).
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub value: serde_json::Value,
    pub raw: String,
}

impl TomlDoc {
    pub fn parse(text: &str) -> Result<TomlDoc, MergeError> {
        let (shape, body) = Shape::of(text);
        let document = parse(&body)?;
        let prefix = super::text::marker_prefix(&body);
        Ok(TomlDoc {
            shape,
            body,
            document,
            placeholders: Vec::new(),
            prefix,
        })
    }

    /// The value at `path`, if there is one (a table is not a value).
    pub fn get(&self, path: &[String]) -> Option<Found> {
        let (key, parents) = path.split_last()?;
        let mut table: &dyn TableLike = self.document.as_table();
        for name in parents {
            table = match table.get(name)? {
                Item::Table(child) => child,
                Item::Value(Value::InlineTable(child)) => child,
                _ => return None,
            };
        }
        let Item::Value(value) = table.get(key)? else {
            return None;
        };
        let mut bare = value.clone();
        bare.decor_mut().clear();
        let raw = bare.to_string();
        // A value put back in this session stands as a marker until `finish`: see through it.
        if let Some((_, original)) = self.placeholders.iter().find(|(marker, _)| *marker == raw) {
            let parsed: DocumentMut = format!("k = {original}").parse().ok()?;
            return Some(Found {
                value: to_json(parsed.get("k")?.as_value()?),
                raw: original.clone(),
            });
        }
        Some(Found {
            value: to_json(value),
            raw,
        })
    }

    /// Sets `path` to `value`, creating the tables on the way (returned, outermost first);
    /// `check.extraArgs` is edited element by element. Returns whether anything changed.
    pub fn set(
        &mut self,
        path: &[String],
        value: &serde_json::Value,
        created: &mut Vec<Vec<String>>,
    ) -> Result<bool, MergeError> {
        let mut new_tables = Vec::new();
        let mut inserted = Vec::new();
        let changed = set(
            self.document.as_table_mut(),
            path,
            from_json(value),
            &mut new_tables,
            &mut inserted,
        )
        .map_err(|mut error| {
            if let MergeError::WrongType { line, .. } = &mut error {
                *line = line_of(&self.body, path);
            }
            error
        })?;
        for table in &new_tables {
            place_after_family(self.document.as_table_mut(), table);
        }
        for table in inserted {
            if !created.contains(&table) {
                created.push(table);
            }
        }
        Ok(changed)
    }

    /// Puts `raw` (a value's TOML text as it was) back at `path`, keeping the comments around
    /// the value that is there now.
    pub fn restore(&mut self, path: &[String], raw: &str) -> Result<(), MergeError> {
        let placeholder = format!("{}restore-{}@@", self.prefix, self.placeholders.len());
        let quoted = toml_edit::Value::from(placeholder.as_str()).to_string();
        self.set(path, &serde_json::Value::String(placeholder), &mut Vec::new())?;
        self.placeholders
            .push((quoted.trim().to_string(), raw.to_string()));
        Ok(())
    }

    /// Takes the key at `path` out, and nothing else. Returns whether it was there.
    ///
    /// Comments of the user's on the key's lines (above it, or after its value) are not lost
    /// with it: they go above the next key of its `[table]`, or, after its last key, above
    /// the next table (or at the end of the file). Comment lines that are lines of `own`
    /// (memsafe's header in a file it created) go with the key.
    pub fn remove_key(&mut self, path: &[String], own: &str) -> bool {
        let Some((key, parents)) = path.split_last() else {
            return false;
        };
        let Some(table) = table_mut(self.document.as_table_mut(), parents) else {
            return false;
        };
        let comments: String = entry_comments(table, key)
            .lines()
            .filter(|line| !own.lines().any(|mine| mine.trim() == *line))
            .map(|line| format!("{line}\n"))
            .collect();
        let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
        let next = keys
            .iter()
            .position(|k| k == key)
            .and_then(|i| keys.get(i + 1))
            .filter(|k| table.get(k).is_some_and(Item::is_value))
            .cloned();
        if table.remove(key).is_none() {
            return false;
        }
        if comments.is_empty() {
            return true;
        }
        if let Some(next) = next
            && let Some(mut next_key) = table.key_mut(&next)
        {
            prepend(next_key.leaf_decor_mut(), &comments);
            return true;
        }
        self.comments_after_table(parents, &comments);
        true
    }

    /// Puts `comments` after the content of the table at `path`: above the header that
    /// follows it in the file (an array of tables' too), or at the end of the file. A table
    /// without a header of its own (dotted, or the top of the file) counts as its nearest
    /// parent with one; keys at the top of the file come before the first header.
    fn comments_after_table(&mut self, path: &[String], comments: &str) {
        let root = self.document.as_table_mut();
        let position = (0..=path.len())
            .rev()
            .find_map(|len| header_table_mut(root, &path[..len]).and_then(|t| t.position()));
        let mut next: Option<isize> = None;
        visit_tables(root, &mut Vec::new(), &mut |_, table| {
            if let Some(p) = table.position()
                && !table.is_implicit()
                && position.is_none_or(|after| p > after)
                && next.is_none_or(|best| p < best)
            {
                next = Some(p);
            }
        });
        let mut placed = false;
        if let Some(next) = next {
            visit_tables(root, &mut Vec::new(), &mut |_, table| {
                if !placed && table.position() == Some(next) && !table.is_implicit() {
                    prepend(table.decor_mut(), comments);
                    placed = true;
                }
            });
        }
        if !placed {
            let trailing = self.document.trailing().as_str().unwrap_or("").to_string();
            self.document.set_trailing(format!("{comments}{trailing}"));
        }
    }

    /// Takes the key at `path` out; returns its whole entry as TOML text (key, value and their
    /// comments), the key before it in its table, and, with `drop_emptied` (a manifest, where
    /// cargo warns about the table) and when its `[table]` is left empty and bare, that
    /// table's place, taken out too. [`TomlDoc::reinsert`] puts it all back. Without
    /// `drop_emptied` (a config file, where an empty table is fine) only the key goes.
    pub fn delete(&mut self, path: &[String], drop_emptied: bool) -> Option<Deleted> {
        let (key, parents) = path.split_last()?;
        // A dotted key alone in its dotted table (`build.jobs = 2` at the top): the whole dotted
        // entry goes, and comes back, as it was written, among its neighbours.
        if let Some((name, grand)) = parents.split_last()
            && let Some(dotted) = header_table_mut(self.document.as_table_mut(), parents)
            && dotted.is_dotted()
            && dotted.len() == 1
            && dotted.contains_key(key)
            && let Some(grand_table) = header_table_mut(self.document.as_table_mut(), grand)
        {
            let keys: Vec<String> = grand_table.iter().map(|(k, _)| k.to_string()).collect();
            let index = keys.iter().position(|k| k == name)?;
            let anchor = index.checked_sub(1).map(|i| keys[i].clone());
            let (entry_key, item) = grand_table.remove_entry(name)?;
            let mut holder = toml_edit::Table::new();
            holder.insert_formatted(&entry_key, item);
            return Some(Deleted {
                entry: holder.to_string(),
                anchor,
                table: None,
                dotted: true,
            });
        }
        let table = table_mut(self.document.as_table_mut(), parents)?;
        let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
        let index = keys.iter().position(|k| k == key)?;
        let anchor = index.checked_sub(1).map(|i| keys[i].clone());
        let mut holder = toml_edit::Table::new();
        let mut emptied = None;
        match header_table_mut(self.document.as_table_mut(), parents) {
            Some(table) => {
                let (key, item) = table.remove_entry(key)?;
                holder.insert_formatted(&key, item);
                let bare = |text: Option<&toml_edit::RawString>| {
                    text.and_then(|t| t.as_str()).is_none_or(|t| t.trim().is_empty())
                };
                // The comment lines above the header go with the table (and come back with it).
                if drop_emptied
                    && table.is_empty()
                    && !table.is_implicit()
                    && !table.is_dotted()
                    && bare(table.decor().suffix())
                    && let Some(position) = table.position()
                {
                    let prefix = table
                        .decor()
                        .prefix()
                        .and_then(|p| p.as_str())
                        .unwrap_or_default()
                        .to_string();
                    emptied = Some((i64::try_from(position).unwrap_or(0), prefix));
                }
            }
            None => {
                let item = table_mut(self.document.as_table_mut(), parents)?.remove(key)?;
                holder.insert(key, item);
            }
        }
        if emptied.is_some()
            && let Some((name, grand)) = parents.split_last()
            && let Some(parent) = table_mut(self.document.as_table_mut(), grand)
        {
            parent.remove(name);
        }
        Some(Deleted {
            entry: holder.to_string(),
            anchor,
            table: emptied,
            dotted: false,
        })
    }

    /// Puts an entry taken out by [`TomlDoc::delete`] back after `anchor` (first without one),
    /// with its table where it was when the table went too.
    pub fn reinsert(&mut self, full: &[String], deleted: &Deleted) -> Result<(), MergeError> {
        // A whole dotted entry goes back into the table above the key's own, unless that table
        // stands again (the user wrote it since): then only the value goes back, into it.
        let table_again = full.len() > 1 && self.table_exists(&full[..full.len() - 1]);
        if deleted.dotted && table_again {
            let from = full.len().min(2);
            let value = parse(&deleted.entry)?
                .as_table()
                .get(&full[full.len() - from])
                .and_then(|item| item.get(full.last()?.as_str()))
                .and_then(Item::as_value)
                .cloned();
            if let Some(value) = value
                && self.get(full).is_none()
            {
                self.set(full, &to_json(&value), &mut Vec::new())?;
            }
            return Ok(());
        }
        let path = if deleted.dotted && full.len() > 1 {
            &full[..full.len() - 1]
        } else {
            full
        };
        let Some((key, parents)) = path.split_last() else {
            return Ok(());
        };
        let parsed = parse(&deleted.entry)?;
        let Some((parsed_key, item)) = parsed.as_table().get_key_value(key) else {
            return Ok(());
        };
        let (parsed_key, item) = (parsed_key.clone(), item.clone());
        // Never over what stands there now: that is the user's.
        let taken = table_mut(self.document.as_table_mut(), parents).is_some_and(|t| t.contains_key(key));
        if taken {
            return Ok(());
        }
        if parents.is_empty() {
            self.document.as_table_mut().insert_formatted(&parsed_key, item);
            return Ok(());
        }
        // Make sure the table exists (a placeholder value, taken out again).
        if table_mut(self.document.as_table_mut(), parents).is_none() {
            self.set(path, &serde_json::Value::Bool(true), &mut Vec::new())?;
            if let Some((position, prefix)) = &deleted.table {
                let position = isize::try_from(*position).unwrap_or(0);
                // Tables from that place on move down one, as when it was there.
                visit_tables(
                    self.document.as_table_mut(),
                    &mut Vec::new(),
                    &mut |path, table| {
                        if path != parents
                            && let Some(p) = table.position()
                            && p >= position
                        {
                            table.set_position(Some(p + 1));
                        }
                    },
                );
                if let Some(table) = header_table_mut(self.document.as_table_mut(), parents) {
                    table.set_position(Some(position));
                    table.decor_mut().set_prefix(prefix.clone());
                }
            }
        }
        let anchor = deleted.anchor.as_deref();
        if let Some(table) = header_table_mut(self.document.as_table_mut(), parents) {
            table.remove(key);
            table.insert_formatted(&parsed_key, item);
            let mut wanted: Vec<String> = table
                .iter()
                .map(|(k, _)| k.to_string())
                .filter(|k| k != key)
                .collect();
            let at = anchor
                .and_then(|a| wanted.iter().position(|k| k == a))
                .map_or(0, |i| i + 1);
            wanted.insert(at, key.clone());
            table.sort_values_by(|a, _, b, _| {
                let ia = wanted.iter().position(|k| k == a.get());
                let ib = wanted.iter().position(|k| k == b.get());
                ia.cmp(&ib)
            });
        } else if let Some(table) = table_mut(self.document.as_table_mut(), parents) {
            table.remove(key);
            table.insert(key, item);
        }
        Ok(())
    }

    /// Takes out the tables in `tables` (memsafe created them) that hold nothing now and carry
    /// no comment but lines of `own` (memsafe's header in a file it created), innermost first.
    pub fn remove_empty_tables(&mut self, tables: &[Vec<String>], own: &str) {
        let theirs = |prefix: &str| {
            prefix
                .lines()
                .map(str::trim)
                .any(|line| line.starts_with('#') && !own.lines().any(|mine| mine.trim() == line))
        };
        let mut sorted: Vec<&Vec<String>> = tables.iter().collect();
        sorted.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for path in sorted {
            let Some((name, parents)) = path.split_last() else {
                continue;
            };
            let Some(parent) = table_mut(self.document.as_table_mut(), parents) else {
                continue;
            };
            let empty = match parent.get(name) {
                Some(Item::Table(table)) => {
                    table.is_empty()
                        && table
                            .decor()
                            .prefix()
                            .and_then(|p| p.as_str())
                            .is_none_or(|p| !theirs(p))
                }
                Some(Item::Value(Value::InlineTable(table))) => table.is_empty(),
                _ => false,
            };
            if empty {
                parent.remove(name);
            } else if let Some(Item::Table(table)) = parent.get_mut(name)
                && !table.is_dotted()
                && table
                    .iter()
                    .all(|(_, item)| item.is_table() || item.is_array_of_tables())
                && table
                    .decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .is_none_or(|p| !theirs(p))
            {
                // Only sub-tables are left in it: no header of its own.
                table.set_implicit(true);
            }
        }
    }

    /// Whether a table (header, dotted or inline) is at `path`.
    pub fn table_exists(&self, path: &[String]) -> bool {
        let mut table: &dyn TableLike = self.document.as_table();
        for name in path {
            table = match table.get(name) {
                Some(Item::Table(child)) => child,
                Some(Item::Value(Value::InlineTable(child))) => child,
                _ => return false,
            };
        }
        true
    }

    /// No value is left in the document (comments may be).
    pub fn has_no_values(&self) -> bool {
        let mut raw = Vec::new();
        collect_leaves(self.document.as_table(), &mut Vec::new(), &mut raw);
        raw.is_empty()
    }

    /// The text: placeholders replaced by the raw values they stand for, unchanged lines as
    /// they were, the BOM and line endings put back.
    pub fn finish(self) -> String {
        let text = self.document.to_string();
        let spans: Vec<(String, String, String)> = self
            .placeholders
            .iter()
            .map(|(marker, raw)| (marker.clone(), marker.clone(), raw.clone()))
            .collect();
        let text = super::text::splice(&text, &spans);
        let text = super::text::reconcile(&self.body, &text);
        self.shape.restore(&text)
    }
}

/// Puts `comments` (whole lines) before what `decor` has before its key or header.
fn prepend(decor: &mut toml_edit::Decor, comments: &str) {
    let prefix = decor.prefix().and_then(|p| p.as_str()).unwrap_or("").to_string();
    decor.set_prefix(format!("{comments}{prefix}"));
}

/// The comment lines on `key`'s entry in `table`: those above it, and the one after its value
/// (as a line of its own), each ending in a newline; empty when there are none.
fn entry_comments(table: &dyn TableLike, key: &str) -> String {
    let Some((found, item)) = table.get_key_value(key) else {
        return String::new();
    };
    let mut comments = String::new();
    let above = found.leaf_decor().prefix().and_then(|p| p.as_str()).unwrap_or("");
    for line in above.lines().map(str::trim).filter(|l| l.starts_with('#')) {
        comments.push_str(line);
        comments.push('\n');
    }
    let after = item
        .as_value()
        .and_then(|v| v.decor().suffix())
        .and_then(|s| s.as_str())
        .map(str::trim)
        .unwrap_or("");
    if after.starts_with('#') {
        comments.push_str(after);
        comments.push('\n');
    }
    comments
}

fn header_table_mut<'a>(root: &'a mut Table, path: &[String]) -> Option<&'a mut Table> {
    let mut current = root;
    for name in path {
        current = current.get_mut(name)?.as_table_mut()?;
    }
    Some(current)
}

fn table_mut<'a>(root: &'a mut Table, path: &[String]) -> Option<&'a mut dyn TableLike> {
    let mut current: &mut dyn TableLike = root;
    for name in path {
        current = match current.get_mut(name)? {
            Item::Table(child) => child,
            Item::Value(Value::InlineTable(child)) => child,
            _ => return None,
        };
    }
    Some(current)
}

/// A TOML value as JSON, for comparing with what memsafe wrote.
pub fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::String(s) => J::String(s.value().clone()),
        Value::Integer(i) => J::from(*i.value()),
        Value::Float(f) => serde_json::Number::from_f64(*f.value()).map_or(J::Null, J::Number),
        Value::Boolean(b) => J::Bool(*b.value()),
        Value::Datetime(d) => J::String(d.value().to_string()),
        Value::Array(array) => J::Array(array.iter().map(to_json).collect()),
        Value::InlineTable(table) => {
            J::Object(table.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect())
        }
    }
}

/// JSON memsafe plans, as a TOML value.
pub fn from_json(value: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match value {
        J::String(s) => Value::from(s.as_str()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or_else(|| Value::from(n.to_string())),
        J::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(from_json(item));
            }
            Value::Array(array)
        }
        J::Object(map) => {
            let mut table = InlineTable::new();
            for (k, v) in map {
                table.insert(k, from_json(v));
            }
            Value::InlineTable(table)
        }
        J::Null => Value::from(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_string()).collect()
    }

    #[test]
    fn a_value_goes_back_with_its_comment_and_repr() {
        let text = "[profile.dev]\ndebug = 0x0  # we never use a debugger\nopt-level = 0\n";
        let mut doc = TomlDoc::parse(text).unwrap();
        let raw = doc.get(&path(&["profile", "dev", "debug"])).unwrap().raw;
        assert_eq!(raw, "0x0");
        doc.set(
            &path(&["profile", "dev", "debug"]),
            &serde_json::json!("line-tables-only"),
            &mut Vec::new(),
        )
        .unwrap();
        let ours = doc.finish();
        assert!(
            ours.contains("debug = \"line-tables-only\"  # we never use a debugger"),
            "{ours}"
        );
        let mut doc = TomlDoc::parse(&ours).unwrap();
        doc.restore(&path(&["profile", "dev", "debug"]), &raw).unwrap();
        assert_eq!(doc.finish(), text);
    }

    #[test]
    fn a_deleted_entry_goes_back_after_its_neighbour() {
        let text =
            "[build]\n# parallel\njobs = 1 # old recipe\ntarget-dir = \"t\"\n\n[package]\nname = \"x\"\n";
        let mut doc = TomlDoc::parse(text).unwrap();
        let deleted = doc.delete(&path(&["build", "jobs"]), true).unwrap();
        assert_eq!(deleted.anchor, None);
        assert_eq!(deleted.table, None, "target-dir is still in [build]");
        let without = doc.finish();
        assert!(!without.contains("jobs"), "{without}");
        let mut doc = TomlDoc::parse(&without).unwrap();
        doc.reinsert(&path(&["build", "jobs"]), &deleted).unwrap();
        assert_eq!(doc.finish(), text);
        // Alone in its table: the table goes too (cargo would warn about it), and comes back.
        let text = "[package]\nname = \"x\"\n\n[build]\njobs = 1\n\n[dependencies]\nserde = \"1\"\n";
        let mut doc = TomlDoc::parse(text).unwrap();
        let deleted = doc.delete(&path(&["build", "jobs"]), true).unwrap();
        let without = doc.finish();
        assert_eq!(
            without,
            "[package]\nname = \"x\"\n\n[dependencies]\nserde = \"1\"\n"
        );
        let mut doc = TomlDoc::parse(&without).unwrap();
        doc.reinsert(&path(&["build", "jobs"]), &deleted).unwrap();
        assert_eq!(doc.finish(), text);
    }

    #[test]
    fn a_config_keeps_its_emptied_table_and_gets_its_bytes_back() {
        // No final newline, a comment over the header: both stay as they were.
        let text = "# mine\n[build]\njobs = 8";
        let mut doc = TomlDoc::parse(text).unwrap();
        let deleted = doc.delete(&path(&["build", "jobs"]), false).unwrap();
        assert_eq!(deleted.table, None, "the table stays in a config file");
        let without = doc.finish();
        assert_eq!(without, "# mine\n[build]");
        let mut doc = TomlDoc::parse(&without).unwrap();
        doc.reinsert(&path(&["build", "jobs"]), &deleted).unwrap();
        assert_eq!(doc.finish(), text);
    }

    #[test]
    fn the_users_comments_on_a_removed_key_stay() {
        // `text` with the keys of `[env]` named taken out, one after the other.
        let removed = |text: &str, keys: &[&str]| {
            let mut doc = TomlDoc::parse(text).unwrap();
            for key in keys {
                assert!(doc.remove_key(&path(&["env", key]), ""), "{key}");
            }
            doc.finish()
        };
        let text = "[build]\njobs = 2\n\n[env]\n# mine, above\nA = \"1\" # mine, after\nB = \"2\"\n# below\n";
        // Above the next key of the table.
        assert_eq!(
            removed(text, &["A"]),
            "[build]\njobs = 2\n\n[env]\n# mine, above\n# mine, after\nB = \"2\"\n# below\n"
        );
        // After the table's last key: above the next table, or at the end of the file.
        assert_eq!(
            removed("[env]\n# about a\nA = \"1\" # why\n\n[build]\njobs = 2\n", &["A"]),
            "[env]\n# about a\n# why\n\n[build]\njobs = 2\n"
        );
        assert_eq!(
            removed(text, &["B", "A"]),
            "[build]\njobs = 2\n\n[env]\n# mine, above\n# mine, after\n# below\n"
        );
        // A key at the top of the file, dotted or not: above the first header.
        let mut doc = TomlDoc::parse("build.jobs = 2 # old\n[package]\nname = \"x\"\n").unwrap();
        assert!(doc.remove_key(&path(&["build", "jobs"]), ""));
        assert_eq!(doc.finish(), "# old\n[package]\nname = \"x\"\n");
        // The next header may open an array of tables.
        let mut doc = TomlDoc::parse("[env]\nA = \"1\" # why\n[[bin]]\nname = \"b\"\n").unwrap();
        assert!(doc.remove_key(&path(&["env", "A"]), ""));
        assert_eq!(doc.finish(), "[env]\n# why\n[[bin]]\nname = \"b\"\n");
        // Nothing to keep: the key goes alone.
        assert_eq!(
            removed("[env]\nA = \"1\"\nB = \"2\"\n", &["A"]),
            "[env]\nB = \"2\"\n"
        );
    }

    #[test]
    fn a_dotted_entry_goes_back_where_it_was() {
        let text = "build.jobs = 2 # old\n[package]\nname = \"x\"\n";
        let mut doc = TomlDoc::parse(text).unwrap();
        let deleted = doc.delete(&path(&["build", "jobs"]), true).unwrap();
        assert!(deleted.dotted);
        let without = doc.finish();
        assert_eq!(without, "[package]\nname = \"x\"\n");
        let mut doc = TomlDoc::parse(&without).unwrap();
        doc.reinsert(&path(&["build", "jobs"]), &deleted).unwrap();
        assert_eq!(doc.finish(), text);
    }

    #[test]
    fn created_tables_go_and_mixed_line_endings_stay() {
        let text = "[package]\r\nname = \"x\"\n[dependencies]\r\nserde = \"1\"";
        let mut doc = TomlDoc::parse(text).unwrap();
        let mut created = Vec::new();
        doc.set(
            &path(&["profile", "dev", "package", "*", "debug"]),
            &serde_json::json!(false),
            &mut created,
        )
        .unwrap();
        let ours = doc.finish();
        assert!(
            ours.starts_with("[package]\r\nname = \"x\"\n[dependencies]\r\nserde = \"1\"\r\n"),
            "{ours:?}"
        );
        assert!(!ours.ends_with('\n'), "no final newline, as before: {ours:?}");
        let mut doc = TomlDoc::parse(&ours).unwrap();
        doc.delete(&path(&["profile", "dev", "package", "*", "debug"]), true);
        doc.remove_empty_tables(&created, "");
        assert_eq!(doc.finish(), text);
    }
}
