//! `Script(INSTRUCTIONS...)` — scripts a configuration.
//!
//! **Ports:** `-/-`: none, except for packet scripts: any number of inputs and outputs.
//!
//! **Processing:** `a`: agnostic.
//!
//! Each argument is one instruction; they run in order, starting when `TYPE` says.
//!
//! Text arguments undergo substitution: `$VAR` and `${VAR}` are script variables, `$?` is
//! the status of the last `write` (0 on success, -1 on failure), `$args` the parameters of
//! the `run` call, `$1`, `$2`... their words, `$#` how many, `$0` the handler's name and
//! `$write` whether the call was a write; `$(HANDLER [PARAMS])` is the value of a read
//! handler (`$(c.count)`, `$(s.run 1 2)`) or of an arithmetic handler (`$(add $x 1)`).
//! Substitution happens inside double quotes, not inside single quotes.
//!
//! The instructions:
//!
//! - `set VAR TEXT`, `setq VAR TEXT` — sets `$VAR` (`setq` removes a layer of quotes).
//! - `init VAR TEXT`, `initq VAR TEXT` — sets `$VAR` once, when the router starts.
//!   `export VAR TEXT` (`exportq`) does the same and makes `$VAR` a read handler of the
//!   script.
//! - `return [TEXT]`, `returnq ...` — ends the run with TEXT as its result.
//! - `print [>FILE | >>FILE] TEXT|HANDLER`, `printn ...` — prints a line (`printn`: the same;
//!   the console is line-based). An argument that starts with a letter, `@` or `_` is a read
//!   handler whose value is printed; otherwise it is text, substituted and unquoted. `>FILE`
//!   writes (truncating) and `>>FILE` appends to a file on the host; in the VM, and without
//!   the `std` feature, the line goes to the console.
//! - `read HANDLER [PARAMS]`, `readq ...` — prints `HANDLER:`, its value, and an empty
//!   line (`readq`, `printq` and `printnq` unquote the parameters).
//! - `write HANDLER [VALUE]`, `writeq ...`, `call ...` — calls a write handler. A bare
//!   name is a global handler (`write stop`).
//! - `pause [N]` (also `wait_stop`, `wait_pause`, `wait_step`) — waits for N steps (default
//!   1). A step is a write to the `step` handler; for a `DriverManager`, a stop request from
//!   any element (`STOP true`) is a step too.
//! - `wait TIME` (also `wait_time`, `wait_for`) — waits TIME (`1.5`, `100ms`), or until a
//!   step, whichever comes first. `wait` alone is `pause`.
//! - `label L`, `goto L [COND]` — jumps to label L when COND (default true) is true. The
//!   labels `end`, `exit`, `stop`, `loop` and `error` act like those instructions. A script
//!   that jumps 1000 times without blocking is stopped.
//! - `loop` — back to the first instruction.
//! - `end`, `exit` — ends the script. `stop` — ends it and asks the router to stop (a
//!   `DriverManager` intercepts such requests). `error [MSG]` — ends it with a message.
//!
//! Arithmetic and logic handlers for `$(...)`: `add`, `sub`, `mul`, `div`, `idiv`, `mod`,
//! `neg`, `abs`, `eq`, `ne`, `lt`, `gt`, `le`, `ge` (numbers, else strings), `not`, `and`,
//! `or`, `if`, `in`, `length`, `unquote`, `now` (router clock, seconds), and `random`,
//! `random N`, `random N1 N2` (from the router's random sequence, as Click draws them: 0 to
//! 2^31 - 1, 0 to N - 1, N1 to N2).
//!
//! **Keywords:**
//!
//! - `TYPE` — when the script runs:
//!   - `ACTIVE` (the default without ports): from when the router starts.
//!   - `PASSIVE`: only when its `run` handler is called, from the first instruction, and
//!     after a `step`. `$(s.run ARGS)` reads the result: what `return` gave, else nothing.
//!   - `PACKET` (also `PUSH`; the default with ports): from the first instruction for each
//!     packet, with `$input` its input port. The result is the output the packet leaves by:
//!     `return N`, `0` when the script ends (`end`, or past the last instruction); `exit`, a
//!     `return` that is not an output's number, `stop` or `error` drop the packet.
//!   - `DRIVER`: as `DriverManager`.
//!
//! **Handlers:** `step` (w: N steps, default 1), `goto` (w: jumps to a label and runs),
//! `run` (r with parameters, w: runs from the top; the read gives the result), `get VAR`
//! (r), `set VAR VALUE` (w), each exported variable (r), and the functions as read handlers
//! with parameters (`s.add 1 2`, `s.lt 1 2`, `s.length TEXT`, `s.random 10`, ...; not `cat`,
//! which only the script itself calls).
//!
//! **Example:** `Script(wait 1, print "count $(c.count)", loop)`
//!
//! **Differences from Click:** `TYPE PROXY` and `TYPE SIGNAL` are not supported, nor
//! `save`, `append`, `sprintf`, `catq`, `kill`, `readable`, `writable` and `$$`; `cat FILE`
//! reads files in host builds only (the VM has none). A packet script given a
//! batch of several packets runs for each before any goes on (Click's sources push one at
//! a time, and so does sluice's scheduler when a script is downstream). Click 2.1's
//! `random N` (one argument) fails asking for N2; here it gives 0 to N - 1, as Click's
//! manual says.
//!
//! ## `DriverManager(INSTRUCTIONS...)` — a script that decides when the router stops.
//!
//! **Ports:** `0/0`: none.
//!
//! **Processing:** `a` (unused: no ports).
//!
//! A `Script` of type driver, with the same instructions, substitutions and arithmetic.
//! Stop requests (`STOP true` sources, `stop` instructions of other scripts; the global
//! `stop` handler is *not* one: it stops at once) step it instead of stopping the router,
//! and the router stops when the script ends or runs `stop`. With no instructions it is
//! `pause` — the first stop request stops the router.
//!
//! **Handlers:** as `Script`: `step`, `goto`, `run`, `get VAR`, `set VAR VALUE`, and each
//! exported variable.
//!
//! **Example:** `DriverManager(wait_stop, read c.count, print "total $(c.count)", stop)`
//!
//! **Differences from Click:** those of `Script`'s instructions: no `save`, `append`,
//! `sprintf`, `catq`, `kill`, `readable`, `writable` or `$$`; `random N` gives 0 to N - 1.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::time::Duration;

use sluice_config::args::{split_words, unquote, Args, FromArg};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
};

use super::common::{fabs, parse_value, trunc};

/// `Script`.
pub static Script: ElementClass = ElementClass {
    name: "Script",
    ports: "-/-",
    processing: "a",
    make: make_script,
    names: None,
};

/// `DriverManager`.
pub static DriverManager: ElementClass = ElementClass {
    name: "DriverManager",
    ports: "0/0",
    processing: "a",
    make: make_driver,
    names: None,
};

/// Jumps allowed without blocking before a script is considered looping.
const MAX_JUMPS: u32 = 1000;

/// When a script runs (`TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// From the router's start (the default without ports).
    Active,
    /// Only when its `run` handler is called (or stepped).
    Passive,
    /// Once per packet, from the top; the result chooses the output (the default with
    /// ports).
    Packet,
    /// `DriverManager`.
    Driver,
}

