//! Arbitrary bytes, read as UTF-8 (lossily), through parse, flatten and check, plus the
//! printers and the argument splitter. Nothing may panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_config::args::{self, Args};
use sluice_config::{check, dot, flatten, parse, unparse, ClassSpec, Source, Span};

fn classes() -> Vec<ClassSpec> {
    vec![
        ClassSpec::new("InfiniteSource", "0/1", "a/a"),
        ClassSpec::new("Counter", "1/1", "a/a"),
        ClassSpec::new("Discard", "1/0", "a/a"),
        ClassSpec::new("Queue", "1/1", "h/l"),
        ClassSpec::new("ToDevice", "1/0", "l/a"),
        ClassSpec::new("FromDevice", "0/1", "a/h"),
        ClassSpec::new("Tee", "1/1-", "h/h"),
        ClassSpec::new("Classifier", "1/1-", "h/h"),
        ClassSpec::new("Paint", "1/1", "a/a"),
        ClassSpec::new("RoundRobinSched", "1-/1", "l/l"),
    ]
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let src = Source::new("fuzz.click", text);
    let sources = [src.clone()];
    match parse(&src, 0) {
        Err(diags) => {
            let _ = diags.render(&sources);
        }
        Ok(config) => {
            let params = [("X".to_string(), "1".to_string())];
            match flatten(&config, &params) {
                Err(diags) => {
                    let _ = diags.render(&sources);
                }
                Ok(graph) => {
                    let diags = check(&graph, &classes());
                    let _ = diags.render(&sources);
                    let _ = dot::to_dot(&graph);
                    let _ = unparse(&graph);
                    for e in &graph.elements {
                        let _ = args::split(&e.config, e.config_span);
                        let mut a = Args::new(&e.config, e.config_span);
                        let _: Option<u32> = a.read_p("N");
                        let _: Option<String> = a.read_k("KEY");
                        let _ = a.rest();
                        let _ = a.finish();
                    }
                }
            }
        }
    }
    // The argument reader on the raw text too.
    let mut a = Args::new(&src.text, Span::default());
    let _: Option<String> = a.read_mp("A");
    let _: Option<u64> = a.read_k("LIMIT");
    let _ = a.finish();
});
