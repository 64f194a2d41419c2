//! Element manuals, as `sluice doc` prints them.
//!
//! An element's manual is the module documentation at the top of the file that defines it,
//! in one format modelled on Click's manual pages:
//!
//! ```text
//! `Class(SIGNATURE)` — one-line summary.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Description, in as many paragraphs as it takes (no label).
//!
//! **Keywords:**
//!
//! - `KEYWORD`: what it does; its default.
//!
//! **Handlers:** `count` (r), `reset` (w), ...
//!
//! **Example:** `... -> Class(...) -> ...`
//!
//! **Differences from Click:** where sluice departs from Click.
//! ```
//!
//! The labels come in this order, each starting a paragraph, and a label with nothing to say
//! is left out; only Ports and Processing are always there, with the class's port and
//! processing codes in Click's notation first. A file that defines several classes gives
//! each further one a `` ## `Class(SIGNATURE)` — summary. `` section with the same labels.
//!
//! The manuals are read from the source files themselves ([`include_str!`]), so they cannot
//! drift from what rustdoc shows. Nothing in a router refers to this module: an image built
//! without `sluice doc` does not carry the text.

use alloc::string::String;
use alloc::vec::Vec;

/// The source files that define element classes, whose module documentation holds their
/// manuals. A class whose file is missing here has no manual, and the tests fail.
const SOURCES: &[&str] = &[
    include_str!("standard/addressinfo.rs"),
    include_str!("standard/align.rs"),
    include_str!("standard/bwratedsplitter.rs"),
    include_str!("standard/counter.rs"),
    include_str!("standard/delayshaper.rs"),
    include_str!("standard/delayunqueue.rs"),
    include_str!("standard/stridesched.rs"),
    include_str!("standard/bypass.rs"),
    include_str!("standard/clipboard.rs"),
    include_str!("standard/scheduleinfo.rs"),
    include_str!("standard/shaper.rs"),
    include_str!("standard/timedsink.rs"),
    include_str!("standard/timedsource.rs"),
    include_str!("standard/timesortedsched.rs"),
    include_str!("standard/pullswitch.rs"),
    include_str!("standard/linkunqueue.rs"),
    include_str!("standard/settimestampdelta.rs"),
    include_str!("standard/device.rs"),
    include_str!("standard/discard.rs"),
    include_str!("standard/frontdropqueue.rs"),
    include_str!("standard/hub.rs"),
    include_str!("standard/infinitesource.rs"),
    include_str!("standard/length.rs"),
    include_str!("standard/mixedqueue.rs"),
    include_str!("standard/paint.rs"),
    include_str!("standard/print.rs"),
    include_str!("standard/queue.rs"),
    include_str!("standard/randomsample.rs"),
    include_str!("standard/randomseed.rs"),
    include_str!("standard/rated.rs"),
    include_str!("standard/ratedsource.rs"),
    include_str!("standard/ratedsplitter.rs"),
    include_str!("standard/resize.rs"),
    include_str!("standard/sched.rs"),
    include_str!("standard/script.rs"),
    include_str!("standard/settimestamp.rs"),
    include_str!("standard/switch.rs"),
    include_str!("standard/tee.rs"),
    include_str!("standard/unqueue.rs"),
    include_str!("classify/classifier.rs"),
    include_str!("classify/ipclassifier.rs"),
    include_str!("classify/ipfilter.rs"),
    include_str!("ip/checkip6header.rs"),
    include_str!("ip/checkipheader.rs"),
    include_str!("ip/checksums.rs"),
    include_str!("ip/checktransport.rs"),
    include_str!("ip/decipttl.rs"),
    include_str!("ip/encap.rs"),
    include_str!("ip/ether.rs"),
    include_str!("ip/ethervlan.rs"),
    include_str!("ip/fastudpsource.rs"),
    include_str!("ip/headers.rs"),
    include_str!("ip/markmacheader.rs"),
    include_str!("ip/icmpipencap.rs"),
    include_str!("ip/ipaddress.rs"),
    include_str!("ip/ipprint.rs"),
    include_str!("ip/striptonetworkheader.rs"),
    include_str!("ip/tos.rs"),
    include_str!("ip/unstripipheader.rs"),
    include_str!("ip/vlan.rs"),
    include_str!("routing/arpprint.rs"),
    include_str!("routing/arpquerier.rs"),
    include_str!("routing/arpresponder.rs"),
    include_str!("routing/arptable.rs"),
    include_str!("routing/directiplookup.rs"),
    include_str!("routing/fixipsrc.rs"),
    include_str!("routing/icmperror.rs"),
    include_str!("routing/icmppingresponder.rs"),
    include_str!("routing/ipfragmenter.rs"),
    include_str!("routing/ipreassembler.rs"),
    include_str!("routing/ipgwoptions.rs"),
    include_str!("routing/lineariplookup.rs"),
    include_str!("routing/paint.rs"),
    include_str!("routing/radixiplookup.rs"),
    include_str!("routing/rangeiplookup.rs"),
    include_str!("nat/icmppingrewriter.rs"),
    include_str!("nat/icmprewriter.rs"),
    include_str!("nat/ftpportmapper.rs"),
    include_str!("nat/ipaddrpairrewriter.rs"),
    include_str!("nat/ipaddrrewriter.rs"),
    include_str!("nat/iprewriter.rs"),
    include_str!("nat/iprewriterpatterns.rs"),
];

