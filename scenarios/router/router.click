// router.click -- an IP router between two Ethernet subnets, laid out as the
// configurations Click's make-ip-conf.pl writes.
//
//   eth0  10.1.0.1/24  02:00:00:00:01:01   MTU 1500
//   eth1  10.2.0.1/24  02:00:00:00:02:01   MTU 1400
//   default route: 10.2.0.254 on eth1
//
// Each interface has an ARP responder for its address and an ARP querier; ARP replies go
// to both queriers. IP packets are checked (CheckIPHeader), routed by longest prefix match
// (RadixIPLookup) and, on the way out of interface N, go through the classic forwarding
// path: DropBroadcasts (no link-level broadcasts forwarded), PaintTee (a packet leaving by
// the interface it came in on gets an ICMP redirect), IPGWOptions (Record Route and
// Timestamp options), FixIPSrc (router-made packets take the outgoing interface's address),
// DecIPTTL (expired packets get ICMP time exceeded), IPFragmenter (packets over the MTU are
// fragmented, or get ICMP fragmentation needed when DF is set). The router answers pings
// to its own addresses; other traffic to it is dropped (there is no host stack to hand it
// to, where make-ip-conf.pl uses ToHost). Non-IP frames are counted in rt/nonip0.count and
// rt/nonip1.count; bad IP headers in rt/check.drops.
//
// router-pcap.click runs the same element class on capture files.

elementclass IPRouter2 {
  // Shared IP input path and routing table.
  ip :: Strip(14)
    -> check :: CheckIPHeader(INTERFACES 10.1.0.1/24 10.2.0.1/24)
    -> rt :: RadixIPLookup(10.1.0.1/32 0, 10.1.0.255/32 0, 10.1.0.0/32 0,
                           10.2.0.1/32 0, 10.2.0.255/32 0, 10.2.0.0/32 0,
                           10.1.0.0/24 1, 10.2.0.0/24 2,
                           255.255.255.255/32 0.0.0.0 0, 0.0.0.0/32 0,
                           0.0.0.0/0 10.2.0.254 2);

  // ARP responses are copied to each ARPQuerier.
  arpt :: Tee(2);

  // Input and output paths for eth0.
  c0 :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
  input[0] -> c0;
  c0[0] -> ar0 :: ARPResponder(10.1.0.1 02:00:00:00:01:01) -> [0]output;
  arpq0 :: ARPQuerier(10.1.0.1, 02:00:00:00:01:01) -> [0]output;
  c0[1] -> arpt;
  arpt[0] -> [1]arpq0;
  c0[2] -> Paint(1) -> ip;
  c0[3] -> nonip0 :: Counter -> Discard;

  // Input and output paths for eth1.
  c1 :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
  input[1] -> c1;
  c1[0] -> ar1 :: ARPResponder(10.2.0.1 02:00:00:00:02:01) -> [1]output;
  arpq1 :: ARPQuerier(10.2.0.1, 02:00:00:00:02:01) -> [1]output;
  c1[1] -> arpt;
  arpt[1] -> [1]arpq1;
  c1[2] -> Paint(2) -> ip;
  c1[3] -> nonip1 :: Counter -> Discard;

  // Local delivery: pings are answered; nothing else is served.
  rt[0] -> local :: IPClassifier(icmp type echo, -);
  local[0] -> ICMPPingResponder -> rt;
  local[1] -> tohost :: Counter -> Discard;

  // Forwarding path for eth0.
  rt[1] -> DropBroadcasts
    -> cp0 :: PaintTee(1)
    -> gio0 :: IPGWOptions(10.1.0.1)
    -> FixIPSrc(10.1.0.1)
    -> dt0 :: DecIPTTL
    -> fr0 :: IPFragmenter(1500)
    -> [0]arpq0;
  dt0[1] -> ICMPError(10.1.0.1, timeexceeded) -> rt;
  fr0[1] -> ICMPError(10.1.0.1, unreachable, needfrag) -> rt;
  gio0[1] -> ICMPError(10.1.0.1, parameterproblem) -> rt;
  cp0[1] -> ICMPError(10.1.0.1, redirect, host) -> rt;

  // Forwarding path for eth1.
  rt[2] -> DropBroadcasts
    -> cp1 :: PaintTee(2)
    -> gio1 :: IPGWOptions(10.2.0.1)
    -> FixIPSrc(10.2.0.1)
    -> dt1 :: DecIPTTL
    -> fr1 :: IPFragmenter(1400)
    -> [0]arpq1;
  dt1[1] -> ICMPError(10.2.0.1, timeexceeded) -> rt;
  fr1[1] -> ICMPError(10.2.0.1, unreachable, needfrag) -> rt;
  gio1[1] -> ICMPError(10.2.0.1, parameterproblem) -> rt;
  cp1[1] -> ICMPError(10.2.0.1, redirect, host) -> rt;
}

rt :: IPRouter2;
FromDevice(eth0) -> [0]rt;
FromDevice(eth1) -> [1]rt;
rt[0] -> Queue(1024) -> ToDevice(eth0);
rt[1] -> Queue(1024) -> ToDevice(eth1);
