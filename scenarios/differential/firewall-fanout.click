// An IPClassifier with many kinds of pattern (TCP flags, port ranges, fragments, ICMP
// types, networks, byte tests) fanning out to counters and captures, and an IPFilter with
// allow and deny rules over the same traffic: normal packets and hostile ones (fragments,
// options, TCP and UDP headers cut short, IHL < 5, a version that is not 4,
// an empty frame, other ethertypes). MarkIPHeader, unlike CheckIPHeader, lets the bad
// headers through.

wire :: FromDump($DIR/traces/firewall.pcap, STOP true);
eth :: Classifier(12/0800, -);
wire -> eth;
eth[1] -> nonip :: Counter -> ToDump(nonip.pcap, SNAPLEN 0);
eth[0] -> Strip(14) -> MarkIPHeader -> t :: Tee(2);

t[0] -> ipc :: IPClassifier(
    ip hl != 5 or ip vers != 4,
    tcp opt fin or tcp opt rst,
    dst tcp port www or dst tcp port https,
    dst tcp port >= 6000 and dst tcp port <= 6063,
    src udp port 53 or dst udp port domain,
    ip frag,
    icmp type echo or icmp type echo-reply,
    icmp type != 8 && icmp type > 2,
    src or dst net 192.168.0.0/16,
    ip[1] & 3 == 3 or ip[8] < 5,
    syn && !ack,
    ip unfrag and transp[13] & 0x10 != 0,
    -);
ipc[0] -> c0 :: Counter -> ToDump(odd.pcap, SNAPLEN 0, ENCAP IP);
ipc[1] -> c1 :: Counter -> ToDump(finrst.pcap, SNAPLEN 0, ENCAP IP);
ipc[2] -> c2 :: Counter -> Discard;
ipc[3] -> c3 :: Counter -> ToDump(x11.pcap, SNAPLEN 0, ENCAP IP);
ipc[4] -> c4 :: Counter -> Discard;
ipc[5] -> c5 :: Counter -> ToDump(frag.pcap, SNAPLEN 0, ENCAP IP);
ipc[6] -> c6 :: Counter -> Discard;
ipc[7] -> c7 :: Counter -> ToDump(icmperr.pcap, SNAPLEN 0, ENCAP IP);
ipc[8] -> c8 :: Counter -> Discard;
ipc[9] -> c9 :: Counter -> Discard;
ipc[10] -> c10 :: Counter -> ToDump(syn.pcap, SNAPLEN 0, ENCAP IP);
ipc[11] -> c11 :: Counter -> Discard;
ipc[12] -> rest :: Counter -> ToDump(rest.pcap, SNAPLEN 0, ENCAP IP);

t[1] -> f :: IPFilter(
    deny src net 10.66.0.0/16,
    allow tcp && dst port 22,
    1 udp && (src port 53 || dst port 53),
    deny ip frag,
    allow icmp && icmp type != echo-reply,
    2 tcp && syn && dst port > 1023,
    3 tcp && !(tcp opt ack) && transp[12] & 0xf0 == 0x50,
    3 ip[9] == 17 ? (transp[2:2] > 1000 and not transp[4:2] < 9) : false,
    allow tcp && dst port www && (ack || syn),
    deny all);
f[0] -> allowed :: Counter -> ToDump(allowed.pcap, SNAPLEN 0, ENCAP IP);
f[1] -> dns :: Counter -> Discard;
f[2] -> high :: Counter -> Discard;
f[3] -> odd_tcp :: Counter -> ToDump(odd-tcp.pcap, SNAPLEN 0, ENCAP IP);

DriverManager(wait_stop,
  print nonip.count,
  print c0.count, print c1.count, print c2.count, print c3.count, print c4.count,
  print c5.count, print c6.count, print c7.count, print c8.count, print c9.count,
  print c10.count, print c11.count, print rest.count,
  print allowed.count, print dns.count, print high.count, print odd_tcp.count);