/// The host-only classes' files (`std` feature), as [`SOURCES`].
#[cfg(feature = "std")]
const HOST_SOURCES: &[&str] = &[
    include_str!("host/controlsocket.rs"),
    include_str!("host/fromdump.rs"),
    include_str!("host/ipsumdump.rs"),
    include_str!("host/todump.rs"),
];

/// The labels a manual's paragraphs may start with, in the order they must come.
pub const LABELS: &[&str] = &[
    "Ports",
    "Processing",
    "Keywords",
    "Handlers",
    "Hot reconfiguration",
    "Example",
    "Differences from Click",
];

/// One element class's manual.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manual {
    /// The class it documents.
    pub class: &'static str,
    /// Its markdown lines, without the `//!` comment prefix. The first is
    /// `` `Class(SIGNATURE)` — summary. `` (without the `## ` of a secondary class's
    /// section).
    pub lines: Vec<&'static str>,
}

impl Manual {
    /// `Class(SIGNATURE)`, as the first line gives it.
    pub fn synopsis(&self) -> &'static str {
        let first = self.lines[0];
        first
            .strip_prefix('`')
            .and_then(|s| s.split_once('`'))
            .map_or(first, |(synopsis, _)| synopsis)
    }

    /// The one-line summary after the synopsis, without its final full stop.
    pub fn summary(&self) -> &'static str {
        let first = self.lines[0];
        first
            .split_once("` — ")
            .map_or("", |(_, s)| s.trim().trim_end_matches('.'))
    }

    /// The manual as one markdown text.
    pub fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }
}

/// Every manual, in the order of the source files.
pub fn manuals() -> Vec<Manual> {
    let mut all = Vec::new();
    for source in SOURCES {
        all.extend(parse(source));
    }
    #[cfg(feature = "std")]
    for source in HOST_SOURCES {
        all.extend(parse(source));
    }
    all
}

/// The manual of class `name` (exact spelling).
pub fn manual(name: &str) -> Option<Manual> {
    manuals().into_iter().find(|m| m.class == name)
}

/// The manuals in one source file's module documentation: the leading `//!` block, split
/// at `` ## `Class `` headings outside code blocks.
pub fn parse(source: &'static str) -> Vec<Manual> {
    let mut manuals: Vec<Manual> = Vec::new();
    let mut in_code = false;
    for line in source.lines().map_while(|l| l.strip_prefix("//!")) {
        let line = line.strip_prefix(' ').unwrap_or(line);
        let heading = if in_code {
            None
        } else if manuals.is_empty() {
            Some(line)
        } else {
            line.strip_prefix("## ").filter(|h| h.starts_with('`'))
        };
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        match heading {
            Some(first) => manuals.push(Manual {
                class: class_name(first),
                lines: alloc::vec![first],
            }),
            None => {
                if let Some(m) = manuals.last_mut() {
                    m.lines.push(line);
                }
            }
        }
    }
    for m in &mut manuals {
        while m.lines.last().is_some_and(|l| l.trim().is_empty()) {
            m.lines.pop();
        }
    }
    manuals
}

