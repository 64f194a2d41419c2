//! A configuration's text without its comments, for carrying it where bytes count.
//!
//! [`Compacted::new`] drops comments, `#` line directives and the blank space at the ends of
//! lines, and keeps everything else byte for byte: every token, every configuration string
//! between parentheses (comments inside one included: the element's arguments read the same),
//! the white space between tokens on one line, and every line break. So each token keeps its
//! line and column, and a diagnostic rendered against the compacted text points where it
//! points in the original. [`Compacted::span`] maps a span of the original into the compacted
//! text.
//!
//! ```
//! use sluice_config::compact::Compacted;
//! let c = Compacted::new("// a counter\nc :: Counter; // counts\n  c -> Discard;\n");
//! assert_eq!(c.text, "\nc :: Counter;\n  c -> Discard;\n");
//! assert_eq!(c.offset(13), 1); // `c`
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::lexer::{ConfigScan, Lexer, TokenKind};
use crate::span::Span;

/// A source text without its comments, and where each byte of the original went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compacted {
    /// The compacted text.
    pub text: String,
    /// The stretches copied unchanged, in order: (offset in the original, offset in `text`,
    /// length).
    kept: Vec<(usize, usize, usize)>,
}

impl Compacted {
    /// Compacts `original`. Text the lexer cannot take apart (an unterminated comment, quote
    /// or configuration string) is kept as it is from there on.
    pub fn new(original: &str) -> Self {
        let mut out = Self {
            text: String::with_capacity(original.len()),
            kept: Vec::new(),
        };
        let mut lexer = Lexer::new(original, 0);
        let mut prev = 0;
        loop {
            let tok = lexer.next_token();
            match tok.kind {
                TokenKind::Eof => {
                    if original[prev..].contains('\n') {
                        out.text.push('\n');
                    }
                    break;
                }
                TokenKind::UnterminatedComment => {
                    out.keep(original, prev, original.len());
                    break;
                }
                _ => {}
            }
            out.trivia(original, prev, tok.start);
            out.keep(original, tok.start, tok.end);
            prev = tok.end;
            if tok.kind == TokenKind::LParen {
                match lexer.config_string() {
                    ConfigScan::Ok { end, .. } => {
                        // The string and its closing parenthesis, as written.
                        out.keep(original, prev, end + 1);
                        prev = end + 1;
                    }
                    ConfigScan::Unterminated { .. } => {
                        out.keep(original, prev, original.len());
                        break;
                    }
                }
            }
        }
        out
    }

    /// Where offset `at` of the original is in the compacted text (an offset inside a dropped
    /// comment maps to where the comment was).
    pub fn offset(&self, at: usize) -> usize {
        let i = self.kept.partition_point(|&(from, _, _)| from <= at);
        match i.checked_sub(1).map(|i| self.kept[i]) {
            Some((from, to, len)) => to + (at - from).min(len),
            None => 0,
        }
    }

    /// `span` of the original, in the compacted text.
    pub fn span(&self, span: Span) -> Span {
        let map = |at: u32| u32::try_from(self.offset(at as usize)).unwrap_or(u32::MAX);
        Span {
            file: span.file,
            start: map(span.start),
            end: map(span.end),
        }
    }

    /// Copies `original[start..end]` unchanged.
    fn keep(&mut self, original: &str, start: usize, end: usize) {
        if start >= end {
            return;
        }
        let to = self.text.len();
        self.text.push_str(&original[start..end]);
        match self.kept.last_mut() {
            Some((from, at, len)) if *from + *len == start && *at + *len == to => {
                *len += end - start;
            }
            _ => self.kept.push((start, to, end - start)),
        }
    }

