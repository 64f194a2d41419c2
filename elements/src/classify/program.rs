//! Decision programs: what `Classifier`, `IPClassifier` and `IPFilter` compile their patterns
//! into, and how a packet runs through one.
//!
//! A pattern is first parsed into an [`Expr`], a boolean formula over [`Test`]s. A test reads
//! one 32-bit big-endian word at a fixed offset from one of four places in the packet (the
//! data start, the Ethernet, IP or transport header), masks it, shifts it, and compares the
//! field with a constant (`==`, `>` or `<`).
//!
//! [`Program::compile`] turns the formulas of all patterns into a flat list of instructions,
//! each a test with three jump targets: where to go when the field compares true, when it
//! compares false, and when the packet is too short to hold the bytes the mask needs. Targets
//! are later instructions or final outcomes (an output port, or drop). Every jump goes
//! forward, so running a packet takes at most one step per instruction: no recursion, no
//! allocation, no AST walk on the hot path.
//!
//! Short packets follow Click: a test whose bytes are missing counts as false (its `short`
//! result); `not` flips that outcome like any other, while relational negations (`!=`,
//! `<=`, `ip frag`) keep a short packet failing. [`Expr::eval`] is the slow, obviously
//! correct reference that the property tests hold the compiled program to.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use sluice_dataplane::Packet;

mod encoding;

/// Where a test's offset counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Base {
    /// The packet data start (`Classifier`).
    Data,
    /// The Ethernet header: the 14 bytes before the IP header.
    Link,
    /// The IP header (the network header annotation, else the data start).
    Net,
    /// The transport header: IHL×4 bytes past the IP header.
    Transport,
}

impl Base {
    fn name(self) -> &'static str {
        match self {
            Base::Data => "",
            Base::Link => "ether+",
            Base::Net => "ip+",
            Base::Transport => "transp+",
        }
    }
}

/// A comparison between a masked field and a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `field == value`.
    Eq,
    /// `field > value`.
    Gt,
    /// `field < value`.
    Lt,
}

/// One masked-word comparison: `((word & mask) >> shift) OP value`, negated if `negate`.
/// When the packet lacks a byte the mask covers, the test's result is `short` instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Test {
    /// Where `offset` counts from.
    pub base: Base,
    /// Byte offset of the 32-bit word.
    pub offset: u16,
    /// Bits of the word that take part.
    pub mask: u32,
    /// Right shift applied after masking.
    pub shift: u8,
    /// The comparison.
    pub op: Op,
    /// The constant, already shifted down.
    pub value: u32,
    /// Invert the comparison (not the short result).
    pub negate: bool,
    /// The result for a packet too short to hold the masked bytes.
    pub short: bool,
}

impl Test {
    /// An equality test on a whole masked word (`value` unshifted).
    pub fn eq(base: Base, offset: u16, mask: u32, value: u32) -> Self {
        Self {
            base,
            offset,
            mask,
            shift: 0,
            op: Op::Eq,
            value: value & mask,
            negate: false,
            short: false,
        }
    }

    /// Bytes of the word, from `offset`, that must be present: up to the last byte the mask
    /// covers (none when the mask is zero).
    pub fn need(&self) -> u8 {
        need_of(self.mask)
    }

    /// The raw comparison on a word, before negation.
    #[inline]
    fn compare(&self, word: u32) -> bool {
        compare(self.op, (word & self.mask) >> self.shift, self.value)
    }

    /// Evaluates the test on a packet.
    pub fn eval(&self, view: &View<'_>) -> bool {
        match view.word(self.base, self.offset, self.need()) {
            Some(w) => self.compare(w) ^ self.negate,
            None => self.short,
        }
    }
}

#[inline]
fn compare(op: Op, field: u32, value: u32) -> bool {
    match op {
        Op::Eq => field == value,
        Op::Gt => field > value,
        Op::Lt => field < value,
    }
}

fn need_of(mask: u32) -> u8 {
    let b = mask.to_be_bytes();
    b.iter().rposition(|&x| x != 0).map_or(0, |i| i as u8 + 1)
}

/// A boolean formula over tests: a parsed pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Always true or always false.
    Const(bool),
    /// One test.
    Test(Test),
    /// The opposite outcome (short packets included).
    Not(Box<Expr>),
    /// All of them (true when empty).
    And(Vec<Expr>),
    /// Any of them (false when empty).
    Or(Vec<Expr>),
    /// `c ? a : b`.
    Ternary(Box<[Expr; 3]>),
}

impl Expr {
    /// The reference evaluator: walks the formula directly.
    pub fn eval(&self, view: &View<'_>) -> bool {
        match self {
            Expr::Const(b) => *b,
            Expr::Test(t) => t.eval(view),
            Expr::Not(e) => !e.eval(view),
            Expr::And(v) => v.iter().all(|e| e.eval(view)),
            Expr::Or(v) => v.iter().any(|e| e.eval(view)),
            Expr::Ternary(t) => {
                if t[0].eval(view) {
                    t[1].eval(view)
                } else {
                    t[2].eval(view)
                }
            }
        }
    }

    /// `e AND f`, flattening nested conjunctions.
    pub fn and(self, other: Expr) -> Expr {
        let mut v = match self {
            Expr::And(v) => v,
            e => vec![e],
        };
        match other {
            Expr::And(w) => v.extend(w),
            e => v.push(e),
        }
        Expr::And(v)
    }

    /// Inverts the outcome for every packet with its bytes, while a packet too short for a
    /// test keeps the outcome it had: Click's negation of a comparison (`!=`, `<=`, `>=`).
    pub fn negate_keep_short(self) -> Expr {
        match self {
            Expr::Const(b) => Expr::Const(!b),
            Expr::Test(mut t) => {
                t.negate = !t.negate;
                Expr::Test(t)
            }
            Expr::Not(e) => e.flip_short(),
            Expr::And(v) => Expr::Or(v.into_iter().map(Expr::negate_keep_short).collect()),
            Expr::Or(v) => Expr::And(v.into_iter().map(Expr::negate_keep_short).collect()),
            Expr::Ternary(t) => {
                let [c, a, b] = *t;
                Expr::Ternary(Box::new([
                    c.flip_short(),
                    a.negate_keep_short(),
                    b.negate_keep_short(),
                ]))
            }
        }
    }

