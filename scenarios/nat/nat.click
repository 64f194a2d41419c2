// nat.click -- a NAPT gateway in the style of Click's mazu-nat.click.
//
// The LAN 10.0.0.0/24 (eth0; the gateway is 10.0.0.1) reaches the outside world (eth1)
// through one public address, 203.0.113.1, via the upstream router 203.0.113.254:
//
//   - TCP and UDP from the LAN leave with source 203.0.113.1 and a port from 50000-65535,
//     handed out in order; replies are translated back.
//   - ICMP echo requests leave with an identifier from the same range (ICMPPingRewriter);
//     their replies are translated back.
//   - ICMP errors about translated flows (port unreachable, time exceeded, ...) are
//     translated back, quoted packet included (ICMPRewriter), and sent to the LAN host.
//   - Port forward: TCP to 203.0.113.1:8080 goes to the LAN server 10.0.0.20:80, with the
//     client's address kept; the server's replies leave from 203.0.113.1:8080.
//   - The gateway answers ARP and pings for its own addresses on both sides, and resolves
//     LAN hosts and the upstream router with ARP.
//   - Everything else is dropped: counted in nat/lan_dropped.count and
//     nat/wan_dropped.count.
//
// nat-pcap.click runs the same element class on capture files.

AddressInfo(
  intern            10.0.0.1      10.0.0.0/24     02:00:00:00:01:01,
  extern            203.0.113.1   203.0.113.0/24  02:00:00:00:02:01,
  extern_next_hop   203.0.113.254,
  intern_server     10.0.0.20
);

elementclass NAPTGateway {
  // input 0 / output 0: the LAN (eth0); input 1 / output 1: the outside (eth1).
  lan_arp :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
  wan_arp :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
  input[0] -> lan_arp;
  input[1] -> wan_arp;

  lan_dropped :: Counter -> Discard;
  wan_dropped :: Counter -> Discard;

  // Output paths: LAN hosts are resolved by ARP; everything outside goes to the next hop.
  to_lan :: GetIPAddress(16) -> lan_arpq :: ARPQuerier(intern) -> [0]output;
  to_wan :: SetIPAddress(extern_next_hop) -> wan_arpq :: ARPQuerier(extern) -> [1]output;

  // ARP machinery.
  lan_arp[0] -> ARPResponder(intern) -> [0]output;
  lan_arp[1] -> [1]lan_arpq;
  lan_arp[3] -> lan_dropped;
  wan_arp[0] -> ARPResponder(extern) -> [1]output;
  wan_arp[1] -> [1]wan_arpq;
  wan_arp[3] -> wan_dropped;

  // Rewriters. Outputs: 0 to the outside, 1 to the LAN, 2 dropped.
  rw :: IPRewriter(pattern extern 50000-65535# - - 0 1,   // 0: TCP/UDP from the LAN
                   pattern - - intern_server 80 1 0,      // 1: the port forward
                   pass 2);                               // 2: other TCP/UDP from outside
  pings :: ICMPPingRewriter(pattern extern 50000-65535# - - 0 1,  // 0: echo requests out
                            pass 2);                              // 1: echo replies in
  errors_in :: ICMPRewriter(rw pings);

  rw[0] -> to_wan;
  rw[1] -> to_lan;
  rw[2] -> wan_dropped;
  pings[0] -> to_wan;
  pings[1] -> to_lan;
  pings[2] -> wan_dropped;
  errors_in[0] -> to_lan;
  errors_in[1] -> wan_dropped;

  // IP from the LAN.
  lan_arp[2] -> Strip(14)
    -> lan_check :: CheckIPHeader
    -> lan_ip :: IPClassifier(dst host intern and icmp type echo,  // ping the gateway
                              dst net intern,                      // nothing else is served
                              tcp or udp,
                              icmp type echo,
                              -);
  lan_check[1] -> lan_dropped;
  lan_ip[0] -> ICMPPingResponder -> to_lan;
  lan_ip[1] -> lan_dropped;
  lan_ip[2] -> [0]rw;
  lan_ip[3] -> [0]pings;
  lan_ip[4] -> lan_dropped;

  // IP from outside: only what is addressed to the public address.
  wan_arp[2] -> Strip(14)
    -> wan_check :: CheckIPHeader
    -> wan_ip :: IPClassifier(dst host extern and dst tcp port 8080,
                              dst host extern and (tcp or udp),
                              dst host extern and icmp type echo-reply,
                              dst host extern and icmp type echo,
                              dst host extern and (icmp type unreachable
                                or icmp type timeexceeded or icmp type parameterproblem
                                or icmp type sourcequench),
                              -);
  wan_check[1] -> wan_dropped;
  wan_ip[0] -> [1]rw;
  wan_ip[1] -> [2]rw;
  wan_ip[2] -> [1]pings;
  wan_ip[3] -> ICMPPingResponder -> to_wan;
  wan_ip[4] -> errors_in;
  wan_ip[5] -> wan_dropped;
}

nat :: NAPTGateway;
FromDevice(eth0) -> [0]nat;
FromDevice(eth1) -> [1]nat;
nat[0] -> Queue(1024) -> ToDevice(eth0);
nat[1] -> Queue(1024) -> ToDevice(eth1);
