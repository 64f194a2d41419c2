//! `ScheduleInfo(ELEMENT PARAM, ...)` — states the share of the CPU that tasks get.
//!
//! **Ports:** `0/0`: none.
//!
//! **Processing:** `a`: agnostic.
//!
//! Each argument is an element name and a scheduling parameter, a non-negative real number
//! (`src 2`, `unq 0.5`): in Click, an element's tasks run that many times as often as a
//! task with parameter 1, and parameters multiply down compound elements. sluice's
//! scheduler gives every task one run per round, so the parameters are checked and then
//! left unused: a configuration written for Click runs unchanged. An empty argument is
//! allowed; anything other than a name and a number is an error.
//!
//! **Example:** `ScheduleInfo(fromdev 2, todev 1);`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::{split_words, Args};
use sluice_dataplane::{Batch, ConfigContext, Context, Element, ElementClass};

use super::common::parse_fixed;

/// The element class.
pub static ScheduleInfo: ElementClass = ElementClass {
    name: "ScheduleInfo",
    ports: "0/0",
    processing: "a",
    make,
    names: None,
};

/// The fraction bits of a scheduling parameter, as Click keeps it.
const FRAC_BITS: u32 = 10;

/// A scheduling parameter as Click keeps it; `None` when it is not a non-negative number.
fn parse_param(text: &str) -> Option<u32> {
    parse_fixed(text, FRAC_BITS)
}

struct ScheduleInfoElement;

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    for arg in a.rest() {
        let words: alloc::vec::Vec<&str> = split_words(arg.text).collect();
        match words.as_slice() {
            [] => {}
            [_, param] if parse_param(param).is_some() => {}
            _ => a.error(arg.span, "expected 'ELEMENTNAME PARAM'"),
        }
    }
    Some(Box::new(ScheduleInfoElement))
}

impl Element for ScheduleInfoElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
}

#[cfg(test)]
mod tests {
    use super::parse_param;
    use crate::testutil::*;

    #[test]
    fn parameters_are_fixed_point() {
        assert_eq!(parse_param("1"), Some(1024));
        assert_eq!(parse_param("2.5"), Some(2560));
        assert_eq!(parse_param(".5"), Some(512));
        assert_eq!(parse_param("0.0001"), Some(0));
        assert_eq!(parse_param("0.0005"), Some(1), "rounded to nearest");
        assert_eq!(parse_param("-1"), None);
        assert_eq!(parse_param("x"), None);
        assert_eq!(parse_param("."), None);
        assert_eq!(parse_param("5000000"), None, "does not fit");
    }

    #[test]
    fn arguments_are_element_parameter_pairs() {
        let one = |cfg: &str| graph(&[("si", "ScheduleInfo", cfg)], &[]);
        let b = Bench::new();
        assert!(b.router(&one("unq 1, src 2.5,, q 0.25")).is_ok());
        for bad in ["unq", "unq 1 2", "unq fast", "unq -1"] {
            assert!(
                config_error(&one(bad)).contains("expected 'ELEMENTNAME PARAM'"),
                "{bad}"
            );
        }
    }
}
