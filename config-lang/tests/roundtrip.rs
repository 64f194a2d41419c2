//! Random flat graphs survive `unparse` → `parse` → `flatten` unchanged.

use proptest::prelude::*;
use sluice_config::{
    flatten, parse, unparse, FlatConnection, FlatElement, FlatGraph, Source, Span,
};

const RESERVED: [&str; 6] = [
    "input",
    "output",
    "define",
    "require",
    "provide",
    "elementclass",
];

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,5}(/[a-z][a-z0-9]{0,3})?(@[0-9]{1,2})?"
        .prop_filter("reserved words", |n| !RESERVED.contains(&n.as_str()))
}

fn config() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9 ,.:/_-]{0,16}".prop_filter("no comment start at the end", |s| !s.contains("//")
            && !s.contains("/*")),
        Just("(a, b), c".to_string()),
        Just("\"x)y\", 'q('".to_string()),
        Just("\\<0a 0b>, DATA \"\\\"\"".to_string()),
        Just("a // comment )\n b".to_string()),
        Just("a /* ) */ b".to_string()),
        Just("12/0800 20/0001, -".to_string()),
        Just("LIMIT 5, ACTIVE false".to_string()),
        Just("  spaced  ".to_string()),
    ]
}

fn graph() -> impl Strategy<Value = FlatGraph> {
    let elements =
        proptest::collection::btree_map(name(), ("[A-Z][A-Za-z0-9_]{0,6}", config()), 1..12);
    let requirements = proptest::collection::vec("[a-z]{1,6}( [a-z]{1,6})?", 0..3);
    (elements, requirements)
        .prop_flat_map(|(elements, requirements)| {
            let n = elements.len();
            let conns = proptest::collection::vec((0..n, 0..4usize, 0..n, 0..4usize), 0..20);
            (Just(elements), Just(requirements), conns)
        })
        .prop_map(|(elements, requirements, conns)| {
            let elements: Vec<FlatElement> = elements
                .into_iter()
                .map(|(name, (class, config))| FlatElement {
                    name,
                    class,
                    config,
                    span: Span::default(),
                    config_span: Span::default(),
                })
                .collect();
            let mut connections: Vec<FlatConnection> = Vec::new();
            for (from, from_port, to, to_port) in conns {
                let c = FlatConnection {
                    from,
                    from_port,
                    to,
                    to_port,
                };
                if !connections.contains(&c) {
                    connections.push(c);
                }
            }
            let mut reqs: Vec<String> = Vec::new();
            for r in requirements {
                if !reqs.contains(&r) {
                    reqs.push(r);
                }
            }
            FlatGraph {
                elements,
                connections,
                requirements: reqs,
            }
        })
}

type Key = (
    Vec<(String, String, String)>,
    Vec<FlatConnection>,
    Vec<String>,
);

fn key(g: &FlatGraph) -> Key {
    (
        g.elements
            .iter()
            .map(|e| (e.name.clone(), e.class.clone(), e.config.clone()))
            .collect(),
        g.connections.clone(),
        g.requirements.clone(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn unparse_parse_flatten_is_identity(g in graph()) {
        let text = unparse(&g);
        let src = Source::new("u.click", text.clone());
        let cfg = parse(&src, 0).map_err(|d| TestCaseError::fail(format!("{}\n{text}", d.render(std::slice::from_ref(&src)))))?;
        let again = flatten(&cfg, &[]).map_err(|d| TestCaseError::fail(format!("{}\n{text}", d.render(std::slice::from_ref(&src)))))?;
        prop_assert_eq!(key(&g), key(&again), "{}", text);
    }

    #[test]
    fn parse_never_panics_on_mutated_text(g in graph(), cut in 0usize..400, junk in "[\\[\\](){}:;,$|.>=/*\"'-]{0,4}") {
        let mut text = unparse(&g);
        let mut at = cut.min(text.len());
        while !text.is_char_boundary(at) { at -= 1; }
        text.insert_str(at, &junk);
        let src = Source::new("m.click", text);
        if let Ok(cfg) = parse(&src, 0) {
            let _ = flatten(&cfg, &[]);
        }
    }
}
