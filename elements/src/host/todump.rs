//! `ToDump(FILENAME [, SNAPLEN, ENCAP, KEYWORDS])` — writes packets to a tcpdump file.
//!
//! **Ports:** `1/0-1`: one input, no output or one.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Writes every packet it sees to FILENAME in `tcpdump -w` (pcap) format, readable by
//! tcpdump, Wireshark and `FromDump`. FILENAME `-` means standard output. Each record
//! carries the packet's timestamp annotation (the current time when the annotation is
//! zero) and at most SNAPLEN bytes of it.
//!
//! With an output, ToDump passes every packet on unchanged. With a pull input and no
//! output, it runs as a task and pulls packets itself.
//!
//! Records are buffered and flushed when the router stops (also on Ctrl-C in `sluice
//! run`). A write error is reported once on the console and the element stops writing
//! (packets still pass through).
//!
//! **Keywords:**
//!
//! - `SNAPLEN` (integer, also the second positional argument): bytes of each packet to
//!   store. Default 2000; 0 means all.
//! - `ENCAP` (word, also the third positional argument): the first header of every packet,
//!   stored in the file header so readers know how to decode it: `ETHER` (default), `IP`,
//!   `FDDI`, `ATM`, `802.11`, `AIRONET`, `LINUX_SLL`, or a pcap link-type number.
//! - `USE_ENCAP_FROM` (element names, space separated): take the encapsulation from these
//!   elements' `encap` handlers (`FromDump` has one); they must agree. At most one of
//!   `ENCAP` and `USE_ENCAP_FROM`.
//! - `NANO` (boolean): nanosecond timestamps (pcap magic `a1b23c4d`). Default true, as in
//!   Click (whose timestamps are nanoseconds); false writes microseconds (`a1b2c3d4`).
//! - `EXTRA_LENGTH` (boolean): add the packet's extra length annotation (what a capture's
//!   snap length or `Truncate` removed) to the wire length of its record. Default true.
//! - `UNBUFFERED` (boolean): accepted for compatibility; output is flushed at cleanup.
//!
//! **Handlers:** `count` (packets written), `reset_counts` (write), `filename`.
//!
//! **Hot reconfiguration:** a `ToDump` that replaces one of the same name writing the same
//! file, with the same link type and timestamp precision, through `hotconfig` goes on
//! writing that file (it is not truncated) and goes on from its `count`, as Click's takes
//! over the open file; one writing another file starts it afresh.
//!
//! **Example:**
//!
//! ```text
//! FromDevice(eth0) -> ToDump(capture.pcap, SNAPLEN 96) -> Discard;
//! src :: FromDump(in.pcap, STOP true) -> ToDump(out.pcap, USE_ENCAP_FROM src);
//! ```
//!
//! **Differences from Click:** compressed output (`.gz`) is not produced; the file header is
//! written when the first packet arrives or at cleanup (so `USE_ENCAP_FROM` is resolved
//! then, and a mismatch is reported on the console rather than at initialization).

use std::boxed::Box;
use std::fs::File;
use std::io::Write;
use std::string::{String, ToString};
use std::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    InitContext, Packet, TaskStatus, BATCH_MAX,
};

use super::pcap::{describe_io, linktype, DumpWriter};

/// The element class.
#[allow(non_upper_case_globals)]
pub static ToDump: ElementClass = ElementClass {
    name: "ToDump",
    ports: "1/0-1",
    processing: "a/a",
    make,
    names: None,
};

/// The snap length written in the header when every byte is kept (`SNAPLEN 0`): Click
/// writes the largest number the field holds.
const UNLIMITED_SNAPLEN: u32 = u32::MAX;

#[derive(PartialEq, Eq)]
enum Encap {
    Known(u32),
    From(Vec<String>),
}

struct Dump {
    filename: String,
    snaplen: u32,
    /// Add the extra length annotation to each record's wire length.
    extra_length: bool,
    encap: Encap,
    nano: bool,
    writer: Option<DumpWriter<Box<dyn Write>>>,
    header_written: bool,
    /// False after a write error: packets pass, nothing more is written.
    active: bool,
    count: u64,
}

