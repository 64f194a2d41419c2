//! A compiled program as bytes: what `sluice build` embeds in an image so the guest runs
//! the program its host compiled instead of carrying the pattern compiler.
//!
//! The layout is little-endian and versioned by its first four bytes:
//!
//! ```text
//! "SCP1"  entry:u32  ninsns:u32  insn*  ntables:u32  table*
//! insn    base:u8 need:u8 switch:u8 0:u8 offset:u16 mask:u32 lo:u32 span:u32 yes:u32 no:u32 short:u32
//! table   shift:u32 nslots:u32 (value:u32 target:u32)*
//! ```
//!
//! [`Program::decode`] checks everything [`Program::classify`] relies on — bases, byte
//! counts, jumps that only go forward to existing instructions, switch tables that exist,
//! have a power-of-two size, the matching shift and a free slot — so bytes from anywhere
//! give an error, never a program that misbehaves.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Insn, Program, Table, Target};

const MAGIC: &[u8; 4] = b"SCP1";

/// Bytes in one encoded instruction.
const INSN_BYTES: usize = 32;

impl Program {
    /// The program as bytes (see the module docs); [`Program::decode`] reads them back.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.insns.len() * INSN_BYTES);
        out.extend_from_slice(MAGIC);
        put(&mut out, self.entry.0);
        put(&mut out, len32(self.insns.len()));
        for i in &self.insns {
            out.extend_from_slice(&[i.base, i.need, u8::from(i.switch), 0]);
            out.extend_from_slice(&i.offset.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            for w in [i.mask, i.lo, i.span, i.yes.0, i.no.0, i.short.0] {
                put(&mut out, w);
            }
        }
        put(&mut out, len32(self.tables.len()));
        for t in &self.tables {
            put(&mut out, t.shift);
            put(&mut out, len32(t.slots.len()));
            for &(v, target) in t.slots.iter() {
                put(&mut out, v);
                put(&mut out, target.0);
            }
        }
        out
    }

    /// Reads a program [`Program::encode`] wrote, or says what is wrong with the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Program, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err("not an encoded classifier program (bad magic)".into());
        }
        let entry = Target(r.u32()?);
        let ninsns = r.count(INSN_BYTES)?;
        let mut insns = Vec::with_capacity(ninsns);
        for _ in 0..ninsns {
            let head = r.take(8)?;
            let (base, need, switch) = (head[0], head[1], head[2]);
            let offset = u16::from_le_bytes([head[4], head[5]]);
            if base > 3 || need > 4 || switch > 1 {
                return Err(format!("instruction {}: bad header", insns.len()));
            }
            let mut w = [0u32; 6];
            for x in &mut w {
                *x = r.u32()?;
            }
            insns.push(Insn {
                base,
                need,
                switch: switch == 1,
                offset,
                mask: w[0],
                lo: w[1],
                span: w[2],
                yes: Target(w[3]),
                no: Target(w[4]),
                short: Target(w[5]),
            });
        }
        let ntables = r.count(8)?;
        let mut tables = Vec::with_capacity(ntables);
        for k in 0..ntables {
            let shift = r.u32()?;
            let nslots = r.count(8)?;
            let bits = nslots.trailing_zeros();
            if !nslots.is_power_of_two() || nslots < 2 || shift != 32 - bits {
                return Err(format!("switch table {k}: bad size"));
            }
            let mut slots = Vec::with_capacity(nslots);
            for _ in 0..nslots {
                slots.push((r.u32()?, Target(r.u32()?)));
            }
            if !slots.iter().any(|s| s.1 == Table::FREE) {
                return Err(format!("switch table {k}: no free slot"));
            }
            tables.push(Table {
                slots: slots.into_boxed_slice(),
                shift,
            });
        }
        if r.at != bytes.len() {
            return Err("trailing bytes after the program".into());
        }
        let program = Program {
            insns,
            tables,
            entry,
        };
        let entry_ok = entry.as_insn().is_none_or(|k| k < program.insns.len());
        if !entry_ok || !program.jumps_forward() || !program.targets_valid() {
            return Err("jump targets out of order or out of range".into());
        }
        Ok(program)
    }

    /// Every target is an instruction (range-checked by `jumps_forward`), a port or drop —
    /// never the switch tables' free marker.
    fn targets_valid(&self) -> bool {
        let ok = |t: Target| t != Table::FREE;
        ok(self.entry)
            && self.insns.iter().all(|i| {
                [i.yes, i.no, i.short].into_iter().all(ok)
                    && (!i.switch || (i.lo as usize) < self.tables.len())
            })
    }
}

