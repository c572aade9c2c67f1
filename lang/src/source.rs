//! Source files and the conversion of Rhai positions to byte spans.

use std::sync::Arc;

/// One file read during evaluation: its display name (relative to the project
/// root, `/`-separated) and its text.
#[derive(Debug)]
pub struct SourceFile {
    name: String,
    text: Arc<str>,
}

impl SourceFile {
    /// Creates a source file from its display name and text.
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Arc<Self> {
        Arc::new(SourceFile {
            name: name.into(),
            text: text.into(),
        })
    }

    /// The display name, relative to the project root.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The full text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Converts a Rhai position (1-based line, 1-based column counted in
    /// characters) to a byte offset into the text. Out-of-range positions
    /// clamp to the end of the line or file, never panic.
    pub fn offset(&self, line: usize, column: usize) -> usize {
        let text = self.text();
        let mut start = 0;
        for _ in 1..line.max(1) {
            match text[start..].find('\n') {
                Some(i) => start += i + 1,
                None => return text.len(),
            }
        }
        let line_text = &text[start..];
        let line_end = line_text.find('\n').unwrap_or(line_text.len());
        let line_text = &line_text[..line_end];
        let col = column.max(1) - 1;
        match line_text.char_indices().nth(col) {
            Some((i, _)) => start + i,
            None => start + line_text.len(),
        }
    }

    /// A span starting at a Rhai position and covering the token there (an
    /// identifier, a quoted string, or one character).
    pub fn span_at(&self, line: usize, column: usize) -> std::ops::Range<usize> {
        let start = self.offset(line, column);
        let rest = &self.text()[start..];
        let len = token_len(rest);
        start..start + len
    }

    /// The 1-based line number of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}

fn token_len(rest: &str) -> usize {
    let mut chars = rest.char_indices();
    let Some((_, first)) = chars.next() else {
        return 0;
    };
    if first == '"' || first == '`' {
        let mut escaped = false;
        for (i, c) in chars {
            if c == '\n' {
                return i;
            }
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == first {
                return i + c.len_utf8();
            }
        }
        return rest.len();
    }
    if first.is_alphanumeric() || first == '_' {
        for (i, c) in chars {
            if !(c.is_alphanumeric() || c == '_') {
                return i;
            }
        }
        return rest.len();
    }
    first.len_utf8()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters_not_bytes() {
        let f = SourceFile::new("x.rhai", "let a = 1;\nlet ü = \"é\"; bad\n");
        // line 2, column 14 is `bad` (ü and é are two bytes each)
        let off = f.offset(2, 14);
        assert_eq!(&f.text()[off..off + 3], "bad");
        assert_eq!(f.span_at(2, 14), off..off + 3);
        assert_eq!(f.line_of(off), 2);
    }

    #[test]
    fn out_of_range_positions_clamp() {
        let f = SourceFile::new("x.rhai", "ab");
        assert_eq!(f.offset(9, 9), 2);
        assert_eq!(f.offset(1, 99), 2);
        assert_eq!(f.span_at(1, 1), 0..2);
    }

    #[test]
    fn strings_are_one_token() {
        let f = SourceFile::new("x.rhai", "x(\"a b\\\"c\", 1)");
        assert_eq!(f.span_at(1, 3), 2..10);
    }
}