    /// Inverts every test's short result.
    fn flip_short(self) -> Expr {
        match self {
            Expr::Const(b) => Expr::Const(b),
            Expr::Test(mut t) => {
                t.short = !t.short;
                Expr::Test(t)
            }
            Expr::Not(e) => Expr::Not(Box::new(e.flip_short())),
            Expr::And(v) => Expr::And(v.into_iter().map(Expr::flip_short).collect()),
            Expr::Or(v) => Expr::Or(v.into_iter().map(Expr::flip_short).collect()),
            Expr::Ternary(t) => {
                let [c, a, b] = *t;
                Expr::Ternary(Box::new([c.flip_short(), a.flip_short(), b.flip_short()]))
            }
        }
    }
}

/// The outcome of a list of patterns for one packet, by the reference evaluator: the output
/// of the first pattern that matches.
pub fn reference_classify(rules: &[(Expr, Outcome)], view: &View<'_>) -> Outcome {
    for (e, out) in rules {
        if e.eval(view) {
            return *out;
        }
    }
    Outcome::Drop
}

/// What happens to a packet that matched a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Leaves on this output.
    Port(u16),
    /// Dropped.
    Drop,
}

/// The parts of a packet tests read, indexed by [`Base`]. Building one costs a few
/// comparisons per packet; every part ends where the packet data ends, so a part is just
/// its start, and reading a word is one bounds check.
#[derive(Clone, Copy, Debug, Default)]
pub struct View<'a> {
    /// The buffer up to the end of the packet data.
    bytes: &'a [u8],
    /// Where each part starts in `bytes` (`bytes.len()` for a missing part).
    start: [usize; 4],
}

impl<'a> View<'a> {
    /// A view of a packet: the IP header at the network header annotation (the data start
    /// when unset), the Ethernet header the 14 bytes before it (when the buffer has them),
    /// the transport header IHL×4 bytes past the IP header's start.
    #[inline]
    pub fn of_packet(p: &'a Packet) -> Self {
        let buf = p.buffer();
        let head = p.headroom();
        let end = head + p.len();
        let net_at = head + p.network_offset().unwrap_or(0);
        Self::from_buffer(buf, head, end, net_at)
    }

    /// A view over `buf[head..end]` with the IP header at `buf[net_at..]`.
    #[inline]
    pub fn from_buffer(buf: &'a [u8], head: usize, end: usize, net_at: usize) -> Self {
        let Some(bytes) = buf.get(..end) else {
            return Self::default();
        };
        let part = |at: usize| if at <= end { at } else { end };
        let data = part(head);
        let net = part(net_at);
        let link = match net_at.checked_sub(14) {
            Some(l) if net_at <= end => l,
            _ => end,
        };
        let transport = match bytes.get(net) {
            Some(b) => part(net + usize::from(b & 0x0f) * 4),
            None => end,
        };
        Self {
            bytes,
            start: [data, link, net, transport],
        }
    }

    /// A view of bare bytes: data and IP header both start at byte 0 (tests).
    pub fn of_bytes(bytes: &'a [u8]) -> Self {
        Self::from_buffer(bytes, 0, bytes.len(), 0)
    }

    /// The big-endian word at `offset` from `base`, or `None` when fewer than `need` of its
    /// bytes exist. Missing bytes past `need` read as zero.
    #[inline]
    pub fn word(&self, base: Base, offset: u16, need: u8) -> Option<u32> {
        self.word_at(base as usize, offset, need)
    }

    #[inline(always)]
    fn word_at(&self, base: usize, offset: u16, need: u8) -> Option<u32> {
        let at = self.start[base & 3] + usize::from(offset);
        if let Some(&[a, b, c, d]) = self.bytes.get(at..at + 4) {
            return Some(u32::from_be_bytes([a, b, c, d]));
        }
        self.word_slow(at, need)
    }

    /// A word that runs past the end of the packet.
    #[cold]
    fn word_slow(&self, at: usize, need: u8) -> Option<u32> {
        if need == 0 {
            return Some(0);
        }
        let avail = self.bytes.get(at..)?;
        if avail.len() < usize::from(need) {
            return None;
        }
        let mut w = [0u8; 4];
        w[..avail.len()].copy_from_slice(avail);
        Some(u32::from_be_bytes(w))
    }
}

/// A jump target: an instruction index, an output port, or drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target(u32);

impl Target {
    const OUT: u32 = 0x8000_0000;
    /// Drop the packet.
    pub const DROP: Target = Target(u32::MAX);

    fn port(p: u16) -> Self {
        Target(Self::OUT | u32::from(p))
    }

    fn insn(i: usize) -> Self {
        Target(i as u32)
    }

    fn outcome(o: Outcome) -> Self {
        match o {
            Outcome::Port(p) => Self::port(p),
            Outcome::Drop => Self::DROP,
        }
    }

    /// The instruction index, when this target is one.
    #[inline]
    fn as_insn(self) -> Option<usize> {
        (self.0 & Self::OUT == 0).then_some(self.0 as usize)
    }

    #[inline]
    fn as_outcome(self) -> Outcome {
        if self == Self::DROP {
            Outcome::Drop
        } else {
            Outcome::Port((self.0 & 0xffff) as u16)
        }
    }

    fn unparse(self) -> String {
        match self.as_insn() {
            Some(i) => format!("step {i}"),
            None => match self.as_outcome() {
                Outcome::Port(p) => format!("[{p}]"),
                Outcome::Drop => String::from("[drop]"),
            },
        }
    }
}

/// One instruction: the masked word, left in place, must lie in `lo..=lo + span` (tested as
/// one wrapping subtraction and compare), and three targets. Every comparison (`==`, `>`,
/// `<`, on any field of the word) becomes one such range test.
///
/// A switch instruction (`switch` set) instead looks the masked word up in table `lo`: a
/// value listed there jumps to its target, any other value to `no`; `yes` and `span` are
/// unused. A packet too short for the word goes to `short` as for a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    base: u8,
    need: u8,
    switch: bool,
    offset: u16,
    mask: u32,
    lo: u32,
    span: u32,
    /// When the masked word is in range.
    yes: Target,
    /// When it is not.
    no: Target,
    /// When the packet lacks the bytes.
    short: Target,
}