/// The class a manual's first line names: `` `Class(...)` `` or `` `Class` ``.
fn class_name(first: &'static str) -> &'static str {
    let rest = first.strip_prefix('`').unwrap_or("");
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    use sluice_dataplane::ElementClass;

    use super::{manual, manuals, parse, Manual, LABELS};

    /// Checks `m` against the manual format for `class`.
    fn check(m: &Manual, class: &ElementClass) -> Result<(), String> {
        let first = m.lines[0];
        let named = [format!("`{}(", class.name), format!("`{}`", class.name)];
        if !named.iter().any(|n| first.starts_with(n.as_str())) {
            return Err(format!(
                "first line must start with `{}(SIGNATURE)`: {first}",
                class.name
            ));
        }
        if m.summary().is_empty() {
            return Err(format!("first line has no ` — summary`: {first}"));
        }
        let mut seen: Vec<usize> = Vec::new();
        let mut in_code = false;
        for (i, line) in m.lines.iter().enumerate().skip(1) {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if in_code {
                continue;
            }
            if line.starts_with('#') {
                return Err(format!("a heading that is not a class section: {line}"));
            }
            // Bold is for labels only, and a label starts a paragraph.
            let mut from = 0;
            while let Some(start) = line[from..].find("**").map(|s| from + s) {
                let Some(len) = line[start + 2..].find("**") else {
                    return Err(format!("unclosed bold: {line}"));
                };
                let label = &line[start + 2..start + 2 + len];
                let known = label
                    .strip_suffix(':')
                    .and_then(|l| LABELS.iter().position(|k| *k == l));
                let Some(k) = known else {
                    return Err(format!("unknown label **{label}**: {line}"));
                };
                if start != 0 || !m.lines[i - 1].trim().is_empty() {
                    return Err(format!(
                        "label **{label}** does not start a paragraph: {line}"
                    ));
                }
                if seen.last().is_some_and(|&prev| prev >= k) {
                    return Err(format!("label **{label}** out of order or repeated"));
                }
                seen.push(k);
                from = start + 4 + len;
            }
        }
        let declared = |label: &str, code: &str| {
            let want = format!("**{label}:** `{code}`");
            if m.lines.iter().any(|l| l.starts_with(want.as_str())) {
                Ok(())
            } else {
                Err(format!("no paragraph starting {want}"))
            }
        };
        declared("Ports", class.ports)?;
        declared("Processing", class.processing)
    }

    #[test]
    fn every_class_has_a_manual_in_the_format() {
        let mut problems = Vec::new();
        for class in crate::all_classes() {
            match manual(class.name) {
                None => problems.push(format!(
                    "{}: no manual (is its file in manual::SOURCES?)",
                    class.name
                )),
                Some(m) => {
                    if let Err(e) = check(&m, class) {
                        problems.push(format!("{}: {e}", class.name));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn every_manual_documents_one_registered_class() {
        let all = manuals();
        let mut names: Vec<&str> = all.iter().map(|m| m.class).collect();
        for name in &names {
            assert!(
                crate::find_class(name).is_some(),
                "manual of unknown class {name}"
            );
        }
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a class with two manuals");
        assert_eq!(n, crate::all_classes().len());
    }

    #[test]
    fn further_classes_of_a_file_are_sections() {
        let m = manual("RandomSource").unwrap();
        assert!(
            m.synopsis().starts_with("RandomSource(LENGTH"),
            "{}",
            m.synopsis()
        );
        assert!(!m.text().contains("InfiniteSource(["), "{}", m.text());
        let first = manual("InfiniteSource").unwrap();
        assert!(
            !first.text().contains("RandomSource(LENGTH"),
            "{}",
            first.text()
        );
        assert_eq!(first.summary(), "generates packets whenever scheduled");
    }

    const SAMPLE: &str = "//! `Thing(N)` — does a thing.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! ```text
//! ## not a section, inside code
//! ```
//!
//! ## `Other()` — does another.
//!
//! **Processing:** `h`: push.
//!
//! **Ports:** `1/1`: one input, one output.

use core::fmt;
";

    static THING: ElementClass = ElementClass {
        name: "Thing",
        ports: "1/1",
        processing: "a",
        make: |_, _| None,
        names: None,
    };

    #[test]
    fn parse_splits_sections_outside_code() {
        let ms = parse(SAMPLE);
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].class, "Thing");
        assert_eq!(ms[0].synopsis(), "Thing(N)");
        assert!(ms[0].text().contains("## not a section"));
        assert_eq!(ms[1].class, "Other");
        assert_eq!(ms[1].lines[0], "`Other()` — does another.");
        assert_eq!(ms[1].summary(), "does another");
    }

    #[test]
    fn check_catches_what_breaks_the_format() {
        let ms = parse(SAMPLE);
        assert_eq!(check(&ms[0], &THING), Ok(()));
        let other = ElementClass {
            name: "Other",
            processing: "h",
            ..THING
        };
        assert!(check(&ms[1], &other).unwrap_err().contains("out of order"));
        let mut wrong_ports = ms[0].clone();
        wrong_ports.lines[2] = "**Ports:** `1/1-2`: one input, one or two outputs.";
        assert!(check(&wrong_ports, &THING)
            .unwrap_err()
            .contains("**Ports:** `1/1`"));
        let mut unknown = ms[0].clone();
        unknown.lines.extend(["", "**Notes:** more."]);
        assert!(check(&unknown, &THING)
            .unwrap_err()
            .contains("unknown label"));
        let mut old_style = ms[0].clone();
        old_style.lines[2] = "**Ports** 1/1.";
        assert!(check(&old_style, &THING).is_err());
        let mut heading = ms[0].clone();
        heading.lines.extend(["", "# Description"]);
        assert!(check(&heading, &THING).unwrap_err().contains("heading"));
        assert!(check(&ms[0], &other)
            .unwrap_err()
            .contains("`Other(SIGNATURE)`"));
    }
}
