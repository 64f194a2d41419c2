//! Configuration errors laid out as Click's userlevel driver prints them
//! (`sluice run --error-format click`), for tools that read Click's standard error.
//!
//! Click names a position by its landmark, `FILE:LINE` (`config` for `-e`, `<stdin>` for
//! standard input), honouring the C preprocessor's `# LINE "FILE"` directives. An element's
//! errors follow one context line, `LANDMARK: While configuring 'NAME :: CLASS':` (or `While
//! initializing`), each indented by two spaces; errors found while the router is put together
//! end with `Router could not be initialized!`. Click stops at the first phase that fails
//! (reading the configuration, then checking connections, then configuring and initializing
//! elements), so only the errors of the earliest phase with errors are printed, as Click
//! would print them. Where sluice makes the same check as Click, the message takes Click's
//! wording; sluice's own checks keep theirs.

use sluice_config::{Diagnostic, Diagnostics, FlatGraph, Source, Span};

/// How `sluice run` prints configuration errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ErrorFormat {
    /// `file:line:col: error: message`, the source line and a caret under the span.
    Sluice,
    /// Click's userlevel driver's layout: landmarks, element contexts and trailer lines.
    Click,
}

/// The source name `sluice run -e` gives its configuration, which Click calls `config`.
pub const EXPRESSION_NAME: &str = "<expr>";

/// Where in setting up the router the errors arose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading, flattening and checking the configuration, and configuring elements.
    Load,
    /// Initializing elements (files, devices).
    Initialize,
}

/// The trailer Click prints when the router could not be set up.
const TRAILER: &str = "Router could not be initialized!";

/// Click's phases, in the order it runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Syntax, unknown classes, declarations: reported without a trailer.
    Read,
    /// Connections to ports an element does not have.
    PortRange,
    /// Push outputs and pull inputs used more than once.
    PortReuse,
    /// Ports left unconnected.
    PortUnused,
    /// One element's arguments or initialization.
    Element,
}

/// One error, reworded and placed as Click places it.
struct Entry {
    stage: Stage,
    landmark: String,
    /// `(name, class)` for an element's error, whose `text` goes under a context line.
    element: Option<(String, String)>,
    text: String,
    /// A second line Click adds (`element 'x' previously declared here`).
    note: Option<(String, String)>,
}

/// Renders `diags` in Click's layout. `graph` (when the configuration got that far) gives
/// elements' classes and declaration lines.
pub fn render(
    diags: &Diagnostics,
    sources: &[Source],
    graph: Option<&FlatGraph>,
    phase: Phase,
) -> String {
    let entries: Vec<Entry> = diags.0.iter().map(|d| entry(d, sources, graph)).collect();
    let Some(first) = entries.iter().map(|e| e.stage).min() else {
        return String::new();
    };
    let mut out = String::new();
    let mut context: Option<&(String, String)> = None;
    let elements = entries.iter().filter(|e| e.stage == first);
    // An element's errors under one context line, elements in order of first error.
    let mut ordered: Vec<&Entry> = Vec::new();
    for e in elements {
        let at = ordered
            .iter()
            .rposition(|o| o.element.is_some() && o.element == e.element);
        match at {
            Some(i) => ordered.insert(i + 1, e),
            None => ordered.push(e),
        }
    }
    let verb = match phase {
        Phase::Load => "While configuring",
        Phase::Initialize => "While initializing",
    };
    for e in ordered {
        match &e.element {
            Some(el) => {
                if context != Some(el) {
                    out.push_str(&format!("{}: {verb} '{} :: {}':\n", e.landmark, el.0, el.1));
                    context = Some(el);
                }
                for line in e.text.lines() {
                    out.push_str(&format!("  {line}\n"));
                }
            }
            None => {
                context = None;
                out.push_str(&format!("{}: {}\n", e.landmark, e.text));
            }
        }
        if let Some((landmark, note)) = &e.note {
            out.push_str(&format!("{landmark}: {note}\n"));
        }
    }
    if first != Stage::Read || phase == Phase::Initialize {
        out.push_str(TRAILER);
        out.push('\n');
    }
    out
}