/// How the last run of instructions ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// At a `pause` or `wait`.
    Blocked,
    Return,
    End,
    Exit,
    Stop,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Insn {
    Set {
        var: String,
        text: String,
        unquote: bool,
    },
    /// `init` and, with `export`, also a read handler named after the variable.
    Init {
        var: String,
        text: String,
        unquote: bool,
    },
    Return {
        text: String,
        unquote: bool,
    },
    Print {
        file: Option<(String, bool)>,
        text: String,
        /// `print`/`printq` end the output with a newline unless it has one; `printn` and
        /// `printnq` do not.
        newline: bool,
        /// `printq`/`printnq`: a handler's parameters are unquoted.
        unquote: bool,
    },
    Read {
        handler: String,
        unquote: bool,
    },
    Write {
        handler: String,
        value: String,
        unquote: bool,
    },
    Pause(u32),
    Wait(u64),
    Label(String),
    Goto {
        label: String,
        cond: Option<String>,
    },
    Loop,
    End,
    Exit,
    Stop,
    Error(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Runs at the next opportunity (the first timer, or after a step).
    Run,
    /// At a `pause`, waiting for this many more steps.
    Pause(u32),
    /// At a `wait`, until this time.
    Wait(u64),
    Done,
}

struct ScriptElement {
    kind: Kind,
    insns: Vec<Insn>,
    pc: usize,
    state: State,
    outcome: Outcome,
    /// Variables by name; a cell, since `$(shift VAR)` changes one while the script only
    /// reads itself.
    vars: RefCell<Vec<(String, String)>>,
    /// Variables that are also read handlers (`export`).
    exports: Vec<String>,
    write_status: i32,
    /// The parameters of the current `run` call (`$args`, `$1`...) and the handler's name
    /// (`$0`), and whether it was a write (`$write`).
    run_args: RefCell<String>,
    /// Handler calls inside text that failed so far (a `print` whose text had one ends
    /// without a newline, as in Click).
    expand_errors: Cell<u64>,
    run_name: String,
    run_write: bool,
    name: String,
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim_start()),
        None => (s, ""),
    }
}

