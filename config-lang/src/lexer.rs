//! The Click lexer: turns source text into tokens on demand.
//!
//! The parser pulls tokens one at a time because one part of the language does not follow the
//! usual lexical rules: a configuration string runs from a `(` to the matching unbalanced `)`,
//! skipping over quoted strings and comments. The parser asks for it with
//! [`Lexer::config_string`] when it knows a `(` opens one.
//!
//! Identifiers are letters, digits, `_`, `@` and `/`, not starting or ending with `/` and
//! never containing `//` (that starts a comment). Parameters are `$name` or `${...}`.

use crate::span::Span;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An element name, class name or port number.
    Ident,
    /// `$name` or `${name}` (the text includes the `$`).
    Variable,
    /// `::`
    ColonColon,
    /// `->`
    Arrow,
    /// `=>`
    Arrow2,
    /// `||`
    BarBar,
    /// `|`
    Bar,
    /// `...`
    Ellipsis,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// The keyword `elementclass`.
    ElementClass,
    /// The keyword `require`.
    Require,
    /// The keyword `provide` (accepted and treated like `require`).
    Provide,
    /// The keyword `define`.
    Define,
    /// A `/*` comment without its `*/`.
    UnterminatedComment,
    /// A character that cannot start any token.
    BadChar,
    /// End of input.
    Eof,
}

/// One token: its kind and byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Whether a line break separates it from the previous token (used for error recovery).
    pub newline_before: bool,
}

/// A configuration string between parentheses, or why there is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigScan {
    /// The text is `start..end`; the closing `)` is at `end`.
    Ok {
        /// First byte of the text (just after `(`).
        start: usize,
        /// The closing parenthesis.
        end: usize,
    },
    /// The input ended inside the string; `quote` is where an unclosed quote started, if the
    /// string ended inside one.
    Unterminated {
        /// Offset of an unclosed quote or comment that swallowed the rest of the input.
        quote: Option<usize>,
    },
}

/// A pull lexer over one source text.
#[derive(Clone, Debug)]
pub struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    file: u16,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'@' || b == b'/'
}