impl Insn {
    /// A hash of every field, for interning.
    fn hash64(&self) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let words = [
            u64::from(self.base)
                | u64::from(self.need) << 8
                | u64::from(self.switch) << 16
                | u64::from(self.offset) << 32,
            u64::from(self.mask) | u64::from(self.lo) << 32,
            u64::from(self.span) | u64::from(self.yes.0) << 32,
            u64::from(self.no.0) | u64::from(self.short.0) << 32,
        ];
        words.iter().fold(0u64, |h, &w| {
            let x = (h ^ w).wrapping_mul(K);
            x ^ (x >> 29)
        })
    }

    fn same_word(&self, other: &Insn) -> bool {
        self.base == other.base && self.offset == other.offset
    }

    fn hi(&self) -> u32 {
        self.lo.wrapping_add(self.span)
    }
}

/// The range of masked-word values (field left in place) for which `op(field, value)`
/// holds, or `None` when no value does.
fn word_range(op: Op, mask: u32, shift: u8, value: u32) -> Option<(u32, u32)> {
    let up = |v: u32| v.checked_mul(1u32.checked_shl(u32::from(shift))?);
    match op {
        Op::Eq => up(value).filter(|w| w & !mask == 0).map(|w| (w, w)),
        Op::Gt => up(value.checked_add(1)?)
            .filter(|&w| w <= mask)
            .map(|w| (w, u32::MAX)),
        Op::Lt => match up(value) {
            None => Some((0, u32::MAX)),
            Some(0) => None,
            Some(w) => Some((0, w - 1)),
        },
    }
}

/// A compiled list of patterns. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
    /// The tables of switch instructions.
    tables: Vec<Table>,
    entry: Target,
}

/// A switch table: open addressing with linear probing over a power-of-two number of slots,
/// at most half full, so a lookup ends at a free slot after a short probe.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Table {
    /// `(value, target)`; a free slot holds [`Table::FREE`] as its target.
    slots: Box<[(u32, Target)]>,
    /// Right shift that turns the 32-bit hash into a slot index.
    shift: u32,
}

impl Table {
    /// No instruction index or outcome is ever this.
    const FREE: Target = Target(u32::MAX - 1);

    fn new(entries: &[(u32, Target)]) -> Table {
        let bits = (entries.len() * 2)
            .next_power_of_two()
            .trailing_zeros()
            .max(1);
        let mut slots = vec![(0u32, Self::FREE); 1 << bits].into_boxed_slice();
        let shift = 32 - bits;
        let mask = slots.len() - 1;
        for &(v, t) in entries {
            let mut k = Self::hash(v, shift);
            while slots[k].1 != Self::FREE {
                k = (k + 1) & mask;
            }
            slots[k] = (v, t);
        }
        Table { slots, shift }
    }

    #[inline]
    fn hash(v: u32, shift: u32) -> usize {
        // Fibonacci hashing: the top bits of a multiply mix every input bit.
        (v.wrapping_mul(0x9e37_79b1) >> shift) as usize
    }

    /// The target for `v`, or `default` when `v` is not listed.
    #[inline]
    fn lookup(&self, v: u32, default: Target) -> Target {
        let mask = self.slots.len() - 1;
        let mut k = Self::hash(v, self.shift);
        // Bounded: the table always has a free slot.
        for _ in 0..self.slots.len() {
            let Some(&(key, t)) = self.slots.get(k) else {
                break;
            };
            if t == Self::FREE {
                break;
            }
            if key == v {
                return t;
            }
            k = (k + 1) & mask;
        }
        default
    }
}

/// Builds instructions back to front, so every target exists before its source.
struct Builder {
    /// In emission order; instruction `k` here ends up at index `len - 1 - k`.
    insns: Vec<Insn>,
}

/// During building, targets refer to emission indices.
impl Builder {
    fn emit(&mut self, t: &Test, yes: Target, no: Target) -> Target {
        let (yes_t, no_t) = if t.negate { (no, yes) } else { (yes, no) };
        let short = if t.short { yes } else { no };
        // A test with nothing to read is a constant.
        if t.mask == 0 {
            return if compare(t.op, 0, t.value) {
                yes_t
            } else {
                no_t
            };
        }
        // A comparison no value satisfies still needs its bytes: an empty range on mask 0.
        let (mask, lo, span) = match word_range(t.op, t.mask, t.shift, t.value) {
            Some((lo, hi)) => (t.mask, lo, hi - lo),
            None => (0, 1, 0),
        };
        self.insns.push(Insn {
            base: t.base as u8,
            need: t.need(),
            switch: false,
            offset: t.offset,
            mask,
            lo,
            span,
            yes: yes_t,
            no: no_t,
            short,
        });
        Target::insn(self.insns.len() - 1)
    }

    fn compile(&mut self, e: &Expr, yes: Target, no: Target) -> Target {
        match e {
            Expr::Const(true) => yes,
            Expr::Const(false) => no,
            Expr::Test(t) => self.emit(t, yes, no),
            Expr::Not(e) => self.compile(e, no, yes),
            Expr::And(v) => {
                let mut t = yes;
                for e in v.iter().rev() {
                    t = self.compile(e, t, no);
                }
                t
            }
            Expr::Or(v) => {
                let mut t = no;
                for e in v.iter().rev() {
                    t = self.compile(e, yes, t);
                }
                t
            }
            Expr::Ternary(t) => {
                let a = self.compile(&t[1], yes, no);
                let b = self.compile(&t[2], yes, no);
                self.compile(&t[0], a, b)
            }
        }
    }
}

/// If every masked word on which `a` gives `ra` gives `b` the same result, that result.
/// Both mask the same word with the same mask.
fn implied(a: &Insn, ra: bool, b: &Insn) -> Option<bool> {
    let (alo, ahi) = (a.lo, a.hi());
    let (blo, bhi) = (b.lo, b.hi());
    let from: [Option<(u32, u32)>; 2] = if ra {
        [Some((alo, ahi)), None]
    } else {
        [
            alo.checked_sub(1).map(|h| (0, h)),
            ahi.checked_add(1).map(|l| (l, u32::MAX)),
        ]
    };
    let inside = |(l, h): (u32, u32)| blo <= l && h <= bhi;
    let outside = |(l, h): (u32, u32)| h < blo || l > bhi;
    let parts: Vec<(u32, u32)> = from.iter().flatten().copied().collect();
    if parts.is_empty() {
        None
    } else if parts.iter().all(|&p| inside(p)) {
        Some(true)
    } else if parts.iter().all(|&p| outside(p)) {
        Some(false)
    } else {
        None
    }
}

