use sluice_config::*;
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
    ]
}
fn main() {
    let inputs: Vec<String> = std::env::args().skip(1).collect();
    for t in inputs {
        let src = Source::new("t.click", t.clone());
        println!("=== {t}");
        match load(&src, &[("P".into(), "9".into())], &classes()) {
            Ok(g) => print!("{}", unparse(&g)),
            Err(d) => print!("{}", d.render(&[src])),
        }
    }
}