fn make(args: &mut Args<'_>, _cx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let filename: Option<String> = args.read_mp("FILENAME");
    let snaplen: u32 = args.read_p("SNAPLEN").unwrap_or(2000);
    let encap: Option<String> = args.read_p("ENCAP");
    let from: Option<String> = args.read_k("USE_ENCAP_FROM");
    let extra_length: bool = args.read_k("EXTRA_LENGTH").unwrap_or(true);
    let _unbuffered: Option<bool> = args.read_k("UNBUFFERED");
    let nano: bool = args.read_k("NANO").unwrap_or(true);
    let encap = match (encap, from) {
        (Some(_), Some(_)) => {
            args.error_whole("specify at most one of ENCAP and USE_ENCAP_FROM");
            return None;
        }
        (None, Some(names)) => {
            let names: Vec<String> = names.split_whitespace().map(String::from).collect();
            if names.is_empty() {
                args.error_whole("USE_ENCAP_FROM: element names missing");
                return None;
            }
            Encap::From(names)
        }
        (Some(e), None) => match linktype::parse(&e) {
            Some(lt) => Encap::Known(lt),
            None => {
                args.error_whole(format!(
                    "ENCAP: bad encapsulation type '{e}' (expected ETHER, IP, FDDI, ATM, 802.11, AIRONET, LINUX_SLL or a link-type number)"
                ));
                return None;
            }
        },
        (None, None) => Encap::Known(linktype::ETHER),
    };
    Some(Box::new(Dump {
        filename: filename?,
        snaplen: if snaplen == 0 { u32::MAX } else { snaplen },
        extra_length,
        encap,
        nano,
        writer: None,
        header_written: false,
        active: true,
        count: 0,
    }))
}

impl Dump {
    fn resolve_encap(&self, ctx: &Context<'_>) -> Result<u32, String> {
        let names = match &self.encap {
            Encap::Known(lt) => return Ok(*lt),
            Encap::From(names) => names,
        };
        let mut found: Option<(u32, &str)> = None;
        for n in names {
            let v = ctx
                .read_handler(&format!("{n}.encap"))
                .map_err(|e| format!("USE_ENCAP_FROM: cannot read '{n}.encap': {e}"))?;
            let v = v.trim();
            let lt = linktype::parse(v).ok_or_else(|| {
                format!("USE_ENCAP_FROM: '{n}.encap' is '{v}', not an encapsulation type")
            })?;
            match found {
                Some((prev, who)) if prev != lt => {
                    return Err(format!(
                        "USE_ENCAP_FROM: source encapsulation types disagree: {who} has {}, {n} has {v}",
                        linktype::name(prev)
                    ))
                }
                _ => found = Some((lt, n)),
            }
        }
        Ok(found.map_or(linktype::ETHER, |(lt, _)| lt))
    }

    fn report(&mut self, ctx: &Context<'_>, msg: &str) {
        self.active = false;
        ctx.log(&format!("{}: {}: {msg}", ctx.name(), self.filename));
    }

    fn ensure_header(&mut self, ctx: &Context<'_>) -> bool {
        if self.header_written {
            return self.active;
        }
        self.header_written = true;
        let lt = match self.resolve_encap(ctx) {
            Ok(lt) => lt,
            Err(m) => {
                self.report(ctx, &m);
                return false;
            }
        };
        let snap = if self.snaplen == u32::MAX {
            UNLIMITED_SNAPLEN
        } else {
            self.snaplen
        };
        let r = match self.writer.as_mut() {
            Some(w) => w.write_header(snap, lt),
            None => return false,
        };
        if let Err(e) = r {
            self.report(
                ctx,
                &format!("cannot write file header: {}", describe_io(&e)),
            );
        }
        self.active
    }

    #[inline]
    fn write(&mut self, ctx: &Context<'_>, p: &Packet) {
        if !self.active || !self.ensure_header(ctx) {
            return;
        }
        let mut ts = p.anno().timestamp_ns;
        if ts == 0 {
            // A fresh read, as Click's ToDump takes `Timestamp::now()` here.
            ts = ctx.now_precise();
        }
        let data = p.data();
        let stored = &data[..data.len().min(self.snaplen as usize)];
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let extra = if self.extra_length {
            p.anno().extra_length
        } else {
            0
        };
        let wire = u32::try_from(data.len()).map_or(u32::MAX, |l| l.saturating_add(extra));
        if let Err(e) = w.write_record(ts, stored, wire) {
            self.report(ctx, &format!("write failed: {}", describe_io(&e)));
        } else {
            self.count += 1;
        }
    }
}