impl Program {
    /// Compiles patterns tried in order: a packet leaves with the outcome of the first
    /// pattern it matches, and is dropped when it matches none.
    pub fn compile(rules: &[(Expr, Outcome)]) -> Program {
        let mut b = Builder { insns: Vec::new() };
        let mut next = Target::DROP;
        for (e, out) in rules.iter().rev() {
            next = b.compile(e, Target::outcome(*out), next);
        }
        let mut insns = b.insns;
        let entry = next;
        thread_jumps(&mut insns);
        // Reverse emission order so every jump goes forward, and drop what is unreachable.
        let n = insns.len();
        let mut reachable = vec![false; n];
        let mut stack: Vec<usize> = entry.as_insn().into_iter().collect();
        while let Some(k) = stack.pop() {
            if core::mem::replace(&mut reachable[k], true) {
                continue;
            }
            let i = &insns[k];
            stack.extend([i.yes, i.no, i.short].iter().filter_map(|t| t.as_insn()));
        }
        let mut new_index = vec![usize::MAX; n];
        let mut count = 0;
        for k in (0..n).rev() {
            if reachable[k] {
                new_index[k] = count;
                count += 1;
            }
        }
        let map = |t: Target| t.as_insn().map_or(t, |k| Target::insn(new_index[k]));
        let mut out = Vec::with_capacity(count);
        for k in (0..n).rev().filter(|&k| reachable[k]) {
            let mut i = insns[k];
            i.yes = map(i.yes);
            i.no = map(i.no);
            i.short = map(i.short);
            out.push(i);
        }
        let mut prog = Program {
            insns: out,
            tables: Vec::new(),
            entry: map(entry),
        };
        debug_assert!(prog.jumps_forward());
        prog.thread_known();
        prog
    }

    /// Compiles as [`Program::compile`], then adds switches (see [`Program::add_switches`])
    /// on words compared with at least `min_values` distinct values.
    pub fn compile_with_switches(rules: &[(Expr, Outcome)], min_values: usize) -> Program {
        let mut p = Program::compile(rules);
        p.add_switches(min_values);
        if !p.tables.is_empty() {
            p.thread_known();
        }
        p
    }

    fn jumps_forward(&self) -> bool {
        let forward =
            |k: usize, t: &Target| t.as_insn().is_none_or(|j| j > k && j < self.insns.len());
        self.insns.iter().enumerate().all(|(k, i)| {
            let table = if i.switch {
                match self.tables.get(i.lo as usize) {
                    Some(t) => t
                        .slots
                        .iter()
                        .filter(|e| e.1 != Table::FREE)
                        .all(|e| forward(k, &e.1)),
                    None => false,
                }
            } else {
                true
            };
            table && [i.yes, i.no, i.short].iter().all(|t| forward(k, t))
        })
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// True when every packet gets the same outcome without a test.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Runs a packet through the program.
    #[inline]
    pub fn classify(&self, view: &View<'_>) -> Outcome {
        let mut t = self.entry;
        // Jumps only go forward (checked at compile time), so this takes at most
        // `insns.len()` steps.
        while let Some(k) = t.as_insn() {
            let Some(i) = self.insns.get(k) else {
                return Outcome::Drop;
            };
            let Some(w) = view.word_at(usize::from(i.base), i.offset, i.need) else {
                t = i.short;
                continue;
            };
            if i.switch {
                t = match self.tables.get(i.lo as usize) {
                    Some(table) => table.lookup(w & i.mask, i.no),
                    None => i.no,
                };
            } else if (w & i.mask).wrapping_sub(i.lo) <= i.span {
                // Arms that differ in control flow stay a branch, not a select: the
                // processor predicts the path and runs ahead instead of waiting for each
                // word to decide where the next instruction is.
                t = i.yes;
                if t.as_insn().is_none() {
                    break;
                }
            } else {
                t = i.no;
            }
        }
        t.as_outcome()
    }

    /// Instructions a packet runs through (for tests of the program's shape).
    #[cfg(test)]
    pub fn steps(&self, view: &View<'_>) -> usize {
        let mut t = self.entry;
        let mut n = 0;
        while let Some(k) = t.as_insn() {
            n += 1;
            let i = &self.insns[k];
            t = match view.word_at(usize::from(i.base), i.offset, i.need) {
                Some(w) if i.switch => self.tables[i.lo as usize].lookup(w & i.mask, i.no),
                Some(w) if (w & i.mask).wrapping_sub(i.lo) <= i.span => i.yes,
                Some(_) => i.no,
                None => i.short,
            };
        }
        n
    }

    /// Whether some test leads to the same place whatever it finds.
    #[cfg(test)]
    pub fn has_idle_tests(&self) -> bool {
        self.insns
            .iter()
            .any(|i| !i.switch && i.yes == i.no && i.no == i.short)
    }

    /// Runs a packet through the program.
    #[inline]
    pub fn classify_packet(&self, p: &Packet) -> Outcome {
        self.classify(&View::of_packet(p))
    }

    /// A human-readable listing, one instruction a line.
    pub fn unparse(&self) -> String {
        let mut s = String::new();
        const BASES: [Base; 4] = [Base::Data, Base::Link, Base::Net, Base::Transport];
        for (k, i) in self.insns.iter().enumerate() {
            let base = BASES.get(usize::from(i.base)).map_or("?", |b| b.name());
            if i.switch {
                s.push_str(&format!("{k:3} {base}{} & {:08x} switch", i.offset, i.mask));
                if let Some(table) = self.tables.get(i.lo as usize) {
                    let cases: Vec<(u32, Target)> = sluice_config::heap_sorted(
                        table
                            .slots
                            .iter()
                            .filter(|e| e.1 != Table::FREE)
                            .copied()
                            .collect(),
                    );
                    for (v, t) in cases {
                        s.push_str(&format!(" {v:08x}->{}", t.unparse()));
                    }
                }
                s.push_str(&format!(
                    "  else->{}  short->{}\n",
                    i.no.unparse(),
                    i.short.unparse()
                ));
                continue;
            }
            if i.span == 0 {
                s.push_str(&format!(
                    "{k:3} {base}{}/{:08x}%{:08x}",
                    i.offset, i.lo, i.mask
                ));
            } else {
                s.push_str(&format!(
                    "{k:3} {base}{} & {:08x} in {:08x}-{:08x}",
                    i.offset,
                    i.mask,
                    i.lo,
                    i.hi()
                ));
            }
            s.push_str(&format!(
                "  yes->{}  no->{}",
                i.yes.unparse(),
                i.no.unparse()
            ));
            if i.short != i.no {
                s.push_str(&format!("  short->{}", i.short.unparse()));
            }
            s.push('\n');
        }
        s.push_str(&format!("entry {}\n", self.entry.unparse()));
        s
    }
}

/// A masked word that switch instructions dispatch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Field {
    base: u8,
    offset: u16,
    mask: u32,
}