fn parse_insn(text: &str) -> Result<Insn, String> {
    let (name, rest) = split_word(text);
    let want_empty = |insn: Insn| {
        if rest.is_empty() {
            Ok(insn)
        } else {
            Err(format!("'{name}' takes no arguments"))
        }
    };
    Ok(match name {
        "set" | "setq" | "init" | "initq" | "export" | "exportq" => {
            let (var, text) = split_word(rest);
            if var.is_empty() || (name.starts_with("set") && text.is_empty()) {
                return Err(format!("expected '{name} VAR TEXT'"));
            }
            let (var, text, unquote) = (var.to_string(), text.to_string(), name.ends_with('q'));
            if name.starts_with("set") {
                Insn::Set { var, text, unquote }
            } else {
                Insn::Init { var, text, unquote }
            }
        }
        "return" | "returnq" => Insn::Return {
            text: rest.to_string(),
            unquote: name == "returnq",
        },
        "print" | "printn" | "printq" | "printnq" => {
            let mut file = None;
            let mut text = rest;
            if let Some(r) = text.strip_prefix('>') {
                let (append, r) = match r.strip_prefix('>') {
                    Some(r) => (true, r),
                    None => (false, r),
                };
                let (f, t) = split_word(r);
                if f.is_empty() {
                    return Err("expected a file name after '>'".into());
                }
                file = Some((unquote(f)?, append));
                text = t;
            }
            Insn::Print {
                file,
                text: text.to_string(),
                newline: !name.starts_with("printn"),
                unquote: name.ends_with('q'),
            }
        }
        "read" | "readq" => {
            if rest.is_empty() {
                return Err(format!("expected '{name} HANDLER'"));
            }
            Insn::Read {
                handler: rest.to_string(),
                unquote: name == "readq",
            }
        }
        "write" | "writeq" | "call" => {
            let (handler, value) = split_word(rest);
            if handler.is_empty() {
                return Err(format!("expected '{name} HANDLER [VALUE]'"));
            }
            Insn::Write {
                handler: handler.into(),
                value: value.into(),
                unquote: name == "writeq",
            }
        }
        "pause" | "wait_stop" | "wait_pause" | "wait_step" => {
            let n = if rest.is_empty() {
                1
            } else {
                u32::from_arg(rest, None)?
            };
            Insn::Pause(n)
        }
        "wait" if rest.is_empty() => Insn::Pause(1),
        "wait" | "wait_time" | "wait_for" => {
            let d = Duration::from_arg(rest, None)?;
            Insn::Wait(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        }
        "label" => {
            if rest.is_empty() || rest.contains(char::is_whitespace) {
                return Err("expected 'label NAME'".into());
            }
            Insn::Label(rest.into())
        }
        "goto" => {
            let (label, cond) = split_word(rest);
            if label.is_empty() {
                return Err("expected 'goto LABEL [CONDITION]'".into());
            }
            Insn::Goto {
                label: label.into(),
                cond: (!cond.is_empty()).then(|| cond.to_string()),
            }
        }
        "loop" => want_empty(Insn::Loop)?,
        "end" => want_empty(Insn::End)?,
        "exit" => want_empty(Insn::Exit)?,
        "stop" | "quit" => want_empty(Insn::Stop)?,
        "error" | "errorq" => Insn::Error(rest.into()),
        "" => return Err("empty instruction".into()),
        _ => return Err(format!("unknown instruction '{name}'")),
    })
}

fn make(a: &mut Args<'_>, c: &ConfigContext<'_>, driver: bool) -> Option<Box<dyn Element>> {
    let has_ports = c.ninputs > 0 || c.noutputs > 0;
    let mut kind = if driver {
        Kind::Driver
    } else if has_ports {
        Kind::Packet
    } else {
        Kind::Active
    };
    if !driver {
        if let Some(t) = a.read_k::<String>("TYPE") {
            kind = match t.trim() {
                "ACTIVE" => Kind::Active,
                "PASSIVE" => Kind::Passive,
                "PACKET" | "PUSH" => Kind::Packet,
                "DRIVER" => Kind::Driver,
                "PROXY" => {
                    a.error_whole("TYPE PROXY is not supported");
                    return None;
                }
                w if w.starts_with("SIGNAL") => {
                    a.error_whole("TYPE SIGNAL is not supported");
                    return None;
                }
                _ => {
                    a.error_whole("bad TYPE");
                    return None;
                }
            };
        }
    }
    if kind == Kind::Packet && c.ninputs == 0 {
        a.error_whole("PACKET script must have inputs");
        return None;
    }
    if kind != Kind::Packet && has_ports {
        a.error_whole("ports allowed only on PACKET scripts");
        return None;
    }
    let driver = kind == Kind::Driver;
    let mut insns = Vec::new();
    let mut exports = Vec::new();
    let mut ok = true;
    for arg in a.rest() {
        let (word, rest) = split_word(arg.text);
        if matches!(word, "export" | "exportq") {
            exports.push(split_word(rest).0.to_string());
        }
        match parse_insn(arg.text) {
            Ok(i) => insns.push(i),
            Err(e) => {
                a.error(arg.span, e);
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    for i in &insns {
        if let Insn::Goto { label, .. } = i {
            let known = matches!(
                label.as_str(),
                "end" | "exit" | "stop" | "loop" | "error" | "begin"
            ) || insns
                .iter()
                .any(|j| matches!(j, Insn::Label(l) if l == label));
            if !known {
                a.error_whole(format!("no label '{label}'"));
                return None;
            }
        }
    }
    if driver && insns.is_empty() {
        insns.push(Insn::Pause(1));
    }
    Some(Box::new(ScriptElement {
        kind,
        insns,
        pc: 0,
        state: State::Run,
        outcome: Outcome::Blocked,
        vars: RefCell::new(Vec::new()),
        exports,
        write_status: 0,
        run_args: RefCell::new(String::new()),
        expand_errors: Cell::new(0),
        run_name: String::new(),
        run_write: false,
        name: c.name.to_string(),
    }))
}

fn make_script(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(a, c, false)
}

fn make_driver(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(a, c, true)
}

/// Parses a number as an integer if it is one, else as a float.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Num {
    Int(i64),
    Float(f64),
}

fn num(s: &str) -> Option<Num> {
    if let Ok(i) = i64::from_arg(s, None) {
        return Some(Num::Int(i));
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Num::Float)
}

fn as_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

fn unparse_num(n: Num) -> String {
    match n {
        Num::Int(i) => i.to_string(),
        Num::Float(f) if f == trunc(f) && fabs(f) < 1e15 => format!("{f:.0}"),
        Num::Float(f) => f.to_string(),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    bool::from_arg(s.trim(), None).ok()
}

/// `random` (a number 0 to 2^31 - 1), `random N` (0 to N - 1), `random N1 N2` (N1 to N2),
/// drawn from the router's random sequence as Click draws them.
fn random(ctx: &Context<'_>, args: &[&str]) -> Result<String, String> {
    let n = |a: &str| {
        a.parse::<u32>()
            .map_err(|_| format!("random: '{a}' is not a number"))
    };
    Ok(match args {
        [] => ctx.random(),
        [n1] => match n(n1)? {
            0 => return Err("random: bad N".into()),
            n1 => ctx.random_range(0, n1 - 1),
        },
        [n1, n2] => {
            let (n1, n2) = (n(n1)?, n(n2)?);
            if n2 < n1 {
                return Err("random: bad N".into());
            }
            ctx.random_range(n1, n2)
        }
        _ => return Err("random: expected 'random [N1 [N2]]'".into()),
    }
    .to_string())
}

/// Click's arithmetic and logic handlers. `None` when `name` is not one of them.
fn arithmetic(name: &str, args: &[&str], now_ns: u64) -> Option<Result<String, String>> {
    let nums = || -> Result<Vec<Num>, String> {
        args.iter()
            .map(|a| num(a).ok_or_else(|| format!("{name}: '{a}' is not a number")))
            .collect()
    };
    let fold =
        |int: fn(i64, i64) -> Option<i64>, float: fn(f64, f64) -> f64| -> Result<String, String> {
            let ns = nums()?;
            // With no numbers, Click answers its starting value: 0 for sums, 1 otherwise.
            let empty = Num::Int(if matches!(name, "add" | "sub") { 0 } else { 1 });
            let (first, rest) = ns.split_first().unwrap_or((&empty, &[]));
            let mut acc = *first;
            for &n in rest {
                acc = match (acc, n) {
                    (Num::Int(a), Num::Int(b)) => {
                        int(a, b).map_or(Num::Float(float(a as f64, b as f64)), Num::Int)
                    }
                    (a, b) => Num::Float(float(as_f64(a), as_f64(b))),
                };
            }
            Ok(unparse_num(acc))
        };
    let compare = |want: fn(core::cmp::Ordering) -> bool| -> Result<String, String> {
        let [a, b] = args else {
            return Err(format!("{name}: expected two arguments"));
        };
        let ord = match (num(a), num(b)) {
            (Some(x), Some(y)) => as_f64(x)
                .partial_cmp(&as_f64(y))
                .unwrap_or(core::cmp::Ordering::Equal),
            _ => a.cmp(b),
        };
        Ok(want(ord).to_string())
    };
    let bools = || -> Result<Vec<bool>, String> {
        args.iter()
            .map(|a| parse_bool(a).ok_or_else(|| format!("{name}: '{a}' is not a boolean")))
            .collect()
    };
    use core::cmp::Ordering as O;
    Some(match name {
        "add" => fold(i64::checked_add, |a, b| a + b),
        "sub" => fold(i64::checked_sub, |a, b| a - b),
        "min" => fold(|a, b| Some(a.min(b)), |a, b| if b < a { b } else { a }),
        "max" => fold(|a, b| Some(a.max(b)), |a, b| if b > a { b } else { a }),
        "mul" => fold(i64::checked_mul, |a, b| a * b),
        "div" => fold(|_, _| None, |a, b| a / b),
        "idiv" => fold(i64::checked_div, |a, b| trunc(a / b)),
        "mod" | "rem" => fold(i64::checked_rem, |a, b| a % b),
        "neg" => nums().map(|n| match n.as_slice() {
            [Num::Int(i)] => i
                .checked_neg()
                .map_or_else(|| unparse_num(Num::Float(-(*i as f64))), |v| v.to_string()),
            [Num::Float(f)] => unparse_num(Num::Float(-f)),
            _ => String::new(),
        }),
        "abs" => nums().map(|n| match n.as_slice() {
            [Num::Int(i)] => i.unsigned_abs().to_string(),
            [Num::Float(f)] => unparse_num(Num::Float(fabs(*f))),
            _ => String::new(),
        }),
        "eq" => compare(|o| o == O::Equal),
        "ne" => compare(|o| o != O::Equal),
        "lt" => compare(|o| o == O::Less),
        "gt" => compare(|o| o == O::Greater),
        "le" => compare(|o| o != O::Greater),
        "ge" => compare(|o| o != O::Less),
        "not" => bools().and_then(|b| match b.as_slice() {
            [x] => Ok((!x).to_string()),
            _ => Err("not: expected one boolean".into()),
        }),
        "and" => bools().map(|b| b.iter().all(|x| *x).to_string()),
        "or" => bools().map(|b| b.iter().any(|x| *x).to_string()),
        // Click's `nand` folds its arguments with `or` from `true`, so it answers false
        // whatever they are (once they all parse); sluice answers as Click does.
        "nand" => bools().map(|_| false.to_string()),
        "nor" => bools().map(|b| (!b.iter().any(|x| *x)).to_string()),
        "first" => Ok(args.first().copied().unwrap_or("").to_string()),
        // Byte order on a little-endian host, as Click's userlevel driver computes them:
        // the number as a 32-bit integer, swapped as 16 or 32 bits, printed unsigned.
        "htons" | "ntohs" | "htonl" | "ntohl" => match args {
            [x] => match num(x).and_then(|n| match n {
                Num::Int(v) => i32::try_from(v).ok(),
                Num::Float(_) => None,
            }) {
                Some(v) if name.ends_with('s') => Ok((v as u16).swap_bytes().to_string()),
                Some(v) => Ok((v as u32).swap_bytes().to_string()),
                None => Err(format!("{name}: syntax error")),
            },
            _ => Err(format!("{name}: syntax error")),
        },
        "if" => match args {
            [c, t, f] => parse_bool(c)
                .map(|c| if c { t } else { f }.to_string())
                .ok_or_else(|| "if: bad condition".into()),
            _ => Err("if: expected CONDITION THEN ELSE".into()),
        },
        "in" => Ok(args
            .split_first()
            .is_some_and(|(x, rest)| rest.contains(x))
            .to_string()),
        "length" => Ok(args.join(" ").len().to_string()),
        "unquote" => unquote(&args.join(" ")),
        "now" => Ok(format!(
            "{}.{:09}",
            now_ns / 1_000_000_000,
            now_ns % 1_000_000_000
        )),
        _ => return None,
    })
}

/// `value` escaped for the inside of double quotes: backslashes and quotes get a
/// backslash, so that [`unquote`] gives `value` back.
fn quote_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `cat FILE` handler: the file's contents (host builds only; the VM has no files).
fn cat(params: &str) -> Result<String, String> {
    let file = unquote(params.trim()).unwrap_or_else(|_| params.trim().to_string());
    if file.is_empty() {
        return Err("cat: bad FILE".into());
    }
    #[cfg(feature = "std")]
    {
        std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))
    }
    #[cfg(not(feature = "std"))]
    {
        Err(format!("{file}: this build has no files"))
    }
}

/// Splits handler arguments at white space, keeping quoted words together and unquoting
/// them.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(core::mem::take(&mut cur));
                }
                any = false;
            }
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The read handlers every element has: a bare `config` in a script is the script's own.
const ELEMENT_HANDLERS: [&str; 5] = ["name", "class", "config", "ports", "handlers"];