fn entry(d: &Diagnostic, sources: &[Source], graph: Option<&FlatGraph>) -> Entry {
    let at = landmark(sources, d.span);
    let find = |name: &str| graph.and_then(|g| g.elements.iter().find(|e| e.name == name));
    if let Some((name, class, rest)) = element_message(&d.message) {
        // The context line names the element's declaration.
        let landmark = find(name).map_or(at, |e| landmark(sources, e.span));
        return Entry {
            stage: Stage::Element,
            landmark,
            element: Some((name.into(), class.into())),
            text: element_wording(rest),
            note: None,
        };
    }
    let class_of = |name: &str| find(name).map(|e| e.class.clone());
    let (stage, text, note) = match graph_wording(&d.message, &class_of) {
        Some(Reworded::Read(t)) => (Stage::Read, t, None),
        Some(Reworded::Hookup(stage, t)) => (stage, t, None),
        Some(Reworded::Redeclared(name)) => {
            let note = find(&name).filter(|e| e.span != d.span).map(|e| {
                (
                    landmark(sources, e.span),
                    format!("element '{name}' previously declared here"),
                )
            });
            (
                Stage::Read,
                format!("redeclaration of element '{name}'"),
                note,
            )
        }
        None => (Stage::Read, d.message.clone(), None),
    };
    Entry {
        stage,
        landmark: at,
        element: None,
        text,
        note,
    }
}

/// `NAME :: CLASS: rest`, the form of every error about one element.
fn element_message(message: &str) -> Option<(&str, &str, &str)> {
    let (name, after) = message.split_once(" :: ")?;
    let (class, rest) = after.split_once(": ")?;
    let word = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
    (word(name) && word(class) && !name.starts_with('\'')).then_some((name, class, rest))
}

/// An element's error as Click words it, where Click makes the same check.
fn element_wording(rest: &str) -> String {
    if let Some(k) = quoted_after(rest, "unknown keyword argument ") {
        return format!("{k}: unknown argument");
    }
    // `input spec 0: bad source port '1x'`: Click does not repeat the value.
    if let Some((spec, what)) = rest.split_once(": bad ") {
        if spec.starts_with("input spec ") {
            if let Some((what, _)) = what.split_once(" '") {
                return format!("{spec}: bad {what}");
            }
        }
    }
    rest.to_string()
}

enum Reworded {
    Read(String),
    /// A connection error found in the given stage.
    Hookup(Stage, String),
    /// `redeclaration of element 'NAME'`, with where it was declared first.
    Redeclared(String),
}

/// A configuration-level error as Click words it, and the phase Click finds it in.
fn graph_wording(message: &str, class_of: &dyn Fn(&str) -> Option<String>) -> Option<Reworded> {
    if let Some(class) = quoted_after(message, "unknown element class ") {
        return Some(Reworded::Read(format!("unknown element class '{class}'")));
    }
    if let Some(name) = quoted_after(message, "element ") {
        if message.contains("' is declared twice") {
            return Some(Reworded::Redeclared(name.into()));
        }
    }
    // `'x' (Counter) has no output [1]: ...`
    if let Some(rest) = message.strip_prefix('\'') {
        let (name, rest) = rest.split_once("' (")?;
        let (class, rest) = rest.split_once(") has no ")?;
        let (dir, rest) = rest.split_once(" [")?;
        let (port, _) = rest.split_once(']')?;
        return Some(Reworded::Hookup(
            Stage::PortRange,
            format!("'{name} :: {class}' has no {dir} {port}"),
        ));
    }
    // `output [0] of 'x' (Idle) is not connected: ...`
    for dir in ["input", "output"] {
        if let Some(rest) = message.strip_prefix(&format!("{dir} [")) {
            let (port, rest) = rest.split_once("] of '")?;
            let (name, rest) = rest.split_once("' (")?;
            let (class, rest) = rest.split_once(')')?;
            if rest.starts_with(" is not connected") {
                return Some(Reworded::Hookup(
                    Stage::PortUnused,
                    format!("'{name} :: {class}' {dir} {port} unused"),
                ));
            }
        }
    }
    // `push output 'x' [0] is connected 2 times, ...`
    if let Some(rest) = message.strip_prefix("push output '") {
        let (name, rest) = rest.split_once("' [")?;
        let (port, rest) = rest.split_once(']')?;
        if rest.starts_with(" is connected") {
            let class = class_of(name)?;
            return Some(Reworded::Hookup(
                Stage::PortReuse,
                format!("illegal reuse of '{name} :: {class}' push output {port}"),
            ));
        }
    }
    None
}