const HANDLERS: &[Handler] = &[
    Handler::read("count"),
    Handler::write("reset_counts"),
    Handler::read("filename"),
];

impl Dump {
    /// Whether this one goes on writing `old`'s file after a `hotconfig`: the same file
    /// (not standard output), link type and timestamp precision, and `old` has it open.
    fn continues(&self, old: &Dump) -> bool {
        self.filename != "-"
            && old.filename == self.filename
            && old.encap == self.encap
            && old.nano == self.nano
            && old.writer.is_some()
    }
}

impl Element for Dump {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        if ctx.input_is_pull(0) && ctx.noutputs() == 0 {
            ctx.add_task();
        }
        // Replacing a ToDump that writes the same file the same way (a `hotconfig`): the
        // file is not opened again (that would truncate it); `take_state` takes it over.
        let same = ctx.replacing().is_some_and(|old| {
            old.downcast_ref::<Dump>()
                .is_some_and(|o| self.continues(o))
        });
        if same {
            return Ok(());
        }
        let out: Box<dyn Write> = if self.filename == "-" {
            Box::new(std::io::stdout())
        } else {
            let f = File::create(&self.filename)
                .map_err(|e| format!("{}: {}", self.filename, describe_io(&e)))?;
            Box::new(f)
        };
        self.writer = Some(DumpWriter::new(out, self.nano));
        Ok(())
    }

    fn take_state(&mut self, old: &mut dyn Element, _: &mut Vec<String>) {
        let Some(old) = old.downcast_mut::<Dump>() else {
            return;
        };
        if self.writer.is_some() || !self.continues(old) {
            return;
        }
        self.writer = old.writer.take();
        self.header_written = old.header_written;
        self.active = old.active;
        self.count = old.count;
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: Batch) {
        for p in &batch {
            self.write(ctx, p);
        }
        if ctx.noutputs() > 0 {
            ctx.output_batch(0, batch);
        }
    }

    fn pull(&mut self, ctx: &mut Context<'_>, _port: usize, max: usize) -> Option<Batch> {
        let batch = ctx.pull(0, max)?;
        for p in &batch {
            self.write(ctx, p);
        }
        Some(batch)
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        match ctx.pull(0, BATCH_MAX) {
            Some(batch) => {
                for p in &batch {
                    self.write(ctx, p);
                }
                TaskStatus::Busy
            }
            None => TaskStatus::Idle,
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "count" => self.count.to_string(),
            "filename" => {
                if self.filename == "-" {
                    "<stdout>".into()
                } else {
                    self.filename.clone()
                }
            }
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _ctx: &mut Context<'_>,
        name: &str,
        _value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "reset_counts" => {
                self.count = 0;
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }

    fn cleanup(&mut self, ctx: &mut Context<'_>) {
        // An empty capture still gets its file header, so readers accept it.
        self.ensure_header(ctx);
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = w.flush() {
                let m = format!("flush failed: {}", describe_io(&e));
                self.report(ctx, &m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::pcap::DumpReader;
    use super::super::testutil::*;
    use std::string::String;
    use std::vec::Vec;
    use std::{format, vec};

    /// (timestamp, wire length, stored bytes) of each record.
    type Records = Vec<(u64, u32, Vec<u8>)>;

    fn records(path: &std::path::Path) -> (Option<u32>, Records) {
        let mut r = DumpReader::open(path.to_str().unwrap()).unwrap();
        let lt = r.linktype();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            let mut d = vec![0u8; rec.caplen as usize];
            r.read_data(&mut d).unwrap();
            out.push((rec.timestamp_ns, rec.len, d));
        }
        (lt, out)
    }

    fn input(dir: &tempfile::TempDir, lt: u32, recs: &[(u32, u32, &[u8])]) -> String {
        let p = dir.path().join("in.pcap");
        std::fs::write(&p, pcap_file(false, false, lt, recs)).unwrap();
        arg(&p)
    }

    #[test]
    fn hotconfig_goes_on_writing_the_same_file() {
        let dir = tempdir();
        let out = dir.path().join("out.pcap");
        let other = dir.path().join("other.pcap");
        let g = |file: &std::path::Path| {
            graph(
                &[
                    ("td", "ToDump", &format!("{}, ENCAP ETHER", arg(file))),
                    ("i", "Idle", ""),
                ],
                &[(1, 0, 0, 0)],
            )
        };
        let (mut r, b) = router(&g(&out), 0).unwrap();
        let frame = udp_frame([10, 0, 0, 2], b"x");
        r.push_to("td", 0, b.batch(&[&frame, &frame])).unwrap();
        crate::testutil::hotswap(&mut r, &g(&out)).unwrap();
        r.push_to("td", 0, b.batch(&[&frame])).unwrap();
        assert_eq!(r.read_handler("td.count").unwrap(), "3");
        r.cleanup();
        assert_eq!(
            records(&out).1.len(),
            3,
            "one file, one header, every packet"
        );

        // Another file: a fresh one, the old one complete.
        let (mut r, b) = router(&g(&out), 0).unwrap();
        r.push_to("td", 0, b.batch(&[&frame])).unwrap();
        crate::testutil::hotswap(&mut r, &g(&other)).unwrap();
        r.push_to("td", 0, b.batch(&[&frame, &frame])).unwrap();
        r.cleanup();
        assert_eq!(records(&out).1.len(), 1);
        assert_eq!(records(&other).1.len(), 2);
    }

    #[test]
    fn round_trip_is_byte_exact() {
        let dir = tempdir();
        let a = udp_frame([10, 0, 0, 2], b"payload");
        let arp = arp_frame();
        let recs: Vec<(u32, u32, &[u8])> = vec![
            (1_700_000_000, 1, &a),
            (1_700_000_001, 999_999, &a[..30]),
            (1_700_000_002, 0, &arp),
        ];
        let src = dir.path().join("in.pcap");
        let bytes = pcap_file(false, false, 1, &recs);
        std::fs::write(&src, &bytes).unwrap();
        let out = dir.path().join("out.pcap");
        let g = graph(
            &[
                ("fd", "FromDump", &format!("{}, STOP true", arg(&src))),
                ("td", "ToDump", &format!("{}, NANO false", arg(&out))),
            ],
            &[(0, 0, 1, 0)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run(|_| true);
        assert_eq!(std::fs::read(&out).unwrap(), bytes);
        assert_eq!(r.read_handler("td.count").unwrap(), "3");
        assert_eq!(
            r.read_handler("td.filename").unwrap(),
            out.display().to_string()
        );
    }

    #[test]
    fn snaplen_nano_and_passing_on() {
        let dir = tempdir();
        let a = udp_frame([10, 0, 0, 2], &[7u8; 100]);
        let src = input(&dir, 1, &[(5, 123_456, &a)]);
        let out = dir.path().join("out.pcap");
        let g = graph(
            &[
                ("fd", "FromDump", &src),
                ("td", "ToDump", &format!("{}, 64, NANO true", arg(&out))),
                ("s", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run(|_| true);
        assert_eq!(take_collected()[0].data, a, "the whole packet passes on");
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(
            bytes[0..4],
            0xa1b2_3c4du32.to_ne_bytes(),
            "nanosecond magic"
        );
        assert_eq!(bytes[16..20], 64u32.to_ne_bytes(), "snaplen in the header");
        let (_, recs) = records(&out);
        assert_eq!(recs[0].0, 5_000_000_000 + 123_456_000);
        assert_eq!((recs[0].1 as usize, recs[0].2.len()), (a.len(), 64));
        assert_eq!(recs[0].2, a[..64]);
    }

    #[test]
    fn encapsulation_from_argument_and_from_source() {
        let dir = tempdir();
        let frame = udp_frame([10, 0, 0, 2], b"x");
        let src = input(&dir, 101, &[(1, 0, &frame[14..])]);
        let out = dir.path().join("o.pcap");
        let g = graph(
            &[
                ("fd", "FromDump", &src),
                ("td", "ToDump", &format!("{}, USE_ENCAP_FROM fd", arg(&out))),
            ],
            &[(0, 0, 1, 0)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run(|_| true);
        assert_eq!(records(&out).0, Some(101));
        let g = graph(
            &[
                ("fd", "FromDump", &src),
                ("td", "ToDump", &format!("{}, ENCAP IP", arg(&out))),
            ],
            &[(0, 0, 1, 0)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run(|_| true);
        assert_eq!(records(&out).0, Some(101));
        let g = graph(
            &[
                ("fd", "FromDump", &src),
                ("td", "ToDump", &format!("{}, ENCAP PIGEON", arg(&out))),
            ],
            &[(0, 0, 1, 0)],
        );
        assert!(router(&g, 0)
            .err()
            .unwrap()
            .contains("bad encapsulation type 'PIGEON'"));
        let g = graph(
            &[
                ("fd", "FromDump", &src),
                (
                    "td",
                    "ToDump",
                    &format!("{}, ENCAP IP, USE_ENCAP_FROM fd", arg(&out)),
                ),
            ],
            &[(0, 0, 1, 0)],
        );
        assert!(router(&g, 0).err().unwrap().contains("at most one"));
    }

    #[test]
    fn empty_run_still_writes_a_header_and_unwritable_paths_fail() {
        let dir = tempdir();
        let src = input(&dir, 1, &[]);
        let out = dir.path().join("empty.pcap");
        let g = graph(
            &[("fd", "FromDump", &src), ("td", "ToDump", &arg(&out))],
            &[(0, 0, 1, 0)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run(|_| true);
        assert_eq!(std::fs::read(&out).unwrap().len(), 24);
        let bad = dir.path().join("no/such/dir/x.pcap");
        let g = graph(
            &[("fd", "FromDump", &src), ("td", "ToDump", &arg(&bad))],
            &[(0, 0, 1, 0)],
        );
        assert!(router(&g, 0)
            .err()
            .unwrap()
            .contains("No such file or directory"));
    }

    #[test]
    fn zero_timestamp_uses_the_clock() {
        let dir = tempdir();
        // pcapng Simple Packet Blocks carry no timestamp.
        let mut f = Vec::new();
        let block = |ty: u32, body: &[u8]| {
            let len = 12 + body.len().div_ceil(4) * 4;
            let mut b = Vec::new();
            b.extend(ty.to_le_bytes());
            b.extend((len as u32).to_le_bytes());
            b.extend_from_slice(body);
            b.resize(len - 4, 0);
            b.extend((len as u32).to_le_bytes());
            b
        };
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend([1, 0, 0, 0]);
        shb.extend((-1i64).to_le_bytes());
        f.extend(block(0x0a0d_0d0a, &shb));
        f.extend(block(1, &[1, 0, 0, 0, 0, 0, 0, 0]));
        let frame = arp_frame();
        let mut spb = (frame.len() as u32).to_le_bytes().to_vec();
        spb.extend(&frame);
        f.extend(block(3, &spb));
        let src = dir.path().join("s.pcapng");
        std::fs::write(&src, f).unwrap();
        let out = dir.path().join("o.pcap");
        let g = graph(
            &[("fd", "FromDump", &arg(&src)), ("td", "ToDump", &arg(&out))],
            &[(0, 0, 1, 0)],
        );
        let (mut r, _) = router(&g, 42_000_000_000).unwrap();
        r.run(|_| true);
        let (_, recs) = records(&out);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].0, 42_000_000_000);
        assert_eq!(recs[0].2, frame);
    }

    #[test]
    fn works_in_a_pull_path() {
        let dir = tempdir();
        let a = arp_frame();
        let recs: Vec<(u32, u32, &[u8])> = (0..5).map(|i| (i, 0, &a[..])).collect();
        let src = input(&dir, 1, &recs);
        let out = dir.path().join("o.pcap");
        // PullCollect pulls through ToDump, which pulls from FromDump.
        let g = graph(
            &[
                ("fd", "FromDump", &format!("{src}, STOP true")),
                ("td", "ToDump", &arg(&out)),
                ("s", "PullCollect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run(|_| true);
        assert_eq!(take_collected().len(), 5);
        assert_eq!(records(&out).1.len(), 5);
    }
}
