//! `RadixIPLookup(ADDR1/MASK1 [GW1] OUT1, ADDR2/MASK2 [GW2] OUT2, ...)` — an IP routing table for large route sets.
//!
//! **Ports:** `1/-`: one input, any number of outputs.
//!
//! **Processing:** `h`: push.
//!
//! Same arguments, behaviour and handlers as `LinearIPLookup`: longest-prefix match on the
//! destination IP annotation, the annotation replaced by the route's gateway when it has one,
//! the packet emitted on the route's output, unrouted packets dropped and counted (`drops`).
//! Routes can be added and removed at run time (`add`, `set`, `remove`, `ctrl`), and
//! `flush` removes them all.
//!
//! A lookup costs at most four memory reads, whatever the table size: the table is a
//! multibit trie with 8-bit strides (one level per address byte), each slot holding the best
//! route that ends inside its node (prefixes expanded to the slot granularity), so a lookup
//! walks down by address bytes and keeps the last route it saw.
//!
//! **Handlers:** `table` (read), `lookup ADDR` (read), `drops` (read), `add`, `set`, `remove`, `ctrl` (write), as
//! `LinearIPLookup`'s; `flush` (write: any value) empties the table.
//!
//! **Example:**
//!
//! ```text
//! rt :: RadixIPLookup(10.0.0.1/32 0, 10.0.0.0/8 1, 0/0 10.0.0.254 1);
//! ```
//!
//! **Differences from Click:** netmasks must be contiguous; `drops` is an addition.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::addr::mask_of;
use super::iproute::{configure, IpRoute, Mutability, RouteError, RouteTable};

/// No route / no child.
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    /// Index in `routes` of the longest prefix stored in this node that covers the slot.
    route: u32,
    /// Index in `nodes` of the node for the next address byte.
    child: u32,
}

const EMPTY_SLOT: Slot = Slot {
    route: NONE,
    child: NONE,
};

#[derive(Clone, Debug)]
struct Node {
    slots: Box<[Slot; 256]>,
    /// Address bits above this node (host order, lower bits zero).
    base: u32,
    /// 0 for the root (first address byte), up to 3.
    depth: u8,
    /// Prefixes stored here plus children: the node is freed when this drops to zero.
    users: u32,
    /// Parent node and the slot that points here (the root has none).
    parent: Option<(u32, u8)>,
}

impl Node {
    fn new(base: u32, depth: u8, parent: Option<(u32, u8)>) -> Self {
        Self {
            slots: Box::new([EMPTY_SLOT; 256]),
            base,
            depth,
            users: 0,
            parent,
        }
    }
}

/// The trie and the route store behind it.
#[derive(Clone, Debug)]
pub struct RadixTable {
    nodes: Vec<Node>,
    free_nodes: Vec<u32>,
    /// Route store; holes are reused (most recently freed first), so `table` lists routes
    /// in the order Click lists them.
    routes: Vec<Option<IpRoute>>,
    free_routes: Vec<u32>,
    /// Exact-prefix index: (length, network) to route index. Control plane only.
    by_prefix: BTreeMap<(u8, u32), u32>,
    /// The 0/0 route.
    default: u32,
}

impl Default for RadixTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The address byte a node at `depth` indexes by.
#[inline]
fn byte_at(addr: u32, depth: u8) -> usize {
    ((addr >> (24 - 8 * u32::from(depth))) & 0xff) as usize
}