/// Most instructions a program with switches may have (the memory a config may cost).
const SWITCH_BUDGET: usize = 1 << 14;

/// Fewest instructions a program needs before switches are tried: a packet runs through a
/// small program in a few dozen instructions anyway, and building the switched program
/// costs far more at configuration time than it could save.
pub const SWITCH_MIN_INSNS: usize = 24;

/// Most switches a packet passes through.
const SWITCH_DEPTH: usize = 3;

/// Instructions as a shared graph: equal instructions (same test, same targets) are stored
/// once, so the tests that every case of a switch still runs exist once, not once per case.
/// A node's targets are nodes created before it, so laying nodes out newest first makes
/// every jump go forward.
struct Nodes {
    insns: Vec<Insn>,
    /// Open addressing with linear probing: indices into `insns` by [`Insn::hash64`],
    /// [`Nodes::FREE`] for a free slot; a power of two long, at most half full.
    index: Vec<u32>,
    tables: Vec<Table>,
    /// Scratch for [`Nodes::restrict`]: what each node becomes.
    map: Vec<Target>,
    /// Scratch for [`Nodes::reachable`]: the stamp of the last walk that saw each node.
    marks: Vec<u32>,
    stamp: u32,
    stack: Vec<usize>,
    /// Node lists of [`Nodes::with_switches`], one per level in use.
    walks: Vec<Vec<usize>>,
    /// Scratch for [`Nodes::best_field`].
    seen: Vec<(Field, u32)>,
    /// Whether the cases of a switch get switches of their own, or only its default does.
    cases_deep: bool,
}

impl Nodes {
    const FREE: u32 = u32::MAX;

    fn new() -> Self {
        Nodes {
            insns: Vec::new(),
            index: vec![Self::FREE; 64],
            tables: Vec::new(),
            map: Vec::new(),
            marks: Vec::new(),
            stamp: 0,
            stack: Vec::new(),
            walks: Vec::new(),
            seen: Vec::new(),
            cases_deep: true,
        }
    }

    fn slot(index: &[u32], insns: &[Insn], i: &Insn) -> usize {
        let mask = index.len() - 1;
        let mut k = (i.hash64() >> 32) as usize & mask;
        // Bounded: the table is at most half full.
        loop {
            match index[k] {
                Self::FREE => return k,
                j if insns[j as usize] == *i => return k,
                _ => k = (k + 1) & mask,
            }
        }
    }

    fn intern(&mut self, i: Insn) -> Option<Target> {
        let k = Self::slot(&self.index, &self.insns, &i);
        if self.index[k] != Self::FREE {
            return Some(Target::insn(self.index[k] as usize));
        }
        if self.insns.len() >= SWITCH_BUDGET {
            return None;
        }
        self.insns.push(i);
        let n = self.insns.len() - 1;
        self.index[k] = n as u32;
        if self.insns.len() * 2 > self.index.len() {
            let mut index = vec![Self::FREE; self.index.len() * 2];
            for (j, insn) in self.insns.iter().enumerate() {
                let k = Self::slot(&index, &self.insns, insn);
                index[k] = j as u32;
            }
            self.index = index;
        }
        Some(Target::insn(n))
    }

    /// Nodes reachable from `root`, in creation order (targets before their sources).
    fn reachable(&mut self, root: Target) -> Vec<usize> {
        let mut out = Vec::new();
        self.reachable_into(root, &mut out);
        out
    }

