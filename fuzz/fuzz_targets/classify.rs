//! IPFilter/IPClassifier compilation against a direct interpretation of the rules.
//!
//! The input is split at its first `0xff` byte. The bytes before it pick a rule list: each
//! byte chooses one word from a vocabulary of the pattern language (`,` ends a rule), so
//! mutations explore combinations of protocols, ports, nets, `and`/`or`/`not`, brackets and
//! relations. The bytes after it are a packet (its IP header at byte 0). For every rule
//! list that parses:
//!
//! - the compiled program, with and without switch tables, sends the packet where the
//!   reference evaluator (`reference_classify`: each rule's formula walked directly, first
//!   match wins) sends it;
//! - the program encoded and decoded (what an image carries) is the same program.
//!
//! Arbitrary bytes also go to `Program::decode` as they are: an error or a program that
//! classifies, never a panic.
#![no_main]

use sluice_elements::classify::lang::{parse_pattern, tokenize};
use sluice_elements::classify::program::{reference_classify, Expr, Outcome, Program, View};

#[rustfmt::skip]
const WORDS: &[&str] = &[
    ",", "tcp", "udp", "icmp", "ip", "src", "dst", "host", "net", "port", "and", "or", "not",
    "(", ")", "&&", "||", "!", "80", "22", "53", "1023", "65535", "0", "10.0.0.0/8",
    "192.168.1.1", "198.18.0.0/15", "0.0.0.0/0", "type", "echo", "echo-reply", "unreachable",
    "syn", "ack", "fin", "rst", "tcp opt", "frag", "unfrag", "proto", "17", "6", ">", "<",
    ">=", "<=", "!=", "=", "len", "ttl", "tos", "1", "64", "ip[9]", "transp[0:2]",
    "ip[12:4]", "&", "0xff", "-", "any", "all", "true", "false", "dscp", "ect", "ce",
];

fn rules(selector: &[u8]) -> Option<Vec<(Expr, Outcome)>> {
    let mut text = String::new();
    for &b in selector {
        text.push_str(WORDS[usize::from(b) % WORDS.len()]);
        text.push(' ');
    }
    let mut out = Vec::new();
    for (i, rule) in text.split(',').enumerate().take(64) {
        let words = tokenize(rule);
        let expr = parse_pattern(&words, None).ok()?;
        out.push((expr, Outcome::Port(i as u16)));
    }
    Some(out)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Program::decode(data) {
        let _ = p.classify(&View::of_bytes(data));
    }
    let split = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let (selector, packet) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let Some(rules) = rules(selector) else {
        return;
    };
    let view = View::of_bytes(packet);
    let expected = reference_classify(&rules, &view);
    let plain = Program::compile(&rules);
    assert_eq!(plain.classify(&view), expected, "plain program");
    let switched = Program::compile_with_switches(&rules, 2);
    assert_eq!(switched.classify(&view), expected, "switched program");
    let decoded = Program::decode(&switched.encode()).expect("an encoded program decodes");
    assert_eq!(decoded, switched, "encoding round trip");
});