impl RadixTable {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            nodes: vec![Node::new(0, 0, None)],
            free_nodes: Vec::new(),
            routes: Vec::new(),
            free_routes: Vec::new(),
            by_prefix: BTreeMap::new(),
            default: NONE,
        }
    }

    /// Index of the route for `addr`, if any.
    #[inline]
    fn find(&self, addr: u32) -> u32 {
        let mut best = self.default;
        let mut node = 0usize;
        for depth in 0..4u8 {
            let slot = self.nodes[node].slots[byte_at(addr, depth)];
            if slot.route != NONE {
                best = slot.route;
            }
            if slot.child == NONE {
                break;
            }
            node = slot.child as usize;
        }
        best
    }

    /// Recomputes `slots[range]` of `node` from the prefixes stored at its level.
    fn refresh(&mut self, node: usize, first: usize, count: usize) {
        let (base, depth) = (self.nodes[node].base, self.nodes[node].depth);
        let shift = 24 - 8 * u32::from(depth);
        for s in first..first + count {
            let a = base | ((s as u32) << shift);
            let mut best = NONE;
            for rel in (1..=8u8).rev() {
                let len = 8 * depth + rel;
                if let Some(&i) = self.by_prefix.get(&(len, a & mask_of(len))) {
                    best = i;
                    break;
                }
            }
            self.nodes[node].slots[s].route = best;
        }
    }

    /// The node at `depth` along `addr`'s path, created if `create`.
    fn walk(&mut self, addr: u32, depth: u8, create: bool) -> Option<usize> {
        let mut node = 0usize;
        for d in 0..depth {
            let b = byte_at(addr, d);
            let child = self.nodes[node].slots[b].child;
            node = if child != NONE {
                child as usize
            } else if create {
                let base = addr & mask_of(8 * (d + 1));
                let n = Node::new(base, d + 1, Some((node as u32, b as u8)));
                let idx = match self.free_nodes.pop() {
                    Some(i) => {
                        self.nodes[i as usize] = n;
                        i
                    }
                    None => {
                        self.nodes.push(n);
                        (self.nodes.len() - 1) as u32
                    }
                };
                self.nodes[node].slots[b].child = idx;
                self.nodes[node].users += 1;
                idx as usize
            } else {
                return None;
            };
        }
        Some(node)
    }

    /// Frees `node` and its empty ancestors.
    fn prune(&mut self, mut node: usize) {
        while node != 0 && self.nodes[node].users == 0 {
            let Some((parent, slot)) = self.nodes[node].parent else {
                break;
            };
            self.nodes[parent as usize].slots[usize::from(slot)].child = NONE;
            self.nodes[parent as usize].users -= 1;
            self.free_nodes.push(node as u32);
            node = parent as usize;
        }
    }

    /// Where a prefix of length `len >= 1` lives: its node depth and slot range.
    fn placement(addr: u32, len: u8) -> (u8, usize, usize) {
        let depth = (len - 1) / 8;
        let rel = len - 8 * depth;
        let count = 1usize << (8 - rel);
        let first = byte_at(addr, depth) & !(count - 1);
        (depth, first, count)
    }

    fn store(&mut self, r: IpRoute) -> u32 {
        match self.free_routes.pop() {
            Some(i) => {
                self.routes[i as usize] = Some(r);
                i
            }
            None => {
                self.routes.push(Some(r));
                (self.routes.len() - 1) as u32
            }
        }
    }

    /// Number of trie nodes in use (memory accounting, tests).
    pub fn node_count(&self) -> usize {
        self.nodes.len() - self.free_nodes.len()
    }
}

impl RouteTable for RadixTable {
    fn add_route(&mut self, r: IpRoute, replace: bool) -> Result<Option<IpRoute>, RouteError> {
        let r = IpRoute {
            addr: r.addr & mask_of(r.len),
            ..r
        };
        let key = (r.len, r.addr);
        if let Some(&i) = self.by_prefix.get(&key) {
            let slot = &mut self.routes[i as usize];
            let old = slot.expect("indexed route exists");
            if !replace {
                return Err(RouteError::Exists(old));
            }
            // Click frees the old slot and stores the new route in a fresh one; keeping the
            // index is equivalent for lookups and keeps the trie untouched.
            *slot = Some(r);
            return Ok(Some(old));
        }
        let i = self.store(r);
        self.by_prefix.insert(key, i);
        if r.len == 0 {
            self.default = i;
            return Ok(None);
        }
        let (depth, first, count) = Self::placement(r.addr, r.len);
        let node = self.walk(r.addr, depth, true).expect("created");
        self.nodes[node].users += 1;
        self.refresh(node, first, count);
        Ok(None)
    }

    fn remove_route(&mut self, r: &IpRoute) -> Result<IpRoute, RouteError> {
        let addr = r.addr & mask_of(r.len);
        let key = (r.len, addr);
        let &i = self.by_prefix.get(&key).ok_or(RouteError::NotFound)?;
        let old = self.routes[i as usize].expect("indexed route exists");
        if !old.matches_removal(r) {
            return Err(RouteError::NotFound);
        }
        self.by_prefix.remove(&key);
        self.routes[i as usize] = None;
        self.free_routes.push(i);
        if r.len == 0 {
            self.default = NONE;
            return Ok(old);
        }
        let (depth, first, count) = Self::placement(addr, r.len);
        if let Some(node) = self.walk(addr, depth, false) {
            self.nodes[node].users -= 1;
            self.refresh(node, first, count);
            self.prune(node);
        }
        Ok(old)
    }

    #[inline]
    fn lookup(&self, addr: u32) -> Option<(usize, u32)> {
        let i = self.find(addr);
        if i == NONE {
            return None;
        }
        let r = self.routes.get(i as usize)?.as_ref()?;
        Some((r.port?, r.gw))
    }

    fn routes(&self) -> Vec<IpRoute> {
        self.routes.iter().flatten().copied().collect()
    }
}

fn make(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(args, cctx, RadixTable::new(), Mutability::Flushable)
}