    /// [`Nodes::reachable`] into `out` (cleared first), reusing its memory.
    fn reachable_into(&mut self, root: Target, out: &mut Vec<usize>) {
        out.clear();
        // A node is seen when its mark is this walk's stamp: no clearing per walk.
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.fill(0);
            self.stamp = 1;
        }
        self.marks.resize(self.insns.len(), 0);
        let mut stack = core::mem::take(&mut self.stack);
        stack.clear();
        stack.extend(root.as_insn());
        while let Some(k) = stack.pop() {
            if core::mem::replace(&mut self.marks[k], self.stamp) == self.stamp {
                continue;
            }
            out.push(k);
            let i = &self.insns[k];
            stack.extend(self.targets(i).filter_map(Target::as_insn));
        }
        self.stack = stack;
        out.sort_unstable();
    }

    fn targets<'a>(&'a self, i: &'a Insn) -> impl Iterator<Item = Target> + 'a {
        let table = match i.switch {
            true => self.tables.get(i.lo as usize),
            false => None,
        };
        [i.yes, i.no, i.short].into_iter().chain(
            table
                .into_iter()
                .flat_map(|t| t.slots.iter().filter(|e| e.1 != Table::FREE).map(|e| e.1)),
        )
    }

    /// The field compared for equality with the most distinct values below `root`, and
    /// those values (sorted), when there are at least `min_values`.
    fn best_field(&mut self, nodes: &[usize], min_values: usize) -> Option<(Field, Vec<u32>)> {
        let mut seen = core::mem::take(&mut self.seen);
        seen.clear();
        seen.extend(
            nodes
                .iter()
                .map(|&k| &self.insns[k])
                .filter(|i| !i.switch && i.span == 0 && i.mask != 0)
                .map(|i| {
                    let f = Field {
                        base: i.base,
                        offset: i.offset,
                        mask: i.mask,
                    };
                    (f, i.lo)
                }),
        );
        seen.sort_unstable();
        seen.dedup();
        let mut best: Option<(Field, usize, usize)> = None;
        let mut start = 0;
        while start < seen.len() {
            let f = seen[start].0;
            let end = start + seen[start..].iter().take_while(|e| e.0 == f).count();
            if best.is_none_or(|(_, s, e)| end - start > e - s) {
                best = Some((f, start, end));
            }
            start = end;
        }
        let out = best
            .filter(|&(_, s, e)| e - s >= min_values)
            .map(|(f, s, e)| (f, seen[s..e].iter().map(|e| e.1).collect()));
        self.seen = seen;
        out
    }

    /// What test `i` gives on a packet whose `f` word masks to `value` (`None`: to none of
    /// the values tested for equality), when that decides it. A test that needs more bytes
    /// than the switch read stays, as it might find the packet short.
    fn decided(i: &Insn, f: Field, need: u8, value: Option<u32>) -> Option<bool> {
        if i.switch || i.base != f.base || i.offset != f.offset || i.need > need {
            return None;
        }
        match value {
            Some(v) if i.mask & !f.mask == 0 => Some((v & i.mask).wrapping_sub(i.lo) <= i.span),
            None if i.mask == f.mask && i.span == 0 => Some(false),
            _ => None,
        }
    }

    /// The program below `nodes` (reachable from `root`) for packets whose `f` word masks
    /// to `value` (see [`Nodes::decided`]): decided tests become jumps.
    fn restrict(
        &mut self,
        root: Target,
        nodes: &[usize],
        f: Field,
        need: u8,
        value: Option<u32>,
    ) -> Option<Target> {
        // Creation order: a node's targets are mapped before it. Every node below `root`
        // is in `nodes`, so the map needs no clearing between calls.
        let mut map = core::mem::take(&mut self.map);
        map.resize(self.insns.len(), Target::DROP);
        let get = |t: Target, map: &[Target]| {
            t.as_insn()
                .map_or(t, |k| map.get(k).copied().unwrap_or(Target::DROP))
        };
        let mut out = Some(());
        for &k in nodes {
            let i = self.insns[k];
            let t = match Self::decided(&i, f, need, value) {
                Some(true) => get(i.yes, &map),
                Some(false) => get(i.no, &map),
                None if i.switch => Target::insn(k),
                None => {
                    let j = Insn {
                        yes: get(i.yes, &map),
                        no: get(i.no, &map),
                        short: get(i.short, &map),
                        ..i
                    };
                    if j == i {
                        // Nothing below changed: the node itself, as interning would find.
                        Target::insn(k)
                    } else if j.yes == j.no && j.no == j.short {
                        // Whatever the test finds, the packet goes on to the same place.
                        j.yes
                    } else if let Some(t) = self.intern(j) {
                        t
                    } else {
                        out = None;
                        break;
                    }
                }
            };
            map[k] = t;
        }
        let t = get(root, &map);
        self.map = map;
        out.map(|()| t)
    }

    /// `root` with a switch in front on its most-tested field, each case (and the default)
    /// running only the tests the field's value leaves open, switched again up to `depth`
    /// levels. Packets too short for a switch go to `fallback`. `Ok(None)`: no field has
    /// `min_values` values; `Err`: over budget.
    fn with_switches(
        &mut self,
        root: Target,
        fallback: Target,
        min_values: usize,
        depth: usize,
    ) -> Result<Option<Target>, ()> {
        if depth == 0 {
            return Ok(None);
        }
        // One node list per level, kept for the next walk at that level.
        let mut nodes = self.walks.pop().unwrap_or_default();
        self.reachable_into(root, &mut nodes);
        let r = self.switch_on(root, &nodes, fallback, min_values, depth);
        self.walks.push(nodes);
        r
    }

    /// [`Nodes::with_switches`] on the nodes below `root`.
    fn switch_on(
        &mut self,
        root: Target,
        nodes: &[usize],
        fallback: Target,
        min_values: usize,
        depth: usize,
    ) -> Result<Option<Target>, ()> {
        // Each value is compared by a node of its own.
        if nodes.len() < min_values {
            return Ok(None);
        }
        let Some((f, values)) = self.best_field(nodes, min_values) else {
            return Ok(None);
        };
        let need = need_of(f.mask);
        let mut cases = Vec::with_capacity(values.len());
        let mut default = Target::DROP;
        for value in values.iter().map(|&v| Some(v)).chain([None]) {
            let sub = self.restrict(root, nodes, f, need, value).ok_or(())?;
            // A packet that hits no case (most traffic, in a firewall) runs the default;
            // switching only the default keeps the tree linear in the number of values.
            // The default chain may switch on every field in turn (each switch settles its
            // field for the default, so the chain ends): it adds one table per field, while
            // each level of cases below a case multiplies.
            let below = match value {
                Some(_) if !self.cases_deep => 0,
                Some(_) => depth - 1,
                None => depth,
            };
            let sub = self
                .with_switches(sub, fallback, min_values, below)?
                .unwrap_or(sub);
            match value {
                Some(v) => cases.push((v, sub)),
                None => default = sub,
            }
        }
        self.tables.push(Table::new(&cases));
        let t = self.intern(Insn {
            base: f.base,
            need,
            switch: true,
            offset: f.offset,
            mask: f.mask,
            lo: (self.tables.len() - 1) as u32,
            span: 0,
            yes: Target::DROP,
            no: default,
            short: fallback,
        });
        t.map(Some).ok_or(())
    }
}

impl Program {
    /// Puts switches in front of the tests: when many patterns compare one word with
    /// different values (`src net A`, `src net B`, ...), one hash lookup on the word picks
    /// the tests that value leaves, instead of running through every comparison. A switch
    /// needs at least `min_values` distinct values. Packets too short for a switch's word
    /// run the program without switches, which stays in the program, so every outcome stays
    /// exactly the plain program's.
    ///
    /// Each case and the default are switched again, up to `SWITCH_DEPTH` levels. When
    /// that tree exceeds the budget (many rules, each kind comparing its own word with many
    /// values, interleaved), shallower trees are tried, then trees that switch again below
    /// defaults only: a packet matching none of a switch's values (most traffic through a
    /// firewall's deny list) still skips every rule on the next word with one lookup.
    ///
    /// Programs shorter than [`SWITCH_MIN_INSNS`] are left as they are: they run fast
    /// enough, and the switched program would cost more to build than it saves.
    pub fn add_switches(&mut self, min_values: usize) {
        if self.insns.len() >= SWITCH_MIN_INSNS {
            self.add_switches_any_size(min_values);
        }
    }

    /// As [`Program::add_switches`], whatever the program's size.
    pub fn add_switches_any_size(&mut self, min_values: usize) {
        if !self.tables.is_empty() || self.insns.is_empty() {
            return;
        }
        let min_values = min_values.max(2);
        if !self.has_switch_field(min_values) {
            return;
        }
        // Shallower trees when the deep one does not fit the budget; then switches below
        // defaults only, whose size grows with the values rather than their product.
        let uniform = (2..=SWITCH_DEPTH).rev().map(|d| (d, true));
        let defaults = (1..=SWITCH_DEPTH).rev().map(|d| (d, false));
        for (depth, cases_deep) in uniform.chain(defaults) {
            if let Some(p) = self.switched(min_values, depth, cases_deep) {
                *self = p;
                return;
            }
        }
    }