impl ScriptElement {
    fn var(&self, name: &str) -> Option<String> {
        self.vars
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// `$NAME`: a variable, else what a `run` call passed: `$args` (all its parameters),
    /// `$1`... (one word of them), `$0` (the handler's name), `$write` (whether it was a
    /// write).
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.var(name) {
            return Some(v);
        }
        match name {
            "args" => Some(self.run_args.borrow().clone()),
            "0" => Some(self.run_name.clone()),
            "write" => Some(self.run_write.to_string()),
            _ => {
                let n: usize = name.parse().ok().filter(|_| name.as_bytes()[0] != b'0')?;
                Some(
                    split_words(&self.run_args.borrow())
                        .nth(n - 1)
                        .unwrap_or("")
                        .to_string(),
                )
            }
        }
    }

    fn set_var(&self, name: &str, value: String) {
        let mut vars = self.vars.borrow_mut();
        match vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => vars.push((name.into(), value)),
        }
    }

    /// The `shift` handler: takes the first word off variable `args` names (`$args` when
    /// it names none) and returns it, quotes kept.
    fn shift(&self, args: &[&str]) -> Result<String, String> {
        let var = match args {
            [] => "args",
            [var] => var,
            _ => return Err("too many arguments".into()),
        };
        let shift_from = |value: &mut String| {
            let first = split_words(value).next().unwrap_or("").to_string();
            let rest = value.trim_start()[first.len()..].trim_start().to_string();
            *value = rest;
            first
        };
        if var == "args" {
            return Ok(shift_from(&mut self.run_args.borrow_mut()));
        }
        let mut vars = self.vars.borrow_mut();
        match vars.iter_mut().find(|(n, _)| n == var) {
            Some((_, value)) => Ok(shift_from(value)),
            None => Err(format!("undefined variable '{var}'")),
        }
    }

    /// The `get` handler: the value of the one variable `args` names.
    fn get(&self, args: &[&str]) -> Result<String, String> {
        match args {
            [var] => self
                .lookup(var)
                .ok_or_else(|| format!("undefined variable '{var}'")),
            [] => Err("no variable".into()),
            _ => Err("too many arguments".into()),
        }
    }

    /// The value of exported variable `name` (a read handler of the script).
    fn exported(&self, name: &str) -> Option<String> {
        self.exports
            .iter()
            .any(|e| e == name)
            .then(|| self.var(name).unwrap_or_default())
    }

    /// The handler a `$(...)`, `print` or `read` names, as Click names it in messages: one
    /// of this script's own with the script's name in front.
    fn handler_name(&self, text: &str) -> String {
        let first = split_word(text).0;
        let own = self.handlers().iter().any(|d| d.read && d.name == first)
            || matches!(first, "length" | "unquote" | "random" | "shift" | "cat")
            || ELEMENT_HANDLERS.contains(&first)
            || self.exported(first).is_some();
        if first.contains('.') || !own {
            // An element's handler, or a global one (`list`, `config`): Click prints
            // global handlers without an element.
            first.to_string()
        } else {
            format!("{}.{first}", self.name)
        }
    }

    /// Reads a handler for `$(...)`, `print` and `read`: the script's own (arithmetic,
    /// `get`, exported variables), or any element's (or global) read handler, with the
    /// text after its name as parameters (unquoted for `printq`/`readq`).
    fn call_read(
        &self,
        ctx: &Context<'_>,
        text: &str,
        unquote_params: bool,
    ) -> Result<String, String> {
        let (first, params) = split_word(text);
        if first.is_empty() {
            return Err("empty handler name".into());
        }
        let local = match first.rsplit_once('.') {
            Some((elem, h)) if elem == self.name => h,
            Some(_) => "",
            None => first,
        };
        let params = if unquote_params {
            unquote(params).unwrap_or_else(|_| params.to_string())
        } else {
            params.to_string()
        };
        if !local.is_empty() {
            // These two see their parameters as one text, as Click's do.
            match local {
                "length" => return Ok(params.len().to_string()),
                "unquote" => return unquote(&params),
                _ => {}
            }
            let ws = words(&params);
            let args: Vec<&str> = ws.iter().map(String::as_str).collect();
            if local == "random" {
                return random(ctx, &args);
            }
            if let Some(r) = arithmetic(local, &args, ctx.now()) {
                return r;
            }
            if local == "get" {
                return self.get(&args);
            }
            if local == "shift" {
                return self.shift(&args);
            }
            if local == "cat" {
                return cat(&params);
            }
            if let Some(v) = self.exported(local) {
                return Ok(v);
            }
            if first.contains('.') {
                return Err(format!("no read handler '{first}'"));
            }
        }
        let qualified;
        let first = if ELEMENT_HANDLERS.contains(&first) {
            // Every element has these; a bare name means the script's own.
            qualified = format!("{}.{first}", self.name);
            qualified.as_str()
        } else {
            first
        };
        ctx.read_handler_with(first, &params).map_err(|e| match e {
            // Click's words for a handler it cannot call.
            HandlerError::NoSuchHandler(h) => format!("no '{h}' read handler"),
            e => e.to_string(),
        })
    }

    /// Substitutes `$VAR`, `${VAR}`, `$?`, `$#` and `$(HANDLER ...)` outside single quotes
    /// and comments, as Click's `cp_expand` does. A variable that is not defined, or a
    /// handler that does not exist, stays as written; a handler call that fails gives
    /// nothing (and the error is logged). With `quote_values` (a `print`'s text, which is
    /// unquoted afterwards) each value is quoted where it lands, so that unquoting gives
    /// it back verbatim.
    fn expand(&self, ctx: &Context<'_>, text: &str) -> String {
        self.expand_as(ctx, text, false)
    }

    fn expand_as(&self, ctx: &Context<'_>, text: &str, quote_values: bool) -> String {
        let b = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        let mut quote = 0u8;
        while i < b.len() {
            let c = b[i];
            match c {
                b'\\' if quote == b'"' && i + 1 < b.len() => {
                    out.push_str(&text[i..i + 2]);
                    i += 2;
                    continue;
                }
                b'\'' | b'"' => {
                    if quote == 0 {
                        quote = c;
                    } else if quote == c {
                        quote = 0;
                    }
                }
                b'/' if quote == 0 && matches!(b.get(i + 1), Some(b'/' | b'*')) => {
                    // A comment: copied as it is, nothing in it expanded.
                    let end = if b[i + 1] == b'/' {
                        text[i..].find('\n').map_or(b.len(), |e| i + e)
                    } else {
                        text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2)
                    };
                    out.push_str(&text[i..end]);
                    i = end;
                    continue;
                }
                b'$' if quote != b'\'' && i + 1 < b.len() => {
                    if let Some((value, next)) = self.dollar(ctx, text, i) {
                        if quote == b'"' {
                            out.push_str(&quote_text(&value));
                        } else if quote_values && quote == 0 {
                            out.push('"');
                            out.push_str(&quote_text(&value));
                            out.push('"');
                        } else {
                            out.push_str(&value);
                        }
                        i = next;
                        continue;
                    }
                }
                _ => {}
            }
            let ch = text[i..].chars().next().unwrap_or('?');
            out.push(ch);
            i += ch.len_utf8();
        }
        out
    }

    /// The `$` form at `text[at]` and the index after it, or `None` when it expands to
    /// nothing Click knows (then it stays as written).
    fn dollar(&self, ctx: &Context<'_>, text: &str, at: usize) -> Option<(String, usize)> {
        let b = text.as_bytes();
        match b[at + 1] {
            b'(' => {
                // The matching parenthesis, quotes and backslashes respected.
                let (mut depth, mut q, mut j) = (1, 0u8, at + 2);
                while j < b.len() && depth > 0 {
                    match b[j] {
                        b'(' if q == 0 => depth += 1,
                        b')' if q == 0 => depth -= 1,
                        c @ (b'"' | b'\'') => {
                            if q == 0 {
                                q = c;
                            } else if q == c {
                                q = 0;
                            }
                        }
                        b'\\' if q != b'\'' => j += 1,
                        _ => {}
                    }
                    j += 1;
                }
                if depth > 0 || j == at + 2 {
                    return None;
                }
                let inner = self.expand(ctx, &text[at + 2..j - 1]);
                Some((self.call_in_text(ctx, &inner)?, j))
            }
            b'{' => {
                let e = text[at + 2..].find('}')?;
                let name = self.expand(ctx, &text[at + 2..at + 2 + e]);
                Some((self.lookup(&name)?, at + 3 + e))
            }
            b'?' => Some((self.write_status.to_string(), at + 2)),
            b'#' => Some((
                split_words(&self.run_args.borrow()).count().to_string(),
                at + 2,
            )),
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let e = text[at + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(b.len(), |e| at + 1 + e);
                Some((self.lookup(&text[at + 1..e])?, e))
            }
            _ => None,
        }
    }

    /// A `$(HANDLER ...)` inside text: its value; empty (with the error logged) when the
    /// call fails; `None` when there is no such handler, so the text stays as written.
    fn call_in_text(&self, ctx: &Context<'_>, call: &str) -> Option<String> {
        match self.call_read(ctx, call, false) {
            Ok(v) => Some(v),
            Err(e) => {
                self.expand_errors.set(self.expand_errors.get() + 1);
                ctx.log(&format!("{}: $({call}): {e}", self.name));
                let (first, _) = split_word(call);
                let missing = e.starts_with("no read handler")
                    || e.starts_with("no handler")
                    || e.starts_with("no element");
                (!missing || first.is_empty()).then(String::new)
            }
        }
    }

    /// Writes a `print`'s result, with Click's newline rule, to its file or to standard
    /// output.
    fn emit(&self, ctx: &Context<'_>, file: &Option<(String, bool)>, line: &str, newline: bool) {
        let mut text = String::from(line);
        if newline && !text.ends_with('\n') {
            text.push('\n');
        }
        #[cfg(feature = "std")]
        if let Some((path, append)) = file.as_ref().filter(|(p, _)| p != "-") {
            use std::io::Write as _;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(*append)
                .truncate(!*append)
                .open(path);
            match f.and_then(|mut f| f.write_all(text.as_bytes())) {
                Ok(()) => {}
                Err(e) => ctx.log(&format!("{}: {path}: {e}", self.name)),
            }
            return;
        }
        let _ = file;
        ctx.print(&text);
    }

    fn label(&self, label: &str) -> Option<usize> {
        self.insns
            .iter()
            .position(|i| matches!(i, Insn::Label(l) if l == label))
    }

    /// Ends the script: the router stops when this is the driver script or on `stop`.
    fn finish(&mut self, ctx: &mut Context<'_>, outcome: Outcome) {
        self.state = State::Done;
        self.outcome = outcome;
        if self.kind == Kind::Driver {
            ctx.stop_router();
        } else if outcome == Outcome::Stop {
            ctx.request_stop();
        }
    }

    /// Runs instructions until one blocks or the script ends.
    fn execute(&mut self, ctx: &mut Context<'_>) {
        let mut jumps = 0;
        while self.state == State::Run {
            let Some(insn) = self.insns.get(self.pc).cloned() else {
                self.finish(ctx, Outcome::End);
                break;
            };
            self.pc += 1;
            match insn {
                Insn::Set {
                    var,
                    text,
                    unquote: uq,
                } => {
                    let mut v = self.expand(ctx, &text);
                    if uq {
                        v = unquote(&v).unwrap_or(v);
                    }
                    self.set_var(&var, v);
                }
                Insn::Init { .. } | Insn::Label(_) => {}
                Insn::Print {
                    file,
                    text,
                    newline,
                    unquote: uq,
                } => {
                    let starts_handler =
                        text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '@' || c == '_');
                    let errors = self.expand_errors.get();
                    let line = if starts_handler {
                        let call = self.expand(ctx, &text);
                        match self.call_read(ctx, &call, uq) {
                            Ok(v) => v,
                            Err(e) => {
                                // As Click reports it: the error alone, no newline added.
                                ctx.log(&e);
                                continue;
                            }
                        }
                    } else {
                        let e = self.expand_as(ctx, &text, true);
                        unquote(&e).unwrap_or(e)
                    };
                    // Click adds no newline to a line whose expansion failed.
                    let newline = newline && self.expand_errors.get() == errors;
                    self.emit(ctx, &file, &line, newline);
                }
                Insn::Read {
                    handler: h,
                    unquote: uq,
                } => match self.call_read(ctx, &self.expand(ctx, &h), uq) {
                    Ok(v) => {
                        // `NAME:`, the value, a newline: as Click prints it.
                        let text = format!("{}:\n{v}", self.handler_name(&h));
                        for l in text.split('\n') {
                            ctx.log(l);
                        }
                    }
                    Err(e) => ctx.log(&format!("{}: read {h}: {e}", self.name)),
                },
                Insn::Write {
                    handler,
                    value,
                    unquote: uq,
                } => {
                    let h = self.expand(ctx, &handler);
                    let mut v = self.expand(ctx, &value);
                    if uq {
                        v = unquote(&v).unwrap_or(v);
                    }
                    // A name without an element is the script's own handler if it has
                    // one, else a global handler, as Click resolves handler names.
                    let own =
                        |name: &str| self.handlers().iter().any(|d| d.write && d.name == name);
                    let r = match h.rsplit_once('.') {
                        Some((e, local)) if e == self.name => self.write_local(ctx, local, &v),
                        None if own(&h) => self.write_local(ctx, &h, &v),
                        _ => ctx.write_handler(&h, &v),
                    };
                    self.write_status = if r.is_ok() { 0 } else { -1 };
                    if let Err(e) = r {
                        super::common::log_write_error(ctx, &h, &v, &e);
                    }
                }
                Insn::Pause(n) => {
                    self.state = State::Pause(n.max(1));
                    self.outcome = Outcome::Blocked;
                }
                Insn::Wait(ns) => {
                    // A fresh read, as Click schedules the timer from `Timestamp::now()`.
                    self.state = State::Wait(ctx.event_time().saturating_add(ns));
                    self.outcome = Outcome::Blocked;
                }
                Insn::Goto { label, cond } => {
                    if let Some(c) = cond {
                        let c = self.expand(ctx, &c);
                        match parse_bool(&c) {
                            Some(true) => {}
                            Some(false) => continue,
                            None => {
                                ctx.log(&format!(
                                    "{}: goto {label}: '{c}' is not a boolean",
                                    self.name
                                ));
                                continue;
                            }
                        }
                    }
                    jumps += 1;
                    if jumps > MAX_JUMPS {
                        ctx.log(&format!(
                            "{} :: Script: too many jumps, giving up",
                            self.name
                        ));
                        self.finish(ctx, Outcome::Exit);
                        break;
                    }
                    match label.as_str() {
                        "end" => self.finish(ctx, Outcome::End),
                        "exit" => self.finish(ctx, Outcome::Exit),
                        "stop" => self.finish(ctx, Outcome::Stop),
                        "error" => self.finish(ctx, Outcome::Error),
                        "loop" | "begin" if self.label(&label).is_none() => self.pc = 0,
                        l => self.pc = self.label(l).map_or(self.insns.len(), |p| p + 1),
                    }
                }
                Insn::Loop => {
                    jumps += 1;
                    if jumps > MAX_JUMPS {
                        ctx.log(&format!(
                            "{} :: Script: too many jumps, giving up",
                            self.name
                        ));
                        self.finish(ctx, Outcome::Exit);
                        break;
                    }
                    self.pc = 0;
                }
                Insn::End => self.finish(ctx, Outcome::End),
                Insn::Exit => self.finish(ctx, Outcome::Exit),
                Insn::Stop => self.finish(ctx, Outcome::Stop),
                Insn::Return { text, unquote: uq } => {
                    let mut v = self.expand(ctx, &text);
                    if uq {
                        v = unquote(&v).unwrap_or(v);
                    }
                    self.set_var("_", v);
                    // The script stays at its `return`; a step or timer does not go on.
                    self.state = State::Done;
                    self.outcome = Outcome::Return;
                }
                Insn::Error(msg) => {
                    let m = self.expand(ctx, &msg);
                    if !m.is_empty() {
                        ctx.log(&format!(
                            "{}: {}",
                            self.name,
                            unquote(&m).unwrap_or(m.clone())
                        ));
                    }
                    self.finish(ctx, Outcome::Error);
                }
            }
        }
    }

    /// One step: past a `pause` (when its count is reached) or a `wait`.
    fn step(&mut self) -> bool {
        match self.state {
            State::Pause(n) if n > 1 => {
                self.state = State::Pause(n - 1);
                false
            }
            State::Pause(_) | State::Wait(_) => {
                self.state = State::Run;
                true
            }
            State::Run | State::Done => false,
        }
    }

    /// Runs until nothing more can happen now: due waits, stop requests, steps.
    fn advance(&mut self, ctx: &mut Context<'_>, mut steps: u64) {
        loop {
            match self.state {
                State::Run => self.execute(ctx),
                State::Wait(until) if ctx.now() >= until => self.state = State::Run,
                _ => {
                    if self.kind == Kind::Driver {
                        steps += u64::from(ctx.take_stop_requests());
                    }
                    if steps == 0 || self.state == State::Done {
                        break;
                    }
                    steps -= 1;
                    self.step();
                }
            }
        }
        if let State::Wait(until) = self.state {
            ctx.set_timer(until);
        }
    }

    /// Runs the script from its first instruction (a `run` call, or a packet) and returns
    /// its result: what `return` gave, `0` for a packet script that ended, else nothing.
    /// `Err` when it ended with `error`.
    fn run(
        &mut self,
        ctx: &mut Context<'_>,
        handler: &str,
        args: &str,
        write: bool,
    ) -> Result<String, HandlerError> {
        self.pc = 0;
        self.state = State::Run;
        self.outcome = Outcome::Blocked;
        *self.run_args.get_mut() = args.to_string();
        self.run_name = handler.to_string();
        self.run_write = write;
        self.advance(ctx, 0);
        match self.outcome {
            Outcome::Return => Ok(self.var("_").unwrap_or_default()),
            Outcome::End if self.kind == Kind::Packet => Ok("0".into()),
            Outcome::Error => Err(HandlerError::BadValue(format!(
                "{}: the script ended with an error",
                self.name
            ))),
            _ => Ok(String::new()),
        }
    }

    /// Runs the script for one packet from input `port` and says which output it leaves
    /// by (`None`: dropped).
    fn route(&mut self, ctx: &mut Context<'_>, port: usize) -> Option<usize> {
        self.set_var("input", port.to_string());
        let out = self.run(ctx, "", "", false).ok()?;
        let port = i64::from_arg(&out, None).ok()?;
        usize::try_from(port).ok().filter(|&p| p < ctx.noutputs())
    }

    fn write_local(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "run" => {
                self.run(ctx, name, value, true)?;
            }
            "set" => {
                let (var, text) = split_word(value);
                if var.is_empty() {
                    return Err(HandlerError::BadValue("set: no variable".into()));
                }
                self.set_var(var, text.to_string());
            }
            "step" => {
                let n: u64 = if value.trim().is_empty() {
                    1
                } else {
                    parse_value(name, value)?
                };
                self.advance(ctx, n);
            }
            "goto" => {
                let label = value.trim();
                let p = self
                    .label(label)
                    .ok_or_else(|| HandlerError::BadValue(format!("goto: no label '{label}'")))?;
                self.pc = p + 1;
                self.state = State::Run;
                self.advance(ctx, 0);
            }
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }
}

