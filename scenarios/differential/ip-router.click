// A two-interface IP router laid out as make-ip-conf.pl lays one out, over one capture of
// what both interfaces see (the source Ethernet address tells them apart).
//   eth0: 10.0.0.1/24, 00:00:c0:aa:00:01, MTU 1500; the default route is via 10.0.0.254
//   eth1: 192.168.1.1/24, 00:00:c0:bb:00:01, MTU 576
// ARP replies go to both ARPQueriers and to the local host; packets for the router and for
// broadcast addresses go to the local host too, with a made-up Ethernet header. Each
// interface's output is one capture; the counters and tables are printed at the end.

wire :: FromDump($DIR/traces/router.pcap, STOP true);
side :: Classifier(6/0200000000, 6/0200000001, -);
wire -> side;
side[0] -> HostEtherFilter(00:00:c0:aa:00:01) -> c0 :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
side[1] -> HostEtherFilter(00:00:c0:bb:00:01) -> c1 :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
side[2] -> Discard;

out0 :: ToDump(eth0.pcap, SNAPLEN 0);
out1 :: ToDump(eth1.pcap, SNAPLEN 0);
toh :: ToDump(local.pcap, SNAPLEN 0);

// Shared IP input path and routing table.
ip :: Strip(14)
  -> chk :: CheckIPHeader(INTERFACES 10.0.0.1/24 192.168.1.1/24)
  -> GetIPAddress(16)
  -> rt :: RadixIPLookup(10.0.0.1/32 0, 10.0.0.255/32 0, 10.0.0.0/32 0,
                         192.168.1.1/32 0, 192.168.1.255/32 0, 192.168.1.0/32 0,
                         10.0.0.0/24 1, 192.168.1.0/24 2,
                         255.255.255.255/32 0.0.0.0 0, 0.0.0.0/32 0,
                         0.0.0.0/0 10.0.0.254 1);
chk[1] -> badip :: Counter -> Discard;

// ARP replies are copied to each ARPQuerier and the host.
arpt :: Tee(3);

// eth0
c0[0] -> ar0 :: ARPResponder(10.0.0.1 00:00:c0:aa:00:01) -> out0;
arpq0 :: ARPQuerier(10.0.0.1, 00:00:c0:aa:00:01) -> out0;
c0[1] -> arpt;
arpt[0] -> [1]arpq0;
c0[2] -> Paint(1) -> ip;
c0[3] -> other :: Counter -> Discard;

// eth1
c1[0] -> ar1 :: ARPResponder(192.168.1.1 00:00:c0:bb:00:01) -> out1;
arpq1 :: ARPQuerier(192.168.1.1, 00:00:c0:bb:00:01) -> out1;
c1[1] -> arpt;
arpt[1] -> [1]arpq1;
c1[2] -> Paint(2) -> ip;
c1[3] -> other;

// Local delivery
arpt[2] -> toh;
rt[0] -> EtherEncap(0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2) -> toh;

// Forwarding path for eth0: PaintTee copies packets that leave by the interface they
// arrived on to the redirect.
rt[1] -> db0 :: DropBroadcasts
  -> cp0 :: PaintTee(1)
  -> gio0 :: IPGWOptions(10.0.0.1)
  -> FixIPSrc(10.0.0.1)
  -> dt0 :: DecIPTTL
  -> fr0 :: IPFragmenter(1500)
  -> [0]arpq0;
dt0[1] -> ICMPError(10.0.0.1, timeexceeded) -> rt;
fr0[1] -> ICMPError(10.0.0.1, unreachable, needfrag) -> rt;
gio0[1] -> ICMPError(10.0.0.1, parameterproblem) -> rt;
cp0[1] -> ICMPError(10.0.0.1, redirect, host) -> rt;

// Forwarding path for eth1: CheckPaint and a Tee do what PaintTee does.
rt[2] -> db1 :: DropBroadcasts
  -> cp1 :: CheckPaint(2);
cp1[0] -> rd1 :: Tee(2);
rd1[0] -> ICMPError(192.168.1.1, redirect, host) -> rt;
rd1[1] -> gio1 :: IPGWOptions(192.168.1.1);
cp1[1] -> gio1;
gio1 -> FixIPSrc(192.168.1.1)
  -> dt1 :: DecIPTTL
  -> fr1 :: IPFragmenter(576)
  -> [0]arpq1;
dt1[1] -> ICMPError(192.168.1.1, timeexceeded) -> rt;
fr1[1] -> ICMPError(192.168.1.1, unreachable, needfrag) -> rt;
gio1[1] -> ICMPError(192.168.1.1, parameterproblem) -> rt;

DriverManager(wait_stop,
  print badip.count, print chk.drops, print other.count,
  print db0.drops, print db1.drops, print gio0.drops, print gio1.drops,
  print fr0.fragments, print fr1.fragments, print fr1.drops,
  print arpq0.queries, print arpq0.responses, print arpq0.drops,
  print arpq1.queries, print arpq1.responses, print arpq1.drops,
  print arpq0.table, print arpq1.table, print ar0.table,
  print rt.table);