/// The `'...'` right after `prefix` at the start of `text`.
fn quoted_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(prefix)?.strip_prefix('\'')?;
    rest.split_once('\'').map(|(q, _)| q)
}

/// Click's landmark for a span: `FILE:LINE`, after the source's `# LINE "FILE"` directives.
fn landmark(sources: &[Source], span: Span) -> String {
    let Some(src) = sources.get(usize::from(span.file)) else {
        return String::from("config");
    };
    let mut file = match src.name.as_str() {
        EXPRESSION_NAME => "config",
        name => name,
    };
    let mut line = 1usize;
    let end = (span.start as usize).min(src.text.len());
    let mut at = 0;
    for text in src.text.split_inclusive('\n') {
        if at + text.len() > end {
            break;
        }
        at += text.len();
        match line_directive(text) {
            Some((n, name)) => {
                line = n;
                if let Some(name) = name {
                    file = name;
                }
            }
            None => line += 1,
        }
    }
    format!("{file}:{line}")
}

/// A `# LINE "FILE" FLAGS...` or `#line LINE "FILE"` line: the line number of the next line
/// and the file, if named.
fn line_directive(text: &str) -> Option<(usize, Option<&str>)> {
    let rest = text.trim_start().strip_prefix('#')?.trim_start();
    let rest = rest.strip_prefix("line").unwrap_or(rest).trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let line = rest[..digits].parse().ok()?;
    let file = rest[digits..]
        .trim_start()
        .strip_prefix('"')
        .and_then(|f| f.split_once('"'))
        .map(|(f, _)| f);
    Some((line, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landmarks_follow_line_directives() {
        let text = "# 1 \"A\"\n\nx :: Idle;\n# 1 \"B\" 1\ny :: Idle;\n# 4 \"A\" 2\nz :: Idle;\n";
        let src = vec![Source::new("<stdin>", text)];
        let at = |needle: &str| {
            let i = text.find(needle).unwrap();
            landmark(&src, Span::new(0, i, i + 1))
        };
        assert_eq!(at("x ::"), "A:2");
        assert_eq!(at("y ::"), "B:1");
        assert_eq!(at("z ::"), "A:4");
    }

    #[test]
    fn expressions_are_named_config() {
        let src = vec![Source::new(EXPRESSION_NAME, "a\nb")];
        assert_eq!(landmark(&src, Span::new(0, 2, 3)), "config:2");
    }

    #[test]
    fn element_errors_go_under_one_context() {
        let src = vec![Source::new(
            EXPRESSION_NAME,
            "i :: Idle;\nc :: Counter(A 1, B 2)",
        )];
        let diags = Diagnostics(vec![
            Diagnostic::error(
                Span::new(0, 24, 27),
                "c :: Counter: unknown keyword argument 'A'",
            ),
            Diagnostic::error(
                Span::new(0, 29, 32),
                "c :: Counter: unknown keyword argument 'B'",
            ),
        ]);
        assert_eq!(
            render(&diags, &src, None, Phase::Load),
            "config:2: While configuring 'c :: Counter':\n  A: unknown argument\n  \
             B: unknown argument\nRouter could not be initialized!\n"
        );
    }

    #[test]
    fn reading_errors_hide_later_phases_and_have_no_trailer() {
        let src = vec![Source::new("f.click", "x :: Bogus;\ny :: Idle;")];
        let diags = Diagnostics(vec![
            Diagnostic::error(
                Span::new(0, 5, 10),
                "unknown element class 'Bogus': check the spelling",
            ),
            Diagnostic::error(
                Span::new(0, 12, 13),
                "output [0] of 'y' (Idle) is not connected: connect it",
            ),
        ]);
        assert_eq!(
            render(&diags, &src, None, Phase::Load),
            "f.click:1: unknown element class 'Bogus'\n"
        );
    }
}
