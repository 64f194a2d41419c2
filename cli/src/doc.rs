//! `sluice doc`: element manuals on the terminal, or as a set of markdown pages
//! (`--markdown DIR`, the reference under `docs/elements/`).
//!
//! The manuals are the module documentation of the element source files
//! ([`sluice_elements::manual`]); this prints them as plain text: the comment markers, bold
//! and code fences go (code is indented instead), links keep only their text, and the rest
//! of the markdown (backticks, lists, tables) stays as it reads well enough.

use std::io::Write;
use std::process::ExitCode;

use sluice_elements::manual::{self, Manual};

/// Arguments of `sluice doc`.
#[derive(Debug, clap::Args)]
pub struct DocArgs {
    /// The element class whose manual to print; without it, every class with its summary.
    #[arg(conflicts_with = "markdown")]
    pub class: Option<String>,
    /// Write every manual as a markdown page into DIR (one `CLASS.md` each and an index,
    /// `README.md`), replacing the pages there.
    #[arg(long, value_name = "DIR")]
    pub markdown: Option<std::path::PathBuf>,
}

/// Prints one class's manual, or the list of classes; exit status 1 for an unknown class.
pub fn doc(args: DocArgs) -> ExitCode {
    let manuals = manual::manuals();
    if let Some(dir) = &args.markdown {
        return match write_markdown(&manuals, dir) {
            Ok(n) => {
                println!("wrote {n} manuals and an index to {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sluice doc: {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    let text = match &args.class {
        None => list(&manuals),
        Some(name) => match manuals.iter().find(|m| m.class == name.as_str()) {
            Some(m) => render(m),
            None => {
                let names: Vec<&str> = manuals.iter().map(|m| m.class).collect();
                let hint = match sluice_config::suggest(name, &names) {
                    Some(s) => format!("; did you mean '{s}'?"),
                    None => "; 'sluice doc' lists every class".to_string(),
                };
                eprintln!("sluice doc: no element class '{name}'{hint}");
                return ExitCode::FAILURE;
            }
        },
    };
    // A closed pipe (`sluice doc | head`) is not an error worth reporting.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// The classes in case-insensitive name order.
fn sorted(manuals: &[Manual]) -> Vec<&Manual> {
    let mut sorted: Vec<&Manual> = manuals.iter().collect();
    sorted.sort_by_key(|m| (m.class.to_ascii_lowercase(), m.class));
    sorted
}

/// Writes `CLASS.md` for every manual and `README.md`, the index, into `dir` (made if
/// missing; pages of classes that no longer exist are removed). Returns the number of
/// manuals.
pub fn write_markdown(manuals: &[Manual], dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "md") {
            std::fs::remove_file(path)?;
        }
    }
    let sorted = sorted(manuals);
    let mut index = String::from(
        "# Element reference\n\nEvery element class of this build, with its manual (what \
         `sluice doc CLASS` prints). Written by `sluice doc --markdown docs/elements`.\n\n\
         | class | summary |\n|---|---|\n",
    );
    for m in &sorted {
        index.push_str(&format!(
            "| [`{}`]({}.md) | {} |\n",
            m.class,
            m.class,
            m.summary()
        ));
        std::fs::write(dir.join(format!("{}.md", m.class)), page(m))?;
    }
    std::fs::write(dir.join("README.md"), index)?;
    Ok(sorted.len())
}

/// One manual as a markdown page: the synopsis as its title, the text as written, with
/// links into the source (rustdoc's) reduced to their text.
fn page(m: &Manual) -> String {
    let mut out = format!("# `{}`\n\n{}.\n", m.synopsis(), m.summary());
    let mut in_code = false;
    for line in &m.lines[1..] {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            out.push_str(line);
        } else if in_code {
            out.push_str(line);
        } else {
            out.push_str(&unlinked(line));
        }
        out.push('\n');
    }
    out
}

/// `line` with its links reduced to their text (bold and code kept).
fn unlinked(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_span = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            in_span = !in_span;
        } else if c == '[' && !in_span {
            if let Some((text, after)) = link(rest) {
                out.push_str(text);
                rest = after;
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// One line per class, `Name  summary`, in case-insensitive name order.
fn list(manuals: &[Manual]) -> String {
    let sorted = sorted(manuals);
    let width = sorted.iter().map(|m| m.class.len()).max().unwrap_or(0);
    let mut out = String::new();
    for m in sorted {
        out.push_str(&format!("{:width$}  {}\n", m.class, m.summary()));
    }
    out
}

/// The manual as plain text.
fn render(m: &Manual) -> String {
    let mut out = format!("{} — {}.\n", m.synopsis(), m.summary());
    let mut in_code = false;
    for line in &m.lines[1..] {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push_str("    ");
            out.push_str(line);
        } else {
            out.push_str(&plain(line));
        }
        out.push('\n');
    }
    out
}

/// One markdown line as plain text: without bold markers, and links (`[text](target)`,
/// `` [`item`] ``) reduced to their text. Code spans are left alone.
fn plain(line: &str) -> String {
    unlinked(&line.replace("**", ""))
}

/// A link at the start of `s`: its text and what follows it.
fn link(s: &str) -> Option<(&str, &str)> {
    let close = s.find(']')?;
    let text = &s[1..close];
    let after = &s[close + 1..];
    if let Some(target) = after.strip_prefix('(') {
        let end = target.find(')')?;
        return Some((text, &target[end + 1..]));
    }
    // An intra-doc link names an item in backticks: `` [`item`] ``.
    let item = text.len() > 2 && text.starts_with('`') && text.ends_with('`');
    item.then_some((text, after))
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn plain_text_keeps_code_and_drops_markup() {
        assert_eq!(
            plain("**Ports:** `1/1`: in [`IPClassifier`](super::ipclassifier)'s language"),
            "Ports: `1/1`: in `IPClassifier`'s language"
        );
        assert_eq!(plain("see [`all_classes`]."), "see `all_classes`.");
        assert_eq!(
            plain("`Queue([CAPACITY])` and `rt[0](x)` stay; [SRCORDST] host"),
            "`Queue([CAPACITY])` and `rt[0](x)` stay; [SRCORDST] host"
        );
    }
}