    /// As [`Program::add_switches_any_size`], with switches below defaults only (the
    /// fallback for programs too large for the full tree), so tests can reach that form.
    #[cfg(test)]
    pub(crate) fn add_switches_defaults_only(&mut self, min_values: usize) {
        if self.tables.is_empty() && !self.insns.is_empty() {
            if let Some(p) = self.switched(min_values.max(2), SWITCH_DEPTH, false) {
                *self = p;
            }
        }
    }

    /// Whether some masked word is compared for equality with at least `min_values`
    /// distinct values: without one, no switch would be built.
    fn has_switch_field(&self, min_values: usize) -> bool {
        let mut seen: Vec<(Field, u32)> = self
            .insns
            .iter()
            .filter(|i| i.span == 0 && i.mask != 0)
            .map(|i| {
                let f = Field {
                    base: i.base,
                    offset: i.offset,
                    mask: i.mask,
                };
                (f, i.lo)
            })
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.chunk_by(|a, b| a.0 == b.0)
            .any(|c| c.len() >= min_values)
    }

    fn switched(&self, min_values: usize, depth: usize, cases_deep: bool) -> Option<Program> {
        let mut nodes = Nodes::new();
        nodes.cases_deep = cases_deep;
        // The plain program, back to front so targets exist first.
        let n = self.insns.len();
        let mut map = vec![Target::DROP; n];
        let get = |t: Target, map: &[Target]| t.as_insn().map_or(t, |k| map[k]);
        for k in (0..n).rev() {
            let i = self.insns[k];
            map[k] = nodes.intern(Insn {
                yes: get(i.yes, &map),
                no: get(i.no, &map),
                short: get(i.short, &map),
                ..i
            })?;
        }
        let plain = get(self.entry, &map);
        let root = nodes
            .with_switches(plain, plain, min_values, depth)
            .ok()??;
        // Lay out newest first: every jump goes forward.
        let order = nodes.reachable(root);
        let mut new_index = vec![usize::MAX; nodes.insns.len()];
        for (pos, &k) in order.iter().rev().enumerate() {
            new_index[k] = pos;
        }
        let remap = |t: Target| t.as_insn().map_or(t, |k| Target::insn(new_index[k]));
        let mut tables = Vec::new();
        let mut insns = Vec::with_capacity(order.len());
        for &k in order.iter().rev() {
            let mut i = nodes.insns[k];
            i.yes = remap(i.yes);
            i.no = remap(i.no);
            i.short = remap(i.short);
            if i.switch {
                let mut t = nodes.tables.get(i.lo as usize)?.clone();
                for slot in t.slots.iter_mut() {
                    if slot.1 != Table::FREE {
                        slot.1 = remap(slot.1);
                    }
                }
                tables.push(t);
                i.lo = (tables.len() - 1) as u32;
            }
            insns.push(i);
        }
        let p = Program {
            insns,
            tables,
            entry: remap(root),
        };
        debug_assert!(p.jumps_forward());
        Some(p)
    }
}

/// Redirects jumps whose outcome at the target is already known: a branch into a test of
/// the same field, whose result follows from the branch taken, goes straight to where that
/// test would send the packet (`tcp and ...` rules in a row test the protocol once).
/// Targets only move further forward in the final order, so the program stays acyclic.
fn thread_jumps(insns: &mut [Insn]) {
    // Emission order: an instruction's targets have smaller emission indices.
    for k in 0..insns.len() {
        let a = insns[k];
        let follow = |mut t: Target, cond: Option<bool>| {
            // Bounded: each step moves to a smaller emission index.
            while let Some(j) = t.as_insn() {
                let b = &insns[j];
                if !a.same_word(b) {
                    break;
                }
                t = match cond {
                    // `a` was short, and `b` needs at least as many bytes: `b` is short.
                    None if b.need >= a.need => b.short,
                    // `a` had its bytes and `b` needs no more of them.
                    Some(r) if b.need <= a.need && a.mask == b.mask => match implied(&a, r, b) {
                        Some(true) => b.yes,
                        Some(false) => b.no,
                        None => break,
                    },
                    _ => break,
                };
            }
            t
        };
        let (yes, no, short) = (
            follow(a.yes, Some(true)),
            follow(a.no, Some(false)),
            follow(a.short, None),
        );
        let i = &mut insns[k];
        i.yes = yes;
        i.no = no;
        i.short = short;
    }
}

/// A test's result known on a path: the test (targets ignored) and what it gave.
#[derive(Clone, Copy, Debug)]
struct Fact {
    test: Insn,
    result: bool,
}

impl Fact {
    fn same(&self, o: &Fact) -> bool {
        let (a, b) = (&self.test, &o.test);
        self.result == o.result
            && (a.base, a.offset, a.need, a.mask, a.lo, a.span)
                == (b.base, b.offset, b.need, b.mask, b.lo, b.span)
    }

    /// What `b` gives on every packet this fact holds for, when that is settled: the same
    /// word under the same mask, and no more bytes needed than the fact's test had.
    fn decides(&self, b: &Insn) -> Option<bool> {
        let a = &self.test;
        if b.switch || !a.same_word(b) || a.mask != b.mask || b.need > a.need {
            return None;
        }
        implied(a, self.result, b)
    }
}

/// Most facts followed along one path; older ones are forgotten first.
const MAX_FACTS: usize = 16;

