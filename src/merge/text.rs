//! The byte-level shape of a text file that parsers do not keep for us: a UTF-8 BOM and
//! CRLF line endings. [`Shape::of`] takes them off before parsing and [`Shape::restore`]
//! puts them back, so a CRLF file stays CRLF, lines memsafe adds included.

/// What was taken off a file's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    pub bom: bool,
    /// Every line ending in the file was CRLF (a mixed file is left as it is).
    pub crlf: bool,
}

const BOM: char = '\u{feff}';

impl Shape {
    /// Splits `text` into its shape and an LF-only text without a BOM.
    pub fn of(text: &str) -> (Shape, String) {
        let (bom, body) = match text.strip_prefix(BOM) {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let newlines = body.matches('\n').count();
        let crlf = newlines > 0 && body.matches("\r\n").count() == newlines;
        let body = if crlf {
            body.replace("\r\n", "\n")
        } else {
            body.to_string()
        };
        (Shape { bom, crlf }, body)
    }

    /// Puts the BOM and CRLF line endings back.
    pub fn restore(self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 16);
        if self.bom {
            out.push(BOM);
        }
        if self.crlf {
            out.push_str(&text.replace('\n', "\r\n"));
        } else {
            out.push_str(text);
        }
        out
    }
}

/// A prefix for placeholder markers that `body` does not contain, so that a marker in an
/// edited text can only be one memsafe put there.
pub fn marker_prefix(body: &str) -> String {
    (0u32..)
        .map(|n| format!("@@memsafe{n}-"))
        .find(|prefix| !body.contains(prefix.as_str()))
        .expect("some prefix is free")
}

/// Replaces spans of `text` in one pass: each `(start marker, end marker, raw)` replaces the
/// text from the start marker's first byte to the end marker's last byte with `raw`. Markers
/// come from [`marker_prefix`], so each occurs once; a raw text that happens to look like a
/// marker is never looked at again.
pub fn splice(text: &str, replacements: &[(String, String, String)]) -> String {
    let mut spans: Vec<(usize, usize, &str)> = replacements
        .iter()
        .filter_map(|(start, end, raw)| {
            let from = text.find(start.as_str())?;
            let to = text[from..].find(end.as_str())? + from + end.len();
            Some((from, to, raw.as_str()))
        })
        .collect();
    spans.sort_by_key(|(from, _, _)| *from);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (from, to, raw) in spans {
        if from < at {
            continue;
        }
        out.push_str(&text[at..from]);
        out.push_str(raw);
        at = to;
    }
    out.push_str(&text[at..]);
    out
}

/// Carries the bytes of `old` over into `new` wherever a line is unchanged, so that an edit made
/// through a parser changes only the lines it meant to: an unchanged line keeps its own line
/// ending (in a file that mixes CRLF and LF too), a line memsafe adds takes the ending of the
/// line above it, and the file keeps or lacks its final newline as `old` did. Lines are compared
/// without their endings.
pub fn reconcile(old: &str, new: &str) -> String {
    fn split(text: &str) -> Vec<(&str, &str)> {
        text.split_inclusive('\n')
            .map(|line| {
                let body = line
                    .strip_suffix('\n')
                    .map_or(line, |l| l.strip_suffix('\r').unwrap_or(l));
                (body, &line[body.len()..])
            })
            .collect()
    }
    if old.is_empty() {
        return new.to_string();
    }
    let old_lines = split(old);
    let new_lines = split(new);
    let old_bodies: Vec<&str> = old_lines.iter().map(|(b, _)| *b).collect();
    let new_bodies: Vec<&str> = new_lines.iter().map(|(b, _)| *b).collect();
    let default_eol = old_lines
        .iter()
        .map(|(_, e)| *e)
        .find(|e| !e.is_empty())
        .unwrap_or("\n");
    let diff = similar::TextDiff::from_slices(&old_bodies, &new_bodies);
    let mut out: Vec<(String, String)> = Vec::with_capacity(new_lines.len());
    for op in diff.ops() {
        for change in diff.iter_changes(op) {
            match change.tag() {
                similar::ChangeTag::Delete => {}
                similar::ChangeTag::Equal => {
                    let index = change.old_index().expect("an equal line has an old index");
                    let (body, eol) = old_lines[index];
                    out.push((body.to_string(), eol.to_string()));
                }
                similar::ChangeTag::Insert => {
                    let index = change.new_index().expect("an inserted line has a new index");
                    let eol = out
                        .last()
                        .map(|(_, e)| e.as_str())
                        .filter(|e| !e.is_empty())
                        .unwrap_or(default_eol);
                    out.push((new_lines[index].0.to_string(), eol.to_string()));
                }
            }
        }
    }
    // Every line but the last ends with a newline; the last as in `old`.
    let count = out.len();
    for (index, (_, eol)) in out.iter_mut().enumerate() {
        if index + 1 < count && eol.is_empty() {
            *eol = default_eol.to_string();
        }
    }
    let old_final = old_lines.last().map_or("", |(_, e)| *e);
    if let Some((_, eol)) = out.last_mut() {
        *eol = if old_final.is_empty() {
            String::new()
        } else if eol.is_empty() {
            old_final.to_string()
        } else {
            eol.clone()
        };
    }
    out.into_iter().map(|(body, eol)| body + &eol).collect()
}

#[cfg(test)]
mod tests {
    use super::{Shape, reconcile};

    #[test]
    fn reconcile_keeps_old_bytes_and_final_newline_state() {
        // Mixed endings: unchanged lines keep theirs; an added line takes the one above it.
        assert_eq!(reconcile("a\r\nb\nc\r\n", "a\nb\nnew\nc\n"), "a\r\nb\nnew\nc\r\n");
        assert_eq!(reconcile("a\r\nb\r\n", "a\nx\nb\n"), "a\r\nx\r\nb\r\n");
        // No final newline before: none after, even with lines added at the end.
        assert_eq!(reconcile("a\nb", "a\nb\n\nc = 1\n"), "a\nb\n\nc = 1");
        assert_eq!(reconcile("a\nb\n\nc = 1", "a\nb\n"), "a\nb");
        // A removed line goes with its ending.
        assert_eq!(reconcile("x\r\ny\nz\n", "x\nz\n"), "x\r\nz\n");
        assert_eq!(reconcile("", "new\n"), "new\n");
    }

    #[test]
    fn round_trip() {
        for text in [
            "a\r\nb\r\n",
            "\u{feff}x = 1\n",
            "mixed\r\nlines\n",
            "",
            "no newline",
            "\u{feff}a\r\nb",
        ] {
            let (shape, body) = Shape::of(text);
            assert!(!body.starts_with('\u{feff}'));
            assert_eq!(shape.restore(&body), text);
        }
        let (shape, body) = Shape::of("a\r\nb\r\n");
        assert!(shape.crlf);
        assert_eq!(shape.restore(&format!("{body}c\n")), "a\r\nb\r\nc\r\n");
    }
}