fn put(out: &mut Vec<u8>, w: u32) {
    out.extend_from_slice(&w.to_le_bytes());
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("a program of fewer than 2^32 instructions")
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .bytes
            .get(self.at..self.at.saturating_add(n))
            .ok_or_else(|| String::from("encoded program cut short"))?;
        self.at += n;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A count of items of `size` bytes each, refused when the rest cannot hold them (so a
    /// hostile count allocates nothing).
    fn count(&mut self, size: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(size) > self.bytes.len() - self.at {
            return Err("encoded program cut short".into());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::super::{Base, Expr, Outcome, Program, Test, View};
    use crate::classify::lang::{parse_pattern, tokenize};

    fn compiled(patterns: &[&str], min_values: usize) -> Program {
        let rules: Vec<(Expr, Outcome)> = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let e = parse_pattern(&tokenize(p), None).unwrap_or_else(|_| panic!("{p}"));
                (e, Outcome::Port(i as u16))
            })
            .collect();
        Program::compile_with_switches(&rules, min_values)
    }

    #[test]
    fn a_program_survives_encoding_unchanged() {
        let patterns = [
            "src net 192.168.0.0/16",
            "tcp && dst port 22",
            "udp && dst net 198.18.0.0/15",
            "icmp type echo",
            "ip frag",
            "-",
        ];
        let plain = compiled(&patterns, usize::MAX);
        assert_eq!(Program::decode(&plain.encode()), Ok(plain.clone()));
        // With switches: twelve ports on one word become a table.
        let ports: Vec<String> = (0..12)
            .map(|p| format!("dst tcp port {}", 1000 + p))
            .collect();
        let refs: Vec<&str> = ports.iter().map(String::as_str).collect();
        let switched = compiled(&refs, 8);
        assert!(!switched.tables.is_empty(), "the test needs a switch table");
        assert_eq!(Program::decode(&switched.encode()), Ok(switched));
    }

    #[test]
    fn damaged_bytes_are_refused() {
        let p = compiled(&["tcp && dst port 22", "udp"], usize::MAX);
        let good = p.encode();
        // Every truncation is an error.
        for n in 0..good.len() {
            assert!(Program::decode(&good[..n]).is_err(), "cut at {n}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Program::decode(&trailing).is_err());
        // A jump backwards (instruction 1's yes to instruction 0).
        let mut back = good.clone();
        let yes_at = 12 + super::INSN_BYTES + 20;
        back[yes_at..yes_at + 4].copy_from_slice(&0u32.to_le_bytes());
        assert!(Program::decode(&back).is_err());
        // A base beyond the four the view has.
        let mut base = good;
        base[12] = 9;
        assert!(Program::decode(&base).is_err());
    }

    proptest! {
        /// Arbitrary bytes decode to an error or to a program that classifies without
        /// panicking and in at most one step per instruction.
        #[test]
        fn arbitrary_bytes_never_make_a_bad_program(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..200),
            packet in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            if bytes.len() >= 4 {
                bytes[..4].copy_from_slice(super::MAGIC);
            }
            if let Ok(p) = Program::decode(&bytes) {
                let _ = p.classify(&View::of_bytes(&packet));
            }
        }

        /// Programs of random single tests round-trip.
        #[test]
        fn random_programs_round_trip(offset in 0u16..60, mask in any::<u32>(), value in any::<u32>()) {
            let t = Test::eq(Base::Net, offset, mask, value & mask);
            let p = Program::compile(&[(Expr::Test(t), Outcome::Port(0))]);
            prop_assert_eq!(Program::decode(&p.encode()), Ok(p));
        }
    }
}
