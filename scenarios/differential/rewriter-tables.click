// Mapping tables as Click lists them, in the order of Click's hash tables (which grow as
// mappings are made): IPRewriter's TCP and UDP tables and ICMPPingRewriter's over the
// firewall trace's TCP, UDP and ping flows; IPAddrRewriter's and IPAddrPairRewriter's over
// one host's packets; and a handler that does not exist.
FromDump($DIR/traces/firewall.pcap, STOP true)
  -> eth :: Classifier(12/0800, -)
  -> Strip(14)
  -> CheckIPHeader
  -> split :: Tee
  -> cl :: IPClassifier(tcp or udp, icmp type echo, -);
eth[1] -> Discard;
rw :: IPRewriter(pattern 192.0.2.1 30000-30010# - - 0 1);
ping :: ICMPPingRewriter(pattern 192.0.2.1 - - - 0 1);
cl[0] -> rw;
cl[1] -> ping;
cl[2] -> Discard;
rw[0] -> Discard;
rw[1] -> Discard;
ping[0] -> Discard;
ping[1] -> Discard;
split[1] -> one :: IPClassifier(src host 203.0.113.5, -) -> both :: Tee;
one[1] -> Discard;
both[0] -> addr :: IPAddrRewriter(pattern 192.0.2.1 - - - 0 1) -> Discard;
both[1] -> pair :: IPAddrPairRewriter(pattern 192.0.2.9 - - - 0 1) -> Discard;
addr[1] -> Discard;
pair[1] -> Discard;
DriverManager(wait_stop, print rw.nmappings, print rw.udp_table, print rw.tcp_table,
              print ping.table, print addr.table, print pair.table, print rw.table);
