//! Click's classic two-interface IP router (the shape `conf/make-ip-conf.pl` generates and
//! Click's documentation describes), written with compound elements for the per-interface
//! paths. It must load against a class table of its elements, and flatten to the same
//! graph as the hand-expanded flat version.

use sluice_config::{load, unparse, ClassSpec, Source};

/// The elements the router uses, with Click's port counts and processing.
fn classes() -> Vec<ClassSpec> {
    [
        ("FromDevice", "0/1", "h"),
        ("ToDevice", "1/0", "l"),
        ("Queue", "1/1", "h/l"),
        ("Classifier", "1/-", "h"),
        ("ARPResponder", "1/1-2", "a"),
        ("ARPQuerier", "2/1-2", "h"),
        ("Tee", "1/-", "h"),
        ("Paint", "1/1", "a"),
        ("Strip", "1/1", "a"),
        ("CheckIPHeader", "1/1-2", "a/ah"),
        ("GetIPAddress", "1/1", "a"),
        ("StaticIPLookup", "1/-", "h"),
        ("DropBroadcasts", "1/1", "a"),
        ("CheckPaint", "1/1-2", "a/ah"),
        ("IPGWOptions", "1/1-2", "a/ah"),
        ("FixIPSrc", "1/1", "a"),
        ("DecIPTTL", "1/1-2", "a/ah"),
        ("IPFragmenter", "1/1-2", "h"),
        ("ICMPError", "1/1-2", "a/ah"),
        ("EtherEncap", "1/1", "a"),
        ("ToHost", "1/0", "h"),
        ("Print", "1/1", "a"),
        ("Discard", "1/0", "a"),
    ]
    .iter()
    .map(|(n, p, c)| ClassSpec::new(n, p, c))
    .collect()
}

const ROUTER: &str = r#"// Generated in the style of make-ip-conf.pl
// eth0 18.26.4.24 00:00:C0:3B:71:EF
// eth1 18.26.7.1 00:00:C0:CA:68:EF
define($DEV0 eth0, $IP0 18.26.4.24, $MAC0 00:00:C0:3B:71:EF,
       $DEV1 eth1, $IP1 18.26.7.1, $MAC1 00:00:C0:CA:68:EF);

// One interface's input and output paths: classifies frames, answers ARP,
// queues packets for the device. Input 0: IP packets to send (to the ARPQuerier);
// input 1: ARP replies. Output 0: IP packets received; output 1: ARP replies.
elementclass Interface { $dev, $ip, $mac, $color |
    c :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
    FromDevice($dev) -> c;
    out :: Queue(200) -> ToDevice($dev);
    c [0] -> ARPResponder($ip $mac) -> out;
    arpq :: ARPQuerier($ip, $mac) -> out;
    c [1] -> [1] output;
    input [1] -> [1] arpq;
    c [2] -> Paint($color) -> [0] output;
    c [3] -> Print("$dev non-IP") -> Discard;
    input [0] -> arpq;
}

// The forwarding path of one interface. Input: packets routed to it.
// Output 0: packets for the ARPQuerier; output 1: ICMP errors, back to routing.
elementclass ForwardPath { $ip, $color, MTU $mtu |
    input -> DropBroadcasts
          -> cp :: CheckPaint($color)
          -> gio :: IPGWOptions($ip)
          -> FixIPSrc($ip)
          -> dt :: DecIPTTL
          -> fr :: IPFragmenter($mtu)
          -> [0] output;
    dt [1] -> ICMPError($ip, timeexceeded) -> [1] output;
    fr [1] -> ICMPError($ip, unreachable, needfrag) -> [1] output;
    gio [1] -> ICMPError($ip, parameterproblem) -> [1] output;
    cp [1] -> ICMPError($ip, redirect, host) -> [1] output;
}

// Shared IP input path and routing table
ip :: Strip(14)
    -> CheckIPHeader(INTERFACES $IP0/24 $IP1/24)
    -> GetIPAddress(16)
    -> rt :: StaticIPLookup(
        $IP0/32 0,
        18.26.4.255/32 0,
        18.26.4.0/32 0,
        $IP1/32 0,
        18.26.7.255/32 0,
        18.26.7.0/32 0,
        18.26.4.0/24 1,
        18.26.7.0/24 2,
        255.255.255.255/32 0.0.0.0 0,
        0.0.0.0/32 0,
        0.0.0.0/0 18.26.4.1 1);

