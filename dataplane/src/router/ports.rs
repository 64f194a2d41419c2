//! Push and pull: resolving agnostic ports.

use alloc::vec::Vec;

use sluice_config::{FlatGraph, Processing, ProcessingCode};

/// Resolves agnostic ports to push or pull, as Click does: a port takes the processing of
/// the port it connects to, and an element's agnostic ports all share one processing.
pub(super) fn resolve_processing(
    graph: &FlatGraph,
    codes: &[ProcessingCode],
) -> (Vec<Vec<Processing>>, Vec<Vec<Processing>>) {
    let n = graph.elements.len();
    let mut ins: Vec<Vec<Processing>> = (0..n)
        .map(|i| (0..graph.ninputs(i)).map(|p| codes[i].input(p)).collect())
        .collect();
    let mut outs: Vec<Vec<Processing>> = (0..n)
        .map(|i| (0..graph.noutputs(i)).map(|p| codes[i].output(p)).collect())
        .collect();
    loop {
        let mut changed = false;
        for c in &graph.connections {
            let (o, i) = (outs[c.from][c.from_port], ins[c.to][c.to_port]);
            match (o, i) {
                (Processing::Agnostic, Processing::Push | Processing::Pull) => {
                    outs[c.from][c.from_port] = i;
                    changed = true;
                }
                (Processing::Push | Processing::Pull, Processing::Agnostic) => {
                    ins[c.to][c.to_port] = o;
                    changed = true;
                }
                _ => {}
            }
        }
        // An element's agnostic ports move together.
        for e in 0..n {
            let decided = ins[e]
                .iter()
                .zip(0..)
                .filter(|(_, p)| codes[e].input(*p) == Processing::Agnostic)
                .map(|(x, _)| *x)
                .chain(
                    outs[e]
                        .iter()
                        .zip(0..)
                        .filter(|(_, p)| codes[e].output(*p) == Processing::Agnostic)
                        .map(|(x, _)| *x),
                )
                .find(|x| *x != Processing::Agnostic);
            if let Some(d) = decided {
                for (p, x) in ins[e].iter_mut().enumerate() {
                    if *x == Processing::Agnostic && codes[e].input(p) == Processing::Agnostic {
                        *x = d;
                        changed = true;
                    }
                }
                for (p, x) in outs[e].iter_mut().enumerate() {
                    if *x == Processing::Agnostic && codes[e].output(p) == Processing::Agnostic {
                        *x = d;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Whatever is still undecided is push.
    for v in ins.iter_mut().chain(outs.iter_mut()) {
        for x in v.iter_mut() {
            if *x == Processing::Agnostic {
                *x = Processing::Push;
            }
        }
    }
    (ins, outs)
}