/// `RadixIPLookup`: see the module docs.
pub static RadixIPLookup: ElementClass = ElementClass {
    name: "RadixIPLookup",
    ports: "1/-",
    processing: "h",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::lineariplookup::LinearTable;
    use super::*;
    use proptest::prelude::*;

    fn route(addr: u32, len: u8, port: usize) -> IpRoute {
        IpRoute {
            addr: addr & mask_of(len),
            len,
            gw: 0,
            port: Some(port),
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = RadixTable::new();
        t.add_route(route(0, 0, 9), false).unwrap();
        t.add_route(route(0x0a00_0000, 8, 1), false).unwrap();
        t.add_route(route(0x0a01_0000, 16, 2), false).unwrap();
        t.add_route(route(0x0a01_0200, 23, 3), false).unwrap();
        t.add_route(route(0x0a01_0203, 32, 4), false).unwrap();
        assert_eq!(t.lookup(0x0a01_0203), Some((4, 0)));
        assert_eq!(t.lookup(0x0a01_0204), Some((3, 0)));
        assert_eq!(t.lookup(0x0a01_0304), Some((3, 0)));
        assert_eq!(t.lookup(0x0a01_0404), Some((2, 0)));
        assert_eq!(t.lookup(0x0a02_0000), Some((1, 0)));
        assert_eq!(t.lookup(0x0b00_0000), Some((9, 0)));
        t.remove_route(&route(0x0a01_0200, 23, 3)).unwrap();
        assert_eq!(t.lookup(0x0a01_0204), Some((2, 0)));
        t.remove_route(&IpRoute {
            port: None,
            ..route(0, 0, 0)
        })
        .unwrap();
        assert_eq!(t.lookup(0x0b00_0000), None);
        assert_eq!(
            t.remove_route(&route(0x0c00_0000, 8, 0)),
            Err(RouteError::NotFound)
        );
    }

    #[test]
    fn add_conflicts_and_set_replaces() {
        let mut t = RadixTable::new();
        t.add_route(route(0x0a00_0000, 8, 1), false).unwrap();
        assert!(matches!(
            t.add_route(route(0x0a00_0000, 8, 2), false),
            Err(RouteError::Exists(_))
        ));
        assert_eq!(t.lookup(0x0a00_0001), Some((1, 0)));
        t.add_route(route(0x0a00_0000, 8, 2), true).unwrap();
        assert_eq!(t.lookup(0x0a00_0001), Some((2, 0)));
        // Removal by a route with another port does not match.
        assert_eq!(
            t.remove_route(&route(0x0a00_0000, 8, 1)),
            Err(RouteError::NotFound)
        );
    }

    #[test]
    fn removing_everything_frees_the_nodes() {
        let mut t = RadixTable::new();
        let rs = [
            route(0x0a01_0203, 32, 1),
            route(0x0a01_0200, 24, 2),
            route(0xc0a8_0000, 17, 3),
        ];
        for r in rs {
            t.add_route(r, false).unwrap();
        }
        assert!(t.node_count() > 1);
        for r in rs {
            t.remove_route(&r).unwrap();
        }
        assert_eq!(t.node_count(), 1);
        assert_eq!(t.lookup(0x0a01_0203), None);
        assert!(t.routes().is_empty());
    }

    fn arb_route() -> impl Strategy<Value = (u32, u8, usize)> {
        // Bias toward few top bytes so prefixes nest and overlap.
        (0u32..16, any::<u32>(), 0u8..=32, 0usize..8)
            .prop_map(|(top, rest, len, port)| ((top << 28) | (rest >> 4), len, port))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The trie answers exactly as a linear longest-prefix scan, through additions,
        /// replacements and removals.
        #[test]
        fn radix_matches_linear_reference(
            adds in proptest::collection::vec(arb_route(), 0..60),
            removes in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
            probes in proptest::collection::vec(any::<u32>(), 0..200),
        ) {
            let mut radix = RadixTable::new();
            let mut linear = LinearTable::new();
            let mut added = Vec::new();
            for (addr, len, port) in adds {
                let r = route(addr, len, port);
                let replace = port % 3 == 0;
                let a = radix.add_route(r, replace);
                let b = linear.add_route(r, replace);
                prop_assert_eq!(a.is_ok(), b.is_ok());
                added.push(r);
            }
            for ix in removes {
                if added.is_empty() { break; }
                let r = added[ix.index(added.len())];
                let r = IpRoute { port: None, ..r };
                prop_assert_eq!(radix.remove_route(&r).is_ok(), linear.remove_route(&r).is_ok());
            }
            let mut probes = probes;
            // Probe every route's edges too.
            for r in &added {
                probes.push(r.addr);
                probes.push(r.addr | !r.mask());
                probes.push(r.addr.wrapping_sub(1));
            }
            for a in probes {
                prop_assert_eq!(radix.lookup(a), linear.lookup(a), "address {:#010x}", a);
            }
        }
    }
}
