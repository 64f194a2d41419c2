//! The classifiers' *prepared* forms, for images whose programs the host compiled.
//!
//! `sluice build` builds every `Classifier`, `IPClassifier` and `IPFilter` of a
//! configuration on the host, where it checks the patterns, and embeds each compiled
//! program ([`Program::encode`]) in the image. The image registers these classes in place of
//! the ordinary ones: same names, ports and processing, but their constructor only decodes
//! the program it is handed ([`ConfigContext::prepared`]), so neither the pattern languages
//! nor the compiler are in the image, and nothing is compiled at boot. The arguments are
//! kept as written (the `config` handler shows them) and not parsed again.

use alloc::boxed::Box;
use alloc::format;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::program::Program;
use super::Classify;

/// The classes, named as Click names them.
#[allow(non_upper_case_globals)]
pub mod classes {
    use super::*;

    /// `Classifier`, from its compiled program.
    pub static Classifier: ElementClass = prepared(&super::super::classes::Classifier);
    /// `IPClassifier`, from its compiled program.
    pub static IPClassifier: ElementClass = prepared(&super::super::classes::IPClassifier);
    /// `IPFilter`, from its compiled program.
    pub static IPFilter: ElementClass = prepared(&super::super::classes::IPFilter);
}

/// The prepared form of `class`, when it has one: the path of its `static`, for the image
/// build script to name in the image's registry.
pub fn class_path(class: &str) -> Option<&'static str> {
    Some(match class {
        "Classifier" => "sluice_elements::classify::prepared::classes::Classifier",
        "IPClassifier" => "sluice_elements::classify::prepared::classes::IPClassifier",
        "IPFilter" => "sluice_elements::classify::prepared::classes::IPFilter",
        _ => return None,
    })
}

const fn prepared(class: &ElementClass) -> ElementClass {
    ElementClass {
        name: class.name,
        ports: class.ports,
        processing: class.processing,
        make,
        names: None,
    }
}

fn make(args: &mut Args<'_>, cx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    // Checked on the host when the program was compiled.
    let _ = args.rest();
    let Some(bytes) = cx.prepared else {
        args.error_whole(
            "this image has no compiled program for the element (images get one from \
             `sluice build`)",
        );
        return None;
    };
    match Program::decode(bytes) {
        Ok(program) => Some(Box::new(Classify::of_program(program))),
        Err(m) => {
            args.error_whole(format!("the image's compiled program is damaged: {m}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    use sluice_dataplane::{Environment, ManualClock, PacketPool, Router};

    use super::classes;
    use crate::testutil::{collected, graph, ipv4, udp, COLLECT};

    const RULES: &str = "deny src net 10.0.0.0/8, allow udp, 1 tcp";

    fn filter() -> sluice_config::FlatGraph {
        graph(
            &[
                ("src", "Idle", ""),
                ("c", "IPFilter", RULES),
                ("out", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0), (1, 1, 2, 1)],
        )
    }

    fn router(
        classes: &[&'static sluice_dataplane::ElementClass],
        prepared: &[Option<&[u8]>],
    ) -> Result<Router, String> {
        let mut classes = classes.to_vec();
        classes.push(&COLLECT);
        let env = Environment {
            pool: PacketPool::new(16),
            clock: Box::new(ManualClock::new(0)),
            devices: Vec::new(),
            device_opener: None,
            console: Box::new(sluice_dataplane::console::MemoryConsole::default()),
        };
        Router::new_prepared(&filter(), &classes, env, prepared).map_err(|d| d.render(&[]))
    }

    /// The image's registry: the prepared IPFilter, and no class that compiles it.
    fn image_classes() -> Vec<&'static sluice_dataplane::ElementClass> {
        let mut image = alloc::vec![&classes::IPFilter];
        image.extend(
            crate::all_classes()
                .into_iter()
                .filter(|k| k.name != "IPFilter"),
        );
        image
    }

    /// Where each frame leaves (`None`: dropped).
    fn fates(r: &mut Router) -> Vec<Option<usize>> {
        let frames = [
            udp([10, 1, 2, 3], 1, [192, 0, 2, 1], 53, b"x"),
            udp([192, 0, 2, 9], 1, [192, 0, 2, 1], 53, b"x"),
            ipv4([192, 0, 2, 9], [192, 0, 2, 1], 6, &[0; 20]),
            ipv4([192, 0, 2, 9], [192, 0, 2, 1], 1, &[0; 8]),
        ];
        frames
            .iter()
            .map(|f| {
                let p = r.pool().alloc_from(f).expect("pool");
                r.push_to("c", 0, [p].into_iter().collect()).expect("push");
                collected("out").first().map(|o| o.port)
            })
            .collect()
    }

    #[test]
    fn a_prepared_filter_classifies_as_the_compiled_one() {
        let g = filter();
        let all = crate::all_classes();
        let mut with_sink = all.clone();
        with_sink.push(&COLLECT);
        let prepared = sluice_dataplane::router::prepare(&g, &with_sink).expect("prepares");
        // Only the classifier has something to carry.
        let names: Vec<&str> = g.elements.iter().map(|e| e.name.as_str()).collect();
        for (name, p) in names.iter().zip(&prepared) {
            assert_eq!(p.is_some(), *name == "c", "{name}");
        }
        let table: Vec<Option<&[u8]>> = prepared.iter().map(|p| p.as_deref()).collect();

        let mut host = router(&all, &[]).expect("host router");
        let mut image = router(&image_classes(), &table).expect("image router");
        assert_eq!(
            host.read_handler("c.program").expect("program"),
            image.read_handler("c.program").expect("program")
        );
        assert_eq!(image.read_handler("c.config").expect("config"), RULES);
        let expected = [None, Some(0), Some(1), None];
        assert_eq!(fates(&mut host), expected);
        assert_eq!(fates(&mut image), expected);
        assert_eq!(image.read_handler("c.drops").expect("drops"), "2");
    }

    #[test]
    fn without_its_program_a_prepared_class_refuses_with_a_reason() {
        let err = router(&image_classes(), &[])
            .err()
            .expect("needs its program");
        assert!(err.contains("no compiled program"), "{err}");
        let damaged = [None, Some(&b"SCP1"[..]), None];
        let err = router(&image_classes(), &damaged)
            .err()
            .expect("damaged bytes");
        assert!(err.contains("damaged"), "{err}");
    }
}
