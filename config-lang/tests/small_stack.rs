//! The parser and flattener never recurse: huge and deeply nested configurations go through
//! on a 64 KiB stack, as inside the unikernel.

use sluice_config::{check, flatten, parse, ClassSpec, Source};

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no overflow");
}

fn classes() -> Vec<ClassSpec> {
    vec![
        ClassSpec::new("InfiniteSource", "0/1", "a/a"),
        ClassSpec::new("Counter", "1/1", "a/a"),
        ClassSpec::new("Discard", "1/0", "a/a"),
    ]
}

fn run(text: String) -> sluice_config::FlatGraph {
    let src = Source::new("big.click", text);
    let cfg = parse(&src, 0).unwrap_or_else(|d| panic!("{}", d.render(std::slice::from_ref(&src))));
    let g =
        flatten(&cfg, &[]).unwrap_or_else(|d| panic!("{}", d.render(std::slice::from_ref(&src))));
    let d = check(&g, &classes());
    assert!(d.is_empty(), "{}", d.render(&[src]));
    g
}

#[test]
fn hundred_thousand_elements() {
    on_small_stack(|| {
        let n = 100_000;
        let mut text = String::from("src :: InfiniteSource;\n");
        for i in 0..n {
            text.push_str(&format!("e{i} :: Counter({i});\n"));
        }
        text.push_str("src");
        for i in 0..n {
            text.push_str(&format!(" -> e{i}"));
            if i % 8 == 7 {
                text.push('\n');
            }
        }
        text.push_str(" -> Discard;\n");
        let g = run(text);
        assert_eq!(g.elements.len(), n + 2);
        assert_eq!(g.connections.len(), n + 1);
    });
}

#[test]
fn thousand_deep_inline_compounds() {
    on_small_stack(|| {
        let depth = 1000;
        let mut text = String::from("InfiniteSource -> x :: ");
        for _ in 0..depth {
            text.push_str("{ input -> ");
        }
        text.push_str("c :: Counter");
        for _ in 0..depth {
            text.push_str(" -> output }");
        }
        text.push_str(" -> Discard;");
        let g = run(text);
        assert_eq!(g.elements.len(), 3);
        // Click's order: the top level's own elements, then the compound's.
        assert!(g.elements[2].name.starts_with("x/@1/@1/"));
        assert!(g.elements[2].name.ends_with("/c"));
        assert_eq!(g.connections.len(), 2);
    });
}

#[test]
fn thousand_deep_element_classes_and_groups() {
    on_small_stack(|| {
        let depth = 1000;
        let mut text = String::from("elementclass C0 { $n | input -> Counter($n) -> output }\n");
        for i in 1..depth {
            text.push_str(&format!(
                "elementclass C{i} {{ $n | input -> C{}($n) -> output }}\n",
                i - 1
            ));
        }
        text.push_str(&format!("InfiniteSource -> C{}(7) -> ", depth - 1));
        for _ in 0..depth {
            text.push_str("( input -> ");
        }
        text.push_str("Counter");
        for _ in 0..depth {
            text.push_str(" -> output )");
        }
        text.push_str(" -> Discard;");
        let g = run(text);
        assert_eq!(g.elements.len(), 4);
        assert_eq!(g.elements[3].config, "7");
        assert_eq!(g.connections.len(), 3);
    });
}

#[test]
fn deep_unclosed_nesting_reports_errors_without_overflow() {
    on_small_stack(|| {
        let text = "x :: { ( { ( ".repeat(2000);
        let src = Source::new("bad.click", text);
        let errs = parse(&src, 0).unwrap_err();
        assert!(errs.0.len() >= 2000);
    });
}
