// IP encapsulation: UDPIPEncap (with and without checksums, service-name ports), IPEncap
// with TOS/DSCP/ECN/DF/TTL and DST_ANNO, SetIPDSCP and MarkIPCE with their incremental
// checksums, CheckLength.
InfiniteSource(DATA "abcdefg", LIMIT 3, STOP true)
  -> UDPIPEncap(1.0.0.1, dns, 2.0.0.2, 8080)
  -> Print(udp, 40)
  -> UDPIPEncap(3.0.0.3, 1, 4.0.0.4, www, true)
  -> Print(udpsum, 60)
  -> IPEncap(tcp, 5.0.0.5, DST_ANNO, DSCP 10, ECT true, DF true, TTL 9)
  -> Print(ip, 80)
  -> SetIPDSCP(46)
  -> MarkIPCE
  -> CheckIPHeader
  -> Print(marked, 80)
  -> cl :: CheckLength(70)
  -> Print(short, 0)
  -> IPEncap(4, 6.0.0.6, 7.0.0.7, TOS 0xb8)
  -> Print(outer, 100)
  -> Discard;
cl[1] -> Print(long, 0) -> Discard;