impl Program {
    /// Redirects every jump past the tests whose results the path already settles, as
    /// Click's optimizer does: after `tcp` matched and `dst port 80` did not, the next
    /// `tcp dst port 443` tests only the port. What holds at an instruction is what holds
    /// on every jump into it (jumps only go forward, so one pass in program order sees all
    /// of them first); a jump adds its own test's result. Unreachable instructions go.
    fn thread_known(&mut self) {
        let n = self.insns.len();
        let mut known: Vec<Option<Vec<Fact>>> = vec![None; n];
        let follow = |insns: &[Insn], mut t: Target, facts: &mut Vec<Fact>| -> Target {
            // Bounded: every step moves forward.
            while let Some(j) = t.as_insn() {
                let b = insns[j];
                let Some(r) = facts.iter().find_map(|f| f.decides(&b)) else {
                    break;
                };
                t = if r { b.yes } else { b.no };
            }
            t
        };
        let arrive = |known: &mut Vec<Option<Vec<Fact>>>, t: Target, facts: Vec<Fact>| {
            if let Some(j) = t.as_insn() {
                known[j] = Some(match known[j].take() {
                    None => facts,
                    Some(mut old) => {
                        old.retain(|f| facts.iter().any(|g| g.same(f)));
                        old
                    }
                });
            }
        };
        let with = |facts: &[Fact], f: Fact| {
            let mut v = Vec::with_capacity(facts.len() + 1);
            let skip = (facts.len() + 1).saturating_sub(MAX_FACTS);
            v.extend_from_slice(&facts[skip..]);
            v.push(f);
            v
        };
        if let Some(e) = self.entry.as_insn() {
            known[e] = Some(Vec::new());
        }
        for k in 0..n {
            let Some(facts) = known[k].take() else {
                continue;
            };
            let i = self.insns[k];
            if i.switch {
                let Some(table) = self.tables.get_mut(i.lo as usize) else {
                    continue;
                };
                for slot in table.slots.iter_mut().filter(|e| e.1 != Table::FREE) {
                    let case = Insn {
                        switch: false,
                        lo: slot.0,
                        span: 0,
                        ..i
                    };
                    let mut f = with(
                        &facts,
                        Fact {
                            test: case,
                            result: true,
                        },
                    );
                    slot.1 = follow(&self.insns, slot.1, &mut f);
                    arrive(&mut known, slot.1, f);
                }
                let (mut no_f, mut short_f) = (facts.clone(), facts);
                let no = follow(&self.insns, i.no, &mut no_f);
                let short = follow(&self.insns, i.short, &mut short_f);
                arrive(&mut known, no, no_f);
                arrive(&mut known, short, short_f);
                (self.insns[k].no, self.insns[k].short) = (no, short);
                continue;
            }
            let fact = |result| Fact { test: i, result };
            let mut yes_f = with(&facts, fact(true));
            let mut no_f = with(&facts, fact(false));
            let mut short_f = facts;
            let yes = follow(&self.insns, i.yes, &mut yes_f);
            let no = follow(&self.insns, i.no, &mut no_f);
            let short = follow(&self.insns, i.short, &mut short_f);
            arrive(&mut known, yes, yes_f);
            arrive(&mut known, no, no_f);
            arrive(&mut known, short, short_f);
            let i = &mut self.insns[k];
            (i.yes, i.no, i.short) = (yes, no, short);
        }
        self.drop_unreachable();
    }

    /// Removes the instructions no packet reaches, keeping the order (and so every jump
    /// forward), and the tables of removed switches.
    fn drop_unreachable(&mut self) {
        let n = self.insns.len();
        let mut reachable = vec![false; n];
        if let Some(e) = self.entry.as_insn() {
            reachable[e] = true;
        }
        for k in 0..n {
            if !reachable[k] {
                continue;
            }
            let i = &self.insns[k];
            let table = i
                .switch
                .then(|| self.tables.get(i.lo as usize))
                .flatten()
                .into_iter()
                .flat_map(|t| t.slots.iter().filter(|e| e.1 != Table::FREE).map(|e| e.1));
            for t in [i.yes, i.no, i.short].into_iter().chain(table) {
                if let Some(j) = t.as_insn() {
                    reachable[j] = true;
                }
            }
        }
        let mut new_index = vec![0u32; n];
        let mut count = 0u32;
        for k in 0..n {
            new_index[k] = count;
            count += u32::from(reachable[k]);
        }
        let map = |t: Target| {
            t.as_insn()
                .map_or(t, |k| Target::insn(new_index[k] as usize))
        };
        let mut tables = Vec::new();
        let mut insns = Vec::with_capacity(count as usize);
        for k in (0..n).filter(|&k| reachable[k]) {
            let mut i = self.insns[k];
            (i.yes, i.no, i.short) = (map(i.yes), map(i.no), map(i.short));
            if i.switch {
                if let Some(t) = self.tables.get(i.lo as usize) {
                    let mut t = t.clone();
                    for slot in t.slots.iter_mut().filter(|e| e.1 != Table::FREE) {
                        slot.1 = map(slot.1);
                    }
                    tables.push(t);
                    i.lo = (tables.len() - 1) as u32;
                }
            }
            insns.push(i);
        }
        self.entry = map(self.entry);
        self.insns = insns;
        self.tables = tables;
        debug_assert!(self.jumps_forward());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(offset: u16, mask: u32, value: u32) -> Expr {
        Expr::Test(Test::eq(Base::Data, offset, mask, value))
    }

    #[test]
    fn compiles_and_runs_first_match() {
        let rules = vec![
            (t(0, 0xff00_0000, 0x0100_0000), Outcome::Port(0)),
            (
                Expr::Not(Box::new(t(0, 0xff00_0000, 0x0200_0000))),
                Outcome::Port(1),
            ),
        ];
        let p = Program::compile(&rules);
        assert_eq!(p.classify(&View::of_bytes(&[1, 0, 0, 0])), Outcome::Port(0));
        assert_eq!(p.classify(&View::of_bytes(&[3])), Outcome::Port(1));
        assert_eq!(p.classify(&View::of_bytes(&[2])), Outcome::Drop);
        // Too short: the test is false, so its negation is true.
        assert_eq!(p.classify(&View::of_bytes(&[])), Outcome::Port(1));
        assert!(p.jumps_forward());
    }

    #[test]
    fn keep_short_negation() {
        let e = t(0, 0xffff_0000, 0x0800_0000).negate_keep_short();
        assert!(!e.eval(&View::of_bytes(&[8])), "short stays false");
        assert!(e.eval(&View::of_bytes(&[8, 1])));
        assert!(!e.eval(&View::of_bytes(&[8, 0])));
    }

    #[test]
    fn threading_skips_known_tests() {
        let proto = |v: u32| t(8, 0x00ff_0000, v << 16);
        let rules = vec![
            (proto(6).and(t(0, 0xff, 1)), Outcome::Port(0)),
            (proto(6).and(t(0, 0xff, 2)), Outcome::Port(1)),
            (proto(17), Outcome::Port(2)),
        ];
        let p = Program::compile(&rules);
        let mut pkt = [0u8; 12];
        pkt[9] = 17;
        assert_eq!(p.classify(&View::of_bytes(&pkt)), Outcome::Port(2));
        pkt[9] = 6;
        pkt[3] = 2;
        assert_eq!(p.classify(&View::of_bytes(&pkt)), Outcome::Port(1));
        // The second protocol test is only reachable through the first's yes path.
        assert!(p.len() <= 5, "{}", p.unparse());
    }
}