impl Element for ScriptElement {
    fn is_driver(&self) -> bool {
        self.kind == Kind::Driver
    }

    fn push(&mut self, ctx: &mut Context<'_>, port: usize, batch: Batch) {
        for p in batch {
            if let Some(out) = self.route(ctx, port) {
                ctx.output(out, p);
            }
        }
    }

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let mut pulled = Batch::new();
        for p in ctx.pull(0, max)? {
            match self.route(ctx, 0) {
                Some(0) => pulled.push(p),
                Some(out) => ctx.output(out, p),
                None => {}
            }
        }
        (!pulled.is_empty()).then_some(pulled)
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        // `init` runs once, before anything else; its text sees no handlers yet.
        let inits: Vec<(String, String, bool)> = self
            .insns
            .iter()
            .filter_map(|i| match i {
                Insn::Init { var, text, unquote } => Some((var.clone(), text.clone(), *unquote)),
                _ => None,
            })
            .collect();
        for (var, text, uq) in inits {
            let v = if uq {
                unquote(&text).unwrap_or(text)
            } else {
                text
            };
            self.set_var(&var, v);
        }
        if matches!(self.kind, Kind::Active | Kind::Driver) {
            let now = ctx.now();
            ctx.set_timer(now);
        }
        Ok(())
    }

    fn run_timer(&mut self, ctx: &mut Context<'_>) {
        self.advance(ctx, 0);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        self.exported(name)
    }

    fn read_handler_with(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        params: &str,
    ) -> Option<Result<String, HandlerError>> {
        match name {
            "run" => Some(self.run(ctx, name, params, false)),
            "get" => {
                let ws = words(params);
                let args: Vec<&str> = ws.iter().map(String::as_str).collect();
                Some(self.get(&args).map_err(HandlerError::BadValue))
            }
            // The arithmetic and text functions are read handlers with parameters for
            // everyone, as in Click (`cat` stays the script's own).
            "length" => Some(Ok(params.len().to_string())),
            "unquote" => Some(unquote(params).map_err(HandlerError::BadValue)),
            _ => {
                let ws = words(params);
                let args: Vec<&str> = ws.iter().map(String::as_str).collect();
                if name == "random" {
                    return Some(random(ctx, &args).map_err(HandlerError::BadValue));
                }
                arithmetic(name, &args, ctx.now()).map(|r| r.map_err(HandlerError::BadValue))
            }
        }
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        self.write_local(ctx, name, value)
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::write("step"),
            Handler::write("goto"),
            Handler::read_write("run"),
            Handler::read("get"),
            Handler::write("set"),
            // The functions, as read handlers with parameters (not `cat`: the script's own).
            Handler::read("add"),
            Handler::read("sub"),
            Handler::read("min"),
            Handler::read("max"),
            Handler::read("mul"),
            Handler::read("div"),
            Handler::read("idiv"),
            Handler::read("mod"),
            Handler::read("rem"),
            Handler::read("neg"),
            Handler::read("abs"),
            Handler::read("eq"),
            Handler::read("ne"),
            Handler::read("lt"),
            Handler::read("gt"),
            Handler::read("le"),
            Handler::read("ge"),
            Handler::read("not"),
            Handler::read("and"),
            Handler::read("or"),
            Handler::read("nand"),
            Handler::read("nor"),
            Handler::read("first"),
            Handler::read("if"),
            Handler::read("in"),
            Handler::read("htons"),
            Handler::read("ntohs"),
            Handler::read("htonl"),
            Handler::read("ntohl"),
            Handler::read("length"),
            Handler::read("unquote"),
            Handler::read("random"),
            Handler::read("now"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn arithmetic_like_click() {
        let a = |n: &str, args: &[&str]| arithmetic(n, args, 1_500_000_000).unwrap().unwrap();
        assert_eq!(a("add", &["10", "5", "2"]), "17");
        assert_eq!(a("sub", &["10", "5", "2"]), "3");
        assert_eq!(a("mul", &["3", "0x10"]), "48");
        assert_eq!(a("idiv", &["7", "2"]), "3");
        assert_eq!(a("div", &["7", "2"]), "3.5");
        assert_eq!(a("mod", &["7", "3"]), "1");
        assert_eq!(a("eq", &["10", "0xA"]), "true");
        assert_eq!(a("le", &["9", "8"]), "false");
        assert_eq!(a("eq", &["10x", "10x"]), "true");
        assert_eq!(a("not", &["false"]), "true");
        assert_eq!(a("if", &["true", "a", "b"]), "a");
        assert_eq!(a("in", &["foo", "bar", "foo"]), "true");
        assert_eq!(a("now", &[]), "1.500000000");
        assert!(arithmetic("add", &["x"], 0).unwrap().is_err());
        assert!(arithmetic("bogus", &[], 0).is_none());
        // Click's starting values, for no numbers at all.
        assert_eq!(a("add", &[]), "0");
        assert_eq!(a("mul", &[]), "1");
        assert_eq!(a("min", &["10", "6", "20"]), "6");
        assert_eq!(a("max", &["-1", "6", "3"]), "6");
        assert_eq!(a("min", &["3", "2.5"]), "2.5");
        assert_eq!(a("max", &["1.5", "2"]), "2");
        assert_eq!(a("htons", &["6"]), "1536");
        assert_eq!(a("htonl", &["6"]), "100663296");
        assert_eq!(a("ntohl", &["0x10"]), "268435456");
        assert_eq!(a("htonl", &["100663296"]), "6");
        assert!(arithmetic("htons", &["1.5"], 0).unwrap().is_err());
        assert_eq!(a("first", &["a", "b"]), "a");
        assert_eq!(a("nor", &["false", "false"]), "true");
        assert_eq!(a("nor", &["false", "true"]), "false");
        // As Click computes it.
        assert_eq!(a("nand", &["false", "false"]), "false");
    }

    #[test]
    fn shift_takes_words_off_a_variable_and_set_is_the_scripts_own() {
        let b = Bench::new().pool(8, 2);
        let g = graph(
            &[("s", "Script", "write set v foo 'b c' baz, print $(shift v), print $(shift v), print [$(get v)], print $(shift v), print [$(shift v)], print $(shift nosuch), stop")],
            &[],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(2);
        let lines = b.lines();
        assert_eq!(
            lines[..5],
            ["foo", "'b c'", "[baz]", "baz", "[]"],
            "{lines:?}"
        );
        assert!(
            lines[5].contains("undefined variable 'nosuch'"),
            "{lines:?}"
        );
    }

    #[test]
    fn print_shows_values_verbatim_and_leaves_unknown_names_as_written() {
        let file = std::env::temp_dir().join(format!("sluice-print-{}", std::process::id()));
        let b = Bench::new().pool(8, 2);
        let config = format!(
            r#"set a "x y", set b 'p\q', print $a, print "[$a]", print '$a', print $b, print $nosuch "${{nosuch}}", print >{f} "[$(s.nosuch)]", print >>{f} "n=$(add 1 2)", stop"#,
            f = file.display()
        );
        let g = graph(&[("s", "Script", config.as_str())], &[]);
        let mut r = b.router(&g).unwrap();
        r.run_rounds(2);
        // A failed expansion ends the line without a newline: the next print's text
        // follows on the same line.
        let printed = std::fs::read_to_string(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(printed, "[$(s.nosuch)]n=3\n");
        let lines = b.lines();
        let (out, errors): (Vec<&String>, Vec<&String>) =
            lines.iter().partition(|l| !l.starts_with("s: "));
        assert_eq!(
            out,
            ["\"x y\"", "[\"x y\"]", "$a", "'p\\q'", "$nosuch ${nosuch}",],
            "{lines:?}"
        );
        assert_eq!(errors.len(), 1, "{lines:?}");
    }

    #[test]
    fn cat_reads_a_file() {
        let dir = std::env::temp_dir().join(format!("sluice-cat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("routes");
        std::fs::write(&f, "add 10.0.0.0/8 1\n").unwrap();
        let b = Bench::new().pool(8, 2);
        let config = format!(
            "print \"[$(cat {})]\", print $(cat /nonexistent/x), stop",
            f.display()
        );
        let g = graph(&[("s", "Script", config.as_str())], &[]);
        let mut r = b.router(&g).unwrap();
        r.run_rounds(2);
        let out = b.lines().join("\n");
        assert!(out.starts_with("[add 10.0.0.0/8 1\n]"), "{out}");
        assert!(out.contains("/nonexistent/x: "), "{out}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn variables_loops_and_print() {
        let b = Bench::new().pool(8, 2);
        let g = graph(
            &[("s", "Script", "set x 0, label top, print $x, set x $(add $x 1), goto top $(lt $x 3), print \"done $x '$x'\", print '$x', print s.bogus, end")],
            &[],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(2);
        let lines = b.lines();
        assert_eq!(lines[..5], ["0", "1", "2", "done 3 '3'", "$x"]);
        assert!(lines[5].contains("bogus"), "{lines:?}");
        assert!(
            !r.is_stopped(),
            "an active script's end does not stop the router"
        );
    }

    #[test]
    fn read_write_and_status() {
        let b = Bench::new().pool(8, 2);
        let g = graph(
            &[
                ("c", "Counter", ""),
                ("i", "Idle", ""),
                (
                    "s",
                    "Script",
                    "write c.reset, print $?, write c.nope, print $?, read c.count, print c.count",
                ),
            ],
            &[(1, 0, 0, 0), (0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_once();
        let lines = b.lines();
        assert_eq!(lines[0], "0");
        assert_eq!(lines[1], "no 'c.nope' write handler");
        assert_eq!(lines[2..], ["-1", "c.count:", "0", "0"]);
    }

    #[test]
    fn wait_and_step() {
        let b = Bench::new().pool(8, 2);
        let g = graph(
            &[(
                "s",
                "Script",
                "print \"a\", wait 1s, print 'b', pause, print \"c\", stop",
            )],
            &[],
        );
        let mut r = b.router(&g).unwrap();
        r.run_once();
        assert_eq!(b.lines(), ["a"]);
        b.clock.advance(999_999_999);
        r.run_once();
        assert!(b.lines().is_empty());
        b.clock.advance(1);
        r.run_once();
        assert_eq!(b.lines(), ["b"]);
        r.write_handler("s.step", "").unwrap();
        assert_eq!(b.lines(), ["c"]);
        assert!(
            r.is_stopped(),
            "stop without a DriverManager stops the router"
        );
    }

    #[test]
    fn driver_manager_counts_stop_requests() {
        let b = Bench::new();
        let g = graph(
            &[
                ("a", "InfiniteSource", "LIMIT 3, STOP true"),
                ("b", "InfiniteSource", "LIMIT 50, STOP true, BURST 5"),
                ("c", "Counter", ""),
                ("d", "Discard", ""),
                (
                    "dm",
                    "DriverManager",
                    "wait_stop 2, print \"total $(c.count)\", wait 10ms, print \"late\"",
                ),
            ],
            &[(0, 0, 2, 0), (1, 0, 2, 0), (2, 0, 3, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(100);
        assert!(!r.is_stopped(), "waiting 10 ms");
        assert_eq!(b.lines(), ["total 53"]);
        b.clock.advance(10_000_000);
        r.run(|_| true);
        assert!(r.is_stopped(), "the script ended, so the router stops");
        assert_eq!(b.lines(), ["late"]);
    }

    #[test]
    fn a_driver_type_script_takes_stop_requests_and_is_the_only_driver() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("a", "InfiniteSource", "LIMIT 3, STOP true"),
                ("d", "Discard", ""),
                (
                    "s",
                    "Script",
                    "TYPE DRIVER, wait_stop, print \"got it\", wait 1s",
                ),
            ],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(50);
        assert_eq!(b.lines(), ["got it"]);
        assert!(
            !r.is_stopped(),
            "the driver script, not the request, stops the router"
        );
        let two = graph(
            &[
                ("dm", "DriverManager", ""),
                ("s", "Script", "TYPE DRIVER, stop"),
            ],
            &[],
        );
        let err = config_error(&two);
        assert!(
            err.contains("s :: Script: router has more than one driver script"),
            "{err}"
        );
    }

    #[test]
    fn default_driver_manager_stops_at_first_request() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("a", "InfiniteSource", "LIMIT 3, STOP true"),
                ("d", "Discard", ""),
                ("dm", "DriverManager", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run(|_| true);
        assert!(r.is_stopped());
        assert_eq!(r.read_handler("d.count").unwrap(), "3");
    }

    #[test]
    fn stop_request_ends_a_wait() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("a", "InfiniteSource", "LIMIT 3, STOP true"),
                ("d", "Discard", ""),
                ("dm", "DriverManager", "wait 1h, print \"woke\", stop"),
            ],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(20);
        assert!(r.is_stopped());
        assert_eq!(b.lines(), ["woke"]);
    }

    #[test]
    fn bad_scripts() {
        let e = config_error(&graph(
            &[("s", "Script", "frobnicate, goto nowhere, wait soon")],
            &[],
        ));
        assert!(e.contains("unknown instruction 'frobnicate'"), "{e}");
        assert!(e.contains("wait") || e.contains("duration"), "{e}");
        assert!(config_error(&graph(&[("s", "Script", "goto nowhere")], &[])).contains("no label"));
        assert!(config_error(&graph(&[("s", "Script", "TYPE PROXY, end")], &[])).contains("PROXY"));
        assert!(
            config_error(&graph(&[("s", "Script", "TYPE SOMETIMES")], &[])).contains("bad TYPE")
        );
        let ports = graph(
            &[("i", "Idle", ""), ("s", "Script", "TYPE ACTIVE, end")],
            &[(0, 0, 1, 0)],
        );
        assert!(config_error(&ports).contains("ports allowed only on PACKET scripts"));
        let no_input = graph(
            &[("s", "Script", "TYPE PACKET"), ("d", "Discard", "")],
            &[(0, 0, 1, 0)],
        );
        assert!(config_error(&no_input).contains("PACKET script must have inputs"));
    }

    #[test]
    fn packet_script_chooses_the_output() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("src", "InfiniteSource", "LIMIT 7, STOP true"),
                // 1, 2 (no such output: dropped), 0, 1, 2, 0, then `exit` drops the 7th.
                (
                    "s",
                    "Script",
                    "export n 0, set n $(add $n 1), goto x $(eq $n 7), return $(mod $n 3), label x, exit",
                ),
                ("a", "Collect", ""),
                ("b", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0), (1, 1, 3, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(50);
        assert_eq!(collected("a").len(), 2);
        assert_eq!(collected("b").len(), 2);
        assert_eq!(
            r.read_handler("s.n").unwrap(),
            "7",
            "an exported variable is a handler"
        );
        assert!(r.read_handler("s.get").is_err(), "get needs a variable");
    }

    #[test]
    fn packet_script_without_return_passes_packets_on_and_sees_its_input() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("src", "InfiniteSource", "LIMIT 3, STOP true"),
                ("s", "Script", "set last $input"),
                ("a", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(20);
        assert_eq!(
            collected("a").len(),
            3,
            "a script with ports is a PACKET script"
        );
        assert_eq!(r.read_handler_with("s.get", "last").unwrap(), "0");
    }

    #[test]
    fn passive_script_runs_when_called_with_parameters() {
        let b = Bench::new().pool(8, 2);
        let g = graph(
            &[
                (
                    "s",
                    "Script",
                    "TYPE PASSIVE, print \"ran $0 $write\", returnq \"$2-$1 $# [$args]\"",
                ),
                (
                    "t",
                    "Script",
                    "print $(s.run x y), print $(length \"ab\"), readq length \"ab\"",
                ),
            ],
            &[],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(3);
        assert_eq!(
            b.lines(),
            ["ran run false", "y-x 2 [x y]", "4", "t.length:", "2"],
            "a passive script waits for its run handler"
        );
        assert_eq!(
            r.read_handler_with("s.run", "'a b' c").unwrap(),
            "c-'a b' 2 ['a b' c]"
        );
        r.write_handler("s.run", "").unwrap();
        assert_eq!(b.lines(), ["ran run false", "ran run true"]);
        assert!(
            r.read_handler_with("s.name", "x").is_err(),
            "name takes no parameters"
        );
    }

    #[test]
    fn looping_script_is_stopped() {
        let b = Bench::new().pool(8, 2);
        let g = graph(&[("s", "Script", "label a, goto a")], &[]);
        let mut r = b.router(&g).unwrap();
        r.run_once();
        assert!(b.lines()[0].contains("s :: Script: too many jumps, giving up"));
    }
}
