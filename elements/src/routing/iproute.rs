//! What every IP route lookup element shares (Click's `IPRouteTable`): the route type, the
//! `ADDR/MASK [GW] OUT` syntax, the table text, the handlers, and the push path.
//!
//! A table element looks up each packet's destination IP annotation, replaces the annotation
//! with the route's gateway when the route has one, and emits the packet on the route's
//! output. Packets without a route are dropped and counted (`drops`).
//!
//! Handlers of every table element: `table` (read: one route per line, Click's format
//! `ADDR/LEN<tab>GW-or-dash<tab>OUT`), `lookup ADDR` (read with a parameter: the output
//! port for `ADDR`, then its gateway if the route has one; `-1` without a route), `drops`
//! (read). Tables that change at run time add
//! `add` (fails if the prefix has a route), `set` (adds or replaces), `remove`
//! (`ADDR/MASK [GW [OUT]]`) and `ctrl` (lines of `add ...`/`set ...`/`remove ...`, applied
//! all or nothing). Addresses in written and looked-up values may be AddressInfo names.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use sluice_config::args::{Args, NameLookup};
use sluice_dataplane::{Batch, ConfigContext, Context, Effects, Element, Handler, HandlerError};

use super::addr::{mask_of, parse_ip, parse_prefix, unparse_prefix};

/// One route: packets whose destination lies in `addr/len` go to output `port`, with their
/// destination annotation set to `gw` unless `gw` is 0.0.0.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRoute {
    /// Network address, host bits cleared (host order).
    pub addr: u32,
    /// Prefix length, `0..=32`.
    pub len: u8,
    /// Gateway (host order), 0 for none.
    pub gw: u32,
    /// Output port; `None` only in a `remove` request that names no port.
    pub port: Option<usize>,
}

impl IpRoute {
    /// The netmask.
    #[inline]
    pub fn mask(&self) -> u32 {
        mask_of(self.len)
    }

    /// Whether `a` lies in the route's prefix.
    #[inline]
    pub fn contains(&self, a: u32) -> bool {
        a & self.mask() == self.addr
    }

    /// Whether `r` names this route for removal: same prefix, and the same gateway and port
    /// when `r` gives a port.
    pub fn matches_removal(&self, r: &IpRoute) -> bool {
        self.addr == r.addr
            && self.len == r.len
            && (r.port.is_none() || (self.gw == r.gw && self.port == r.port))
    }

    /// One line of the `table` handler, aligned with tabs as Click aligns it.
    pub fn unparse_tabs(&self) -> String {
        let mut s = unparse_prefix(self.addr, self.len);
        s.push('\t');
        if s.len() < 17 {
            s.push('\t');
        }
        let gw = if self.gw != 0 {
            Ipv4Addr::from(self.gw).to_string()
        } else {
            "-".into()
        };
        let mut g = gw;
        g.push('\t');
        if g.len() < 9 {
            g.push('\t');
        }
        s.push_str(&g);
        match self.port {
            Some(p) => s.push_str(&p.to_string()),
            None => s.push_str("-1"),
        }
        s
    }

    /// The route on one line, separated by spaces (messages).
    pub fn unparse(&self) -> String {
        let gw = if self.gw != 0 {
            Ipv4Addr::from(self.gw).to_string()
        } else {
            "-".into()
        };
        let port = self
            .port
            .map_or_else(|| "-1".to_string(), |p| p.to_string());
        format!("{} {} {}", unparse_prefix(self.addr, self.len), gw, port)
    }
}