fn is_var_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `text`; spans are tagged with `file`.
    pub fn new(text: &'a str, file: u16) -> Self {
        Self { text, pos: 0, file }
    }

    /// The whole source text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The current byte offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves to byte offset `pos` (a token boundary previously returned).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.text.len());
    }

    /// The span of `start..end` in this lexer's file.
    pub fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    /// Skips white space, comments and `#` line directives. Returns whether a newline was
    /// crossed, or `Err(start)` for a `/*` comment that never ends.
    fn skip_trivia(&mut self) -> Result<bool, usize> {
        let b = self.text.as_bytes();
        let mut newline = self.pos == 0;
        let mut at_line_start = self.pos == 0 || b.get(self.pos - 1) == Some(&b'\n');
        while self.pos < b.len() {
            let c = b[self.pos];
            if c == b'\n' {
                newline = true;
                at_line_start = true;
                self.pos += 1;
            } else if c.is_ascii_whitespace() {
                self.pos += 1;
            } else if c == b'/' && b.get(self.pos + 1) == Some(&b'/') {
                self.skip_line();
            } else if c == b'#' && at_line_start {
                // `# 12 "file"` / `#line` directives (C preprocessor output): ignored.
                self.skip_line();
            } else if c == b'/' && b.get(self.pos + 1) == Some(&b'*') {
                let start = self.pos;
                match self.text[self.pos + 2..].find("*/") {
                    Some(i) => {
                        newline |= self.text[self.pos..self.pos + 2 + i].contains('\n');
                        self.pos += i + 4;
                    }
                    None => {
                        self.pos = b.len();
                        return Err(start);
                    }
                }
            } else {
                break;
            }
        }
        Ok(newline)
    }

    fn skip_line(&mut self) {
        self.pos = self.text[self.pos..]
            .find('\n')
            .map_or(self.text.len(), |i| self.pos + i);
    }

    /// The next token.
    pub fn next_token(&mut self) -> Token {
        let newline_before = match self.skip_trivia() {
            Ok(n) => n,
            Err(start) => {
                return Token {
                    kind: TokenKind::UnterminatedComment,
                    start,
                    end: start + 2,
                    newline_before: true,
                }
            }
        };
        let b = self.text.as_bytes();
        let start = self.pos;
        let tok = |kind, len: usize| (kind, start + len);
        let (kind, end) = match b.get(start).copied() {
            None => tok(TokenKind::Eof, 0),
            Some(c) if is_ident_byte(c) && c != b'/' => {
                let mut i = start;
                while i < b.len() && is_ident_byte(b[i]) {
                    if b[i] == b'/' && matches!(b.get(i + 1), Some(b'/' | b'*')) {
                        break;
                    }
                    i += 1;
                }
                // An identifier does not end with a slash.
                while i > start + 1 && b[i - 1] == b'/' {
                    i -= 1;
                }
                let kind = match &self.text[start..i] {
                    "elementclass" => TokenKind::ElementClass,
                    "require" => TokenKind::Require,
                    "provide" => TokenKind::Provide,
                    "define" => TokenKind::Define,
                    _ => TokenKind::Ident,
                };
                (kind, i)
            }
            Some(b'$') => {
                if b.get(start + 1) == Some(&b'{') {
                    match self.text[start..].find('}') {
                        Some(i) => tok(TokenKind::Variable, i + 1),
                        None => tok(TokenKind::BadChar, 1),
                    }
                } else {
                    let n = b[start + 1..]
                        .iter()
                        .take_while(|&&c| is_var_byte(c))
                        .count();
                    if n == 0 {
                        tok(TokenKind::BadChar, 1)
                    } else {
                        tok(TokenKind::Variable, n + 1)
                    }
                }
            }
            Some(c) => {
                let next = b.get(start + 1).copied();
                match (c, next) {
                    (b':', Some(b':')) => tok(TokenKind::ColonColon, 2),
                    (b'-', Some(b'>')) => tok(TokenKind::Arrow, 2),
                    (b'=', Some(b'>')) => tok(TokenKind::Arrow2, 2),
                    (b'|', Some(b'|')) => tok(TokenKind::BarBar, 2),
                    (b'|', _) => tok(TokenKind::Bar, 1),
                    (b'.', Some(b'.')) if b.get(start + 2) == Some(&b'.') => {
                        tok(TokenKind::Ellipsis, 3)
                    }
                    (b',', _) => tok(TokenKind::Comma, 1),
                    (b';', _) => tok(TokenKind::Semi, 1),
                    (b'(', _) => tok(TokenKind::LParen, 1),
                    (b')', _) => tok(TokenKind::RParen, 1),
                    (b'[', _) => tok(TokenKind::LBracket, 1),
                    (b']', _) => tok(TokenKind::RBracket, 1),
                    (b'{', _) => tok(TokenKind::LBrace, 1),
                    (b'}', _) => tok(TokenKind::RBrace, 1),
                    _ => {
                        // One whole character, so spans stay on character boundaries.
                        let len = self.text[start..].chars().next().map_or(1, char::len_utf8);
                        tok(TokenKind::BadChar, len)
                    }
                }
            }
        };
        self.pos = end;
        Token {
            kind,
            start,
            end,
            newline_before,
        }
    }

    /// The token after the current position, without consuming it.
    pub fn peek(&self) -> Token {
        self.clone().next_token()
    }

    /// Scans a configuration string that starts at the current position (just after a `(`),
    /// up to the matching `)`, which is consumed. Quotes, comments and backslash escapes do
    /// not count towards balancing.
    pub fn config_string(&mut self) -> ConfigScan {
        let b = self.text.as_bytes();
        let start = self.pos;
        let mut i = start;
        let mut depth = 0usize;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                q @ (b'"' | b'\'') => {
                    let open = i;
                    i += 1;
                    loop {
                        match b.get(i) {
                            None => {
                                self.pos = b.len();
                                return ConfigScan::Unterminated { quote: Some(open) };
                            }
                            Some(b'\\') if q == b'"' => i += 2,
                            Some(&c) if c == q => break,
                            Some(_) => i += 1,
                        }
                    }
                    i += 1;
                }
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    i = self.text[i..].find('\n').map_or(b.len(), |n| i + n);
                }
                b'/' if b.get(i + 1) == Some(&b'*') => match self.text[i + 2..].find("*/") {
                    Some(n) => i += n + 4,
                    None => {
                        self.pos = b.len();
                        return ConfigScan::Unterminated { quote: Some(i) };
                    }
                },
                b'(' => {
                    depth += 1;
                    i += 1;
                }
                b')' => {
                    if depth == 0 {
                        self.pos = i + 1;
                        return ConfigScan::Ok { start, end: i };
                    }
                    depth -= 1;
                    i += 1;
                }
                _ => i += 1,
            }
        }
        self.pos = b.len();
        ConfigScan::Unterminated { quote: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn kinds(s: &str) -> Vec<(TokenKind, &str)> {
        let mut lx = Lexer::new(s, 0);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token();
            if t.kind == TokenKind::Eof {
                return out;
            }
            out.push((t.kind, &s[t.start..t.end]));
        }
    }

    #[test]
    fn identifiers_stop_at_comments_and_trailing_slashes() {
        use TokenKind::*;
        assert_eq!(
            kinds("an/identifier/with/slashes//too/many\nx/ ::"),
            [
                (Ident, "an/identifier/with/slashes"),
                (Ident, "x"),
                (BadChar, "/"),
                (ColonColon, "::")
            ]
        );
    }

    #[test]
    fn operators_and_variables() {
        use TokenKind::*;
        assert_eq!(
            kinds("a->b=>c || | ... $x ${y-1} elementclass"),
            [
                (Ident, "a"),
                (Arrow, "->"),
                (Ident, "b"),
                (Arrow2, "=>"),
                (Ident, "c"),
                (BarBar, "||"),
                (Bar, "|"),
                (Ellipsis, "..."),
                (Variable, "$x"),
                (Variable, "${y-1}"),
                (ElementClass, "elementclass")
            ]
        );
    }

    #[test]
    fn config_strings_balance_parentheses() {
        let cases = [
            ("simple string)", "simple string"),
            (
                "string with (balanced parens))",
                "string with (balanced parens)",
            ),
            (
                "string with \")quoted\" paren)",
                "string with \")quoted\" paren",
            ),
            (
                "// end-of-line comment)\n   still going!)",
                "// end-of-line comment)\n   still going!",
            ),
            (
                "/* slash-star comment) */ and backslash \\))",
                "/* slash-star comment) */ and backslash \\)",
            ),
        ];
        for (src, want) in cases {
            let mut lx = Lexer::new(src, 0);
            let ConfigScan::Ok { start, end } = lx.config_string() else {
                panic!("{src}")
            };
            assert_eq!(&src[start..end], want);
        }
        let mut lx = Lexer::new("\"abc)", 0);
        assert_eq!(
            lx.config_string(),
            ConfigScan::Unterminated { quote: Some(0) }
        );
    }
}