// ARP responses are copied to each ARPQuerier and the host.
arpt :: Tee(3);

if0 :: Interface($DEV0, $IP0, $MAC0, 1);
if1 :: Interface($DEV1, $IP1, $MAC1, 2);
if0 [0] -> ip;
if1 [0] -> ip;
if0 [1] -> arpt;
if1 [1] -> arpt;
arpt [0] -> [1] if0;
arpt [1] -> [1] if1;

// Local delivery
toh :: ToHost;
arpt [2] -> toh;
rt [0] -> EtherEncap(0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2) -> toh;

// Forwarding paths
rt [1] -> fp0 :: ForwardPath($IP0, 1, MTU 1500) [0] -> [0] if0;
rt [2] -> fp1 :: ForwardPath($IP1, 2, MTU 1500) [0] -> [0] if1;
fp0 [1] -> rt;
fp1 [1] -> rt;
"#;

#[test]
fn classic_ip_router_loads() {
    let src = Source::new("iprouter.click", ROUTER);
    let g = match load(&src, &[], &classes()) {
        Ok(g) => g,
        Err(d) => panic!("{}", d.render(&[src])),
    };
    let names: Vec<&str> = g.elements.iter().map(|e| e.name.as_str()).collect();
    for want in [
        "if0/c",
        "if0/arpq",
        "if0/out",
        "if1/ToDevice@4",
        "fp0/dt",
        "fp1/fr",
        "rt",
        "arpt",
        "toh",
    ] {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }
    let find = |n: &str| g.find(n).unwrap_or_else(|| panic!("{n}"));
    let has = |a: &str, ap: usize, b: &str, bp: usize| {
        g.connections
            .iter()
            .any(|c| c.from == find(a) && c.from_port == ap && c.to == find(b) && c.to_port == bp)
    };
    // Through compound boundaries: classifier -> paint -> shared IP path.
    assert!(has("if0/Paint@7", 0, "ip", 0));
    assert!(has("if1/c", 1, "arpt", 0));
    assert!(has("arpt", 1, "if1/arpq", 1));
    assert!(has("rt", 1, "fp0/DropBroadcasts@1", 0));
    assert!(has("fp0/fr", 0, "if0/arpq", 0));
    assert!(has("fp1/ICMPError@9", 0, "rt", 0));
    // Parameters reached the elements.
    assert_eq!(
        g.elements[find("if1/arpq")].config,
        "18.26.7.1, 00:00:C0:CA:68:EF"
    );
    assert_eq!(g.elements[find("fp0/fr")].config, "1500");
    assert_eq!(g.elements[find("if0/Print@8")].config, "\"eth0 non-IP\"");
    assert!(g.elements[find("rt")].config.contains("18.26.4.24/32 0,"));
    assert_eq!(g.elements.len(), 7 + 2 * 9 + 2 * 10);
}

#[test]
fn flattened_router_loads_again_unchanged() {
    let src = Source::new("iprouter.click", ROUTER);
    let g = load(&src, &[], &classes()).unwrap();
    let flat = unparse(&g);
    let again = load(&Source::new("flat.click", flat.clone()), &[], &classes())
        .unwrap_or_else(|d| panic!("{}", d.render(&[Source::new("flat.click", flat.clone())])));
    let key = |g: &sluice_config::FlatGraph| {
        (
            g.elements
                .iter()
                .map(|e| (e.name.clone(), e.class.clone(), e.config.clone()))
                .collect::<Vec<_>>(),
            g.connections.clone(),
        )
    };
    assert_eq!(key(&g), key(&again));
}

#[test]
fn a_missing_queue_is_reported() {
    // Without the Queue, a push output (the ARPQuerier) meets ToDevice's pull input.
    let broken = ROUTER.replace(
        "out :: Queue(200) -> ToDevice($dev);",
        "out :: Null; out -> ToDevice($dev);",
    );
    let mut classes = classes();
    classes.push(ClassSpec::new("Null", "1/1", "a"));
    let src = Source::new("iprouter.click", broken);
    let d = load(&src, &[], &classes).unwrap_err();
    let text = d.render(&[src]);
    assert!(
        text.contains("is a push output but 'if0/out' [0] is a pull input"),
        "{text}"
    );
}