/// Parses `ADDR/MASK [GW] OUT` (or, for a removal, `ADDR/MASK [GW [OUT]]`). `GW` may be `-`
/// for no gateway.
pub fn parse_route(
    text: &str,
    removal: bool,
    names: Option<&dyn NameLookup>,
) -> Result<IpRoute, String> {
    let expected = if removal {
        "'ADDR/MASK [GW OUT]'"
    } else {
        "'ADDR/MASK [GW] OUT'"
    };
    let bad = || format!("expected {expected}, not '{text}'");
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(first) = words.first() else {
        return Err(bad());
    };
    let prefix = parse_prefix(first, names, true).map_err(|_| bad())?;
    let len = prefix.len;
    let addr = u32::from(prefix.addr) & mask_of(len);
    let parse_port = |w: &str| w.parse::<usize>().map_err(|_| bad());
    let (gw, port) = match words.len() {
        1 if removal => (0, None),
        2 => match parse_port(words[1]) {
            Ok(p) => (0, Some(p)),
            // `ADDR/MASK GW` names a route to remove by prefix and gateway alone.
            Err(_) if removal => (parse_gw(words[1], names).map_err(|_| bad())?, None),
            Err(e) => return Err(e),
        },
        3 => (
            parse_gw(words[1], names).map_err(|_| bad())?,
            Some(parse_port(words[2])?),
        ),
        _ => return Err(bad()),
    };
    Ok(IpRoute {
        addr,
        len,
        gw,
        port,
    })
}

fn parse_gw(w: &str, names: Option<&dyn NameLookup>) -> Result<u32, String> {
    if w == "-" {
        Ok(0)
    } else {
        parse_ip(w, names).map(u32::from)
    }
}

/// Why a table change failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// `add` of a prefix that already has this route.
    Exists(IpRoute),
    /// `remove` of a route that is not there.
    NotFound,
    /// The table does not change at run time.
    Static,
}

/// A longest-prefix-match table, as the shared element code drives it.
pub trait RouteTable {
    /// Adds `r`; with `replace`, an existing route for the prefix is overwritten and
    /// returned, otherwise the add fails with [`RouteError::Exists`].
    fn add_route(&mut self, r: IpRoute, replace: bool) -> Result<Option<IpRoute>, RouteError>;
    /// Removes the route [`IpRoute::matches_removal`] selects, returning it.
    fn remove_route(&mut self, r: &IpRoute) -> Result<IpRoute, RouteError>;
    /// The route for `addr`: its output port and gateway (0 for none).
    fn lookup(&self, addr: u32) -> Option<(usize, u32)>;
    /// Every route, in table order.
    fn routes(&self) -> Vec<IpRoute>;
    /// Removes every route.
    fn flush(&mut self) {
        for r in self.routes() {
            let _ = self.remove_route(&r);
        }
    }
}

/// How a table element behaves beyond its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    /// `add`/`set`/`remove`/`ctrl` handlers work.
    Dynamic,
    /// As `Dynamic`, plus a `flush` handler that empties the table (Click's trie, direct
    /// and range tables have one; its linear table does not).
    Flushable,
    /// Routes are fixed at configuration (`StaticIPLookup`).
    Static,
}

/// The element around a [`RouteTable`].
pub struct RouteElement<T: RouteTable> {
    table: T,
    noutputs: usize,
    mutability: Mutability,
    drops: u64,
}

const DYNAMIC_HANDLERS: &[Handler] = &[
    Handler::read("table"),
    Handler::read("lookup"),
    Handler::read("drops"),
    Handler::write("add"),
    Handler::write("set"),
    Handler::write("remove"),
    Handler::write("ctrl"),
];
const FLUSHABLE_HANDLERS: &[Handler] = &[
    Handler::read("table"),
    Handler::read("lookup"),
    Handler::read("drops"),
    Handler::write("add"),
    Handler::write("set"),
    Handler::write("remove"),
    Handler::write("ctrl"),
    Handler::write("flush"),
];
const STATIC_HANDLERS: &[Handler] = &[
    Handler::read("table"),
    Handler::read("lookup"),
    Handler::read("drops"),
];

