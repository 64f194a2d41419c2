//! What the checker needs to know about an element class: its port counts and processing,
//! written as Click writes them (`1/1-2`, `a/ah`).

use alloc::string::{String, ToString};

/// Processing of one port: Click's `h` (push), `l` (pull) or `a` (agnostic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Processing {
    /// `h`: the upstream element hands packets down.
    Push,
    /// `l`: the downstream element asks for packets.
    Pull,
    /// `a`: push or pull, whichever its neighbours are.
    Agnostic,
}

/// An inclusive range of port counts; `max == None` is unbounded (`1-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// Fewest ports the class accepts.
    pub min: usize,
    /// Most ports, or `None` for no limit.
    pub max: Option<usize>,
}

impl PortRange {
    /// Exactly `n` ports.
    pub const fn exactly(n: usize) -> Self {
        Self {
            min: n,
            max: Some(n),
        }
    }

    /// Whether `n` ports are allowed.
    pub fn contains(&self, n: usize) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }

    fn parse(s: &str) -> Option<Self> {
        if s == "-" {
            return Some(Self { min: 0, max: None });
        }
        match s.split_once('-') {
            None => s.parse().ok().map(Self::exactly),
            Some((a, "")) => Some(Self {
                min: a.parse().ok()?,
                max: None,
            }),
            Some((a, b)) => {
                let (min, max) = (a.parse().ok()?, b.parse().ok()?);
                (min <= max).then_some(Self {
                    min,
                    max: Some(max),
                })
            }
        }
    }
}

impl core::fmt::Display for PortRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.max {
            Some(m) if m == self.min => write!(f, "{m}"),
            Some(m) => write!(f, "{}-{m}", self.min),
            None if self.min == 0 => f.write_str("-"),
            None => write!(f, "{}-", self.min),
        }
    }
}

/// Input and output port counts, Click's `PORT_COUNT` (`1/1-2`, `0/1`, `-/-`, `1/=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Allowed input counts.
    pub inputs: PortRange,
    /// Allowed output counts.
    pub outputs: PortRange,
    /// `=`: the element must have as many outputs as inputs.
    pub outputs_equal_inputs: bool,
}

impl PortSpec {
    /// Parses Click's notation. `"1"` alone means one input and one output.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || alloc::format!("bad port count '{s}' (expected e.g. '1/1-2', '0/1', '-/-')");
        let (i, o) = s.split_once('/').unwrap_or((s, s));
        let inputs = PortRange::parse(i.trim()).ok_or_else(bad)?;
        if o.trim() == "=" {
            return Ok(Self {
                inputs,
                outputs: inputs,
                outputs_equal_inputs: true,
            });
        }
        let outputs = PortRange::parse(o.trim()).ok_or_else(bad)?;
        Ok(Self {
            inputs,
            outputs,
            outputs_equal_inputs: false,
        })
    }
}

/// Per-port processing, Click's `PROCESSING` (`a/ah`, `h/h`, `l/h`): the last letter of each
/// side repeats for the remaining ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessingCode {
    inputs: String,
    outputs: String,
}

impl ProcessingCode {
    /// Parses `a/ah`-style codes. A single side (`a`) applies to both.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (i, o) = s.split_once('/').unwrap_or((s, s));
        let ok = |x: &str| !x.is_empty() && x.bytes().all(|b| matches!(b, b'a' | b'h' | b'l'));
        if !ok(i) || !ok(o) {
            return Err(alloc::format!(
                "bad processing code '{s}' (expected letters a, h, l, as in 'a/ah')"
            ));
        }
        Ok(Self {
            inputs: i.to_string(),
            outputs: o.to_string(),
        })
    }

    fn at(code: &str, port: usize) -> Processing {
        let b = code.as_bytes();
        match b[port.min(b.len() - 1)] {
            b'h' => Processing::Push,
            b'l' => Processing::Pull,
            _ => Processing::Agnostic,
        }
    }

    /// Processing of input `port`.
    pub fn input(&self, port: usize) -> Processing {
        Self::at(&self.inputs, port)
    }

    /// Processing of output `port`.
    pub fn output(&self, port: usize) -> Processing {
        Self::at(&self.outputs, port)
    }
}

/// What the checker knows of one class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassSpec {
    /// Class name, e.g. `IPFilter`.
    pub name: String,
    /// Port counts.
    pub ports: PortSpec,
    /// Push/pull per port.
    pub processing: ProcessingCode,
}

impl ClassSpec {
    /// Builds a spec from Click's notations; panics only on a malformed literal, so use it
    /// with constants (classes are declared in code).
    pub fn new(name: &str, ports: &str, processing: &str) -> Self {
        Self {
            name: name.to_string(),
            ports: PortSpec::parse(ports).expect("valid port count literal"),
            processing: ProcessingCode::parse(processing).expect("valid processing literal"),
        }
    }
}

/// The classes a configuration may use. Supplied by the caller: the CLI passes the element
/// registry, tests pass small tables.
pub trait ClassTable {
    /// The class called `name`, if there is one.
    fn lookup(&self, name: &str) -> Option<&ClassSpec>;

    /// Every class name, for "did you mean" suggestions. The default lists none; tables
    /// that can enumerate their classes should override it.
    fn names(&self) -> alloc::vec::Vec<&str> {
        alloc::vec::Vec::new()
    }
}

impl ClassTable for [ClassSpec] {
    fn lookup(&self, name: &str) -> Option<&ClassSpec> {
        self.iter().find(|c| c.name == name)
    }

    fn names(&self) -> alloc::vec::Vec<&str> {
        self.iter().map(|c| c.name.as_str()).collect()
    }
}

impl ClassTable for alloc::vec::Vec<ClassSpec> {
    fn lookup(&self, name: &str) -> Option<&ClassSpec> {
        self.as_slice().lookup(name)
    }

    fn names(&self) -> alloc::vec::Vec<&str> {
        self.as_slice().names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        let p = PortSpec::parse("1/1-2").unwrap();
        assert!(p.inputs.contains(1) && !p.inputs.contains(2));
        assert!(p.outputs.contains(2) && !p.outputs.contains(3) && !p.outputs.contains(0));
        let any = PortSpec::parse("-/-").unwrap();
        assert!(any.inputs.contains(0) && any.outputs.contains(99));
        assert!(PortSpec::parse("1/=").unwrap().outputs_equal_inputs);
        assert_eq!(
            PortSpec::parse("1").unwrap(),
            PortSpec::parse("1/1").unwrap()
        );
        assert!(PortSpec::parse("2-1/1").is_err());
        assert_eq!(PortSpec::parse("1-/0").unwrap().inputs.to_string(), "1-");
    }

    #[test]
    fn processing_codes_repeat_last_letter() {
        let p = ProcessingCode::parse("a/ah").unwrap();
        assert_eq!(p.input(0), Processing::Agnostic);
        assert_eq!(p.output(0), Processing::Agnostic);
        assert_eq!(p.output(1), Processing::Push);
        assert_eq!(p.output(7), Processing::Push);
        assert!(ProcessingCode::parse("x/h").is_err());
    }
}
