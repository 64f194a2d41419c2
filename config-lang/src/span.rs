//! Source text, byte spans and diagnostics.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// One configuration file (or command-line snippet) and its name for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Shown in diagnostics: a path, or a name such as `<command line>`.
    pub name: String,
    /// The whole text.
    pub text: String,
}

impl Source {
    /// A source with a display name and its text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset; offsets past the end map to
    /// the end of the text.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// The text of the line that holds `offset`, without its newline.
    pub fn line_text(&self, offset: usize) -> &str {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        &self.text[start..end]
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A byte range in one [`Source`]. `file` indexes the list of sources a diagnostic is
/// rendered against (0 for single-file configurations).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Index of the source in the caller's source list.
    pub file: u16,
    /// First byte.
    pub start: u32,
    /// One past the last byte (`start == end` for a point).
    pub end: u32,
}

impl Span {
    /// A span of bytes `start..end` in source `file`.
    pub const fn new(file: u16, start: usize, end: usize) -> Self {
        Self {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// A sub-span, `start..end` relative to this span's start.
    pub fn sub(self, start: usize, end: usize) -> Span {
        Span {
            file: self.file,
            start: self.start + start as u32,
            end: self.start + end as u32,
        }
    }
}

/// One error, anchored at a span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where.
    pub span: Span,
    /// What is wrong, phrased for a network engineer: what to change.
    pub message: String,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self {
            span,
            message: message.into(),
        }
    }

    /// Renders `file:line:col: error: message`, the source line and a caret under the span.
    pub fn render(&self, sources: &[Source]) -> String {
        let mut out = String::new();
        let _ = self.write_to(&mut out, sources);
        out
    }

    fn write_to(&self, out: &mut impl fmt::Write, sources: &[Source]) -> fmt::Result {
        let Some(src) = sources.get(usize::from(self.span.file)) else {
            return writeln!(out, "error: {}", self.message);
        };
        let start = self.span.start as usize;
        let (line, col) = src.line_col(start);
        writeln!(
            out,
            "{}:{}:{}: error: {}",
            src.name, line, col, self.message
        )?;
        let text = src.line_text(start);
        writeln!(out, "{:>5} | {}", line, text)?;
        // Underline the span, clipped to this line; at least one caret.
        let line_chars = text.chars().count();
        let span_chars = src
            .text
            .get(start..(self.span.end as usize).max(start))
            .map_or(1, |s| s.split('\n').next().unwrap_or("").chars().count())
            .max(1);
        let width = span_chars.min(line_chars.saturating_sub(col - 1).max(1));
        let pad: String = text
            .chars()
            .take(col - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(out, "{:>5} | {}", "", pad)?;
        for _ in 0..width {
            out.write_char('^')?;
        }
        out.write_char('\n')
    }
}

/// Several diagnostics, in source order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Renders each in turn (sorted by file and start; ties in report order), as
    /// [`Diagnostic::render`] does.
    pub fn render(&self, sources: &[Source]) -> String {
        let mut out = String::new();
        let by_start = self.0.iter().map(|d| Some(Span { end: 0, ..d.span }));
        for k in Self::order_of(by_start) {
            out.push_str(&self.0[k].render(sources));
        }
        out
    }

    /// Sorts by file and position (start, then end); diagnostics at the same place keep
    /// the order they were reported in.
    pub fn sort(&mut self) {
        let mut taken: Vec<Option<Diagnostic>> = self.0.drain(..).map(Some).collect();
        let order = Self::order_of(taken.iter().map(|d| d.as_ref().map(|d| d.span)));
        self.0 = order.into_iter().filter_map(|k| taken[k].take()).collect();
    }

    /// Indices by file, start and end; ties in report order.
    fn order_of(spans: impl Iterator<Item = Option<Span>>) -> Vec<usize> {
        let keys: Vec<(u32, u32, u32, usize)> = spans
            .enumerate()
            .map(|(k, s)| {
                let s = s.unwrap_or_default();
                (u32::from(s.file), s.start, s.end, k)
            })
            .collect();
        crate::heap_sorted(keys).into_iter().map(|k| k.3).collect()
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(v: Vec<Diagnostic>) -> Self {
        Self(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_col_and_caret() {
        let src = Source::new("fw.click", "a :: Counter;\nb :: Bogus(1);\n");
        let d = Diagnostic::error(Span::new(0, 19, 24), "unknown element class 'Bogus'");
        assert_eq!(
            d.render(&[src]),
            "fw.click:2:6: error: unknown element class 'Bogus'\n    2 | b :: Bogus(1);\n      |      ^^^^^\n"
        );
    }

    #[test]
    fn line_col_past_end_is_clamped() {
        let src = Source::new("x", "ab\ncd");
        assert_eq!(src.line_col(100), (2, 3));
    }
}