    /// What separates two tokens, `original[start..end]`: on one line, kept as it is (so the
    /// next token keeps its column); across lines, its line breaks and the next token's
    /// indentation, unless a comment ends on that token's line before it (then all of it).
    fn trivia(&mut self, original: &str, start: usize, end: usize) {
        let between = &original[start..end];
        let Some(last) = between.rfind('\n') else {
            self.keep(original, start, end);
            return;
        };
        let indent = &between[last + 1..];
        if !indent.bytes().all(|b| b.is_ascii_whitespace()) {
            self.keep(original, start, end);
            return;
        }
        let lines = between.bytes().filter(|&b| b == b'\n').count();
        self.text.extend(core::iter::repeat_n('\n', lines));
        self.keep(original, start + last + 1, end);
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::Compacted;
    use crate::span::Source;
    use crate::{flatten, parse, FlatGraph};

    const TEXT: &str = "\
// A firewall.
/* Several
   lines. */
define($PORT 53);
elementclass Side { $port |
  // The filter.
  input -> f :: IPFilter(allow udp dst port $port, // a comment inside the arguments
                         deny all) -> output;   /* trailing */
}
# 12 \"directive\"
src :: Idle; /* mid-line */ s :: Side($PORT);
c :: Counter(\"// not a comment\")  ;
src -> s -> c /* x
   y */ -> Discard;   // end
   // last
";

    fn graph(text: &str) -> FlatGraph {
        let source = Source::new("t.click", text);
        let config = parse(&source, 0).expect("parses");
        flatten(&config, &[]).expect("flattens")
    }

    /// (line, column) of a byte offset.
    fn line_col(text: &str, at: usize) -> (usize, usize) {
        let before = &text[..at];
        let line = before.bytes().filter(|&b| b == b'\n').count();
        (line, at - before.rfind('\n').map_or(0, |i| i + 1))
    }

    #[test]
    fn the_compacted_text_flattens_to_the_same_graph_at_the_same_lines_and_columns() {
        let c = Compacted::new(TEXT);
        assert!(c.text.len() < TEXT.len() * 3 / 4, "{}", c.text);
        for dropped in [
            "A firewall",
            "Several",
            "The filter",
            "trailing",
            "end",
            "last",
        ] {
            assert!(!c.text.contains(dropped), "{dropped}: {}", c.text);
        }
        for kept in [
            "// a comment inside",
            "\"// not a comment\"",
            "/* mid-line */",
            "y */",
        ] {
            assert!(c.text.contains(kept), "{kept}: {}", c.text);
        }

        let (old, new) = (graph(TEXT), graph(&c.text));
        assert_eq!(old.connections, new.connections);
        assert_eq!(old.requirements, new.requirements);
        assert_eq!(old.elements.len(), new.elements.len());
        for (o, n) in old.elements.iter().zip(&new.elements) {
            assert_eq!(
                (&o.name, &o.class, &o.config),
                (&n.name, &n.class, &n.config)
            );
            assert_eq!(c.span(o.span), n.span, "{}", o.name);
            assert_eq!(c.span(o.config_span), n.config_span, "{}", o.name);
            for (a, b) in [(o.span, n.span), (o.config_span, n.config_span)] {
                assert_eq!(
                    line_col(TEXT, a.start as usize),
                    line_col(&c.text, b.start as usize),
                    "{}",
                    o.name
                );
            }
        }
    }

    #[test]
    fn offsets_in_dropped_comments_map_to_where_they_were() {
        let c = Compacted::new("a -> b; // x\nc -> d;");
        assert_eq!(c.text, "a -> b;\nc -> d;");
        let comment = "a -> b; ".len() + 1;
        assert_eq!(c.offset(comment), "a -> b;".len());
        assert_eq!(c.offset("a -> b; // x\n".len()), "a -> b;\n".len());
        assert_eq!(c.offset(usize::MAX), c.text.len());
    }

    #[test]
    fn what_does_not_lex_is_kept_as_it_is() {
        for text in [
            "a -> b; /* open",
            "c :: Counter(\"open",
            "d :: Counter(1, (2)",
        ] {
            let c = Compacted::new(text);
            assert_eq!(c.text, text);
            let all: Vec<usize> = (0..=text.len()).map(|i| c.offset(i)).collect();
            assert_eq!(all, (0..=text.len()).collect::<Vec<_>>());
        }
    }
}