/// Reads every argument as a route and builds the element. The first route for a prefix
/// wins, as in Click (later duplicates are ignored).
pub fn configure<T: RouteTable + 'static>(
    args: &mut Args<'_>,
    cctx: &ConfigContext<'_>,
    mut table: T,
    mutability: Mutability,
) -> Option<Box<dyn Element>> {
    let mut ok = true;
    for (i, a) in args.rest().into_iter().enumerate() {
        match parse_route(a.text, false, Some(cctx.names)) {
            Ok(r) if r.port.is_some_and(|p| p < cctx.noutputs) => {
                // A duplicate prefix is not an error: Click keeps the first route.
                let _ = table.add_route(r, false);
            }
            Ok(r) => {
                args.error(
                    a.span,
                    format!(
                        "argument {}: output {} out of range (element has {} outputs)",
                        i + 1,
                        r.port.unwrap_or(0),
                        cctx.noutputs
                    ),
                );
                ok = false;
            }
            Err(e) => {
                args.error(a.span, format!("argument {}: {e}", i + 1));
                ok = false;
            }
        }
    }
    ok.then(|| {
        Box::new(RouteElement {
            table,
            noutputs: cctx.noutputs,
            mutability,
            drops: 0,
        }) as Box<dyn Element>
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Command {
    Add,
    Set,
    Remove,
}

impl<T: RouteTable> RouteElement<T> {
    /// The table (tests, benchmarks).
    pub fn table(&self) -> &T {
        &self.table
    }

    fn run(
        &mut self,
        cmd: Command,
        text: &str,
        names: &dyn NameLookup,
    ) -> Result<Option<IpRoute>, String> {
        let r = parse_route(text, cmd == Command::Remove, Some(names))?;
        if let Some(p) = r.port {
            if p >= self.noutputs {
                return Err(format!("bad OUTPUT {p}"));
            }
        }
        let res = match cmd {
            Command::Add => self.table.add_route(r, false),
            Command::Set => self.table.add_route(r, true),
            Command::Remove => self.table.remove_route(&r).map(Some),
        };
        res.map_err(|e| match e {
            RouteError::Exists(old) => format!("conflict with existing route '{}'", old.unparse()),
            RouteError::NotFound => format!("route '{}' not found", r.unparse()),
            RouteError::Static => "cannot change the routes of this table".into(),
        })
    }

    /// Applies `add`/`set`/`remove` lines as one transaction: on the first failure every
    /// earlier change is undone.
    fn ctrl(&mut self, text: &str, names: &dyn NameLookup) -> Result<(), String> {
        // (what to undo, route): Add undoes by removal; Set/Remove restore the old route.
        let mut undo: Vec<(Command, IpRoute, Option<IpRoute>)> = Vec::new();
        let mut failure = None;
        for line in text.lines() {
            let line = line.trim();
            let Some((word, rest)) = line.split_once(char::is_whitespace).or(Some((line, "")))
            else {
                continue;
            };
            if word.is_empty() {
                continue;
            }
            let cmd = match word {
                "add" => Command::Add,
                "set" => Command::Set,
                "remove" => Command::Remove,
                other => {
                    failure = Some(format!("bad command '{other}'"));
                    break;
                }
            };
            match self.run(cmd, rest, names) {
                Ok(old) => {
                    let new = parse_route(rest, cmd == Command::Remove, Some(names)).ok();
                    if let Some(new) = new {
                        undo.push((cmd, new, old));
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let Some(e) = failure else { return Ok(()) };
        while let Some((cmd, new, old)) = undo.pop() {
            match (cmd, old) {
                (Command::Add, _) | (Command::Set, None) => {
                    let _ = self.table.remove_route(&new);
                }
                (Command::Set | Command::Remove, Some(old)) => {
                    let _ = self.table.add_route(old, true);
                }
                (Command::Remove, None) => {}
            }
        }
        Err(e)
    }
}

impl<T: RouteTable + 'static> Element for RouteElement<T> {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: Batch) {
        for mut p in batch {
            let dst = u32::from_be_bytes(p.anno().dst_ip);
            match self.table.lookup(dst) {
                Some((port, gw)) => {
                    if gw != 0 {
                        p.anno_mut().dst_ip = gw.to_be_bytes();
                    }
                    ctx.output(port, p);
                }
                None => {
                    self.drops += 1;
                    if self.drops <= 5 {
                        ctx.log(&format!(
                            "{}: no route for {}",
                            ctx.name(),
                            Ipv4Addr::from(dst)
                        ));
                    }
                }
            }
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "table" => {
                let mut s = String::new();
                for r in self.table.routes() {
                    s.push_str(&r.unparse_tabs());
                    s.push('\n');
                }
                Some(s)
            }
            "drops" => Some(self.drops.to_string()),
            _ => None,
        }
    }

    /// `lookup ADDR`: the output port the table sends `ADDR` to, and the gateway after it
    /// when the route has one (`-1` without a route), as Click answers.
    fn read_handler_with(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        params: &str,
    ) -> Option<Result<String, HandlerError>> {
        if name != "lookup" {
            return None;
        }
        let Ok(addr) = parse_ip(params.trim(), Some(ctx.names())) else {
            return Some(Err(HandlerError::BadValue("expected IP address".into())));
        };
        Some(Ok(match self.table.lookup(u32::from(addr)) {
            Some((port, 0)) => port.to_string(),
            Some((port, gw)) => format!("{port} {}", Ipv4Addr::from(gw)),
            None => "-1".into(),
        }))
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        let cmd = match name {
            "add" => Command::Add,
            "set" => Command::Set,
            "remove" => Command::Remove,
            "ctrl" if self.mutability != Mutability::Static => {
                return self
                    .ctrl(value, ctx.names())
                    .map_err(HandlerError::BadValue);
            }
            "flush" if self.mutability == Mutability::Flushable => {
                self.table.flush();
                return Ok(());
            }
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        };
        if self.mutability == Mutability::Static {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        self.run(cmd, value.trim(), ctx.names())
            .map(|_| ())
            .map_err(HandlerError::BadValue)
    }

    fn handlers(&self) -> &'static [Handler] {
        match self.mutability {
            Mutability::Dynamic => DYNAMIC_HANDLERS,
            Mutability::Flushable => FLUSHABLE_HANDLERS,
            Mutability::Static => STATIC_HANDLERS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_syntax() {
        let r = parse_route("18.26.4/24 1", false, None).unwrap();
        assert_eq!(
            r,
            IpRoute {
                addr: 0x121a_0400,
                len: 24,
                gw: 0,
                port: Some(1)
            }
        );
        let r = parse_route("0/0 18.26.4.1 1", false, None).unwrap();
        assert_eq!((r.len, r.gw, r.port), (0, 0x121a_0401, Some(1)));
        let r = parse_route("10.1.2.3/8 - 2", false, None).unwrap();
        assert_eq!((r.addr, r.gw, r.port), (0x0a00_0000, 0, Some(2)));
        assert!(parse_route("10.0.0.0/8", false, None).is_err());
        assert_eq!(parse_route("10.0.0.0/8", true, None).unwrap().port, None);
        assert!(parse_route("10.0.0.0/8 1 2 3", false, None).is_err());
        assert!(parse_route("", false, None).is_err());
        assert!(parse_route("10.0.0.0/8 x", false, None).is_err());
    }

    #[test]
    fn table_lines_align_like_click() {
        let r = IpRoute {
            addr: 0x121a_0400,
            len: 24,
            gw: 0,
            port: Some(1),
        };
        assert_eq!(r.unparse_tabs(), "18.26.4.0/24\t\t-\t\t1");
        let r = IpRoute {
            addr: 0,
            len: 0,
            gw: 0x121a_0401,
            port: Some(1),
        };
        assert_eq!(r.unparse_tabs(), "0.0.0.0/0\t\t18.26.4.1\t1");
        let r = IpRoute {
            addr: 0xc0a8_6400,
            len: 24,
            gw: 0,
            port: Some(0),
        };
        assert_eq!(r.unparse_tabs(), "192.168.100.0/24\t-\t\t0");
    }
}
