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

#[cfg(test)]
mod tests {
    use super::Shape;

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
