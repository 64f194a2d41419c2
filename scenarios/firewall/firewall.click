// firewall.click -- a stateful perimeter firewall, as a filtering bridge.
//
// Sits on the wire between a LAN (eth0) and the upstream router (eth1), with no address
// of its own: frames it allows leave the other side unchanged. ARP is bridged.
//
//   LAN -> WAN: new TCP connections to ports 80, 443 and 22, UDP to port 53 and ICMP
//               echo requests.
//   WAN -> LAN: only packets of flows the LAN started (replies), ICMP errors about those
//               flows, and new TCP connections to the published web server
//               192.168.1.20:80 (and that server's replies back out).
//   Everything else, IPv6 and broken IPv4 included, is dropped and counted in
//   fw/lan_denied.count and fw/wan_denied.count, and by why in a counter of its own
//   (fw/lan_no_flow.count, ...): not_ip (neither ARP nor IPv4), bad_ip (a broken IPv4
//   header), no_flow (TCP, UDP or a ping no rule allows and no allowed flow it belongs to),
//   bad_error (an ICMP error quoting no such flow), no_rule (any other IPv4).
//
// Click has no connection-tracking element; the flow table is an IPRewriter whose
// mappings change nothing (`keep`). A packet is looked up in the rewriter's table before
// its input's spec is consulted, so replies (and later packets) of an allowed flow match
// the mapping its first packet installed, whichever input they arrive on. Packets that
// match no mapping on a `pass` input are the ones no rule allows: they go to the drop
// counters. ICMPPingRewriter does the same for pings, and ICMPRewriter lets an ICMP error
// through only when it quotes a flow one of the two tables knows.
//
// This file runs the firewall on devices (a VM's NICs, or interfaces under Click);
// firewall-pcap.click runs the same element class on capture files.

elementclass StatefulFirewall {
  // input 0 / output 0: the LAN side (eth0); input 1 / output 1: the WAN side (eth1).
  lan_eth :: Classifier(12/0806, 12/0800, -);
  wan_eth :: Classifier(12/0806, 12/0800, -);
  input[0] -> lan_eth;
  input[1] -> wan_eth;

  lan_denied :: Counter -> Discard;
  wan_denied :: Counter -> Discard;
  // Why: one counter per reason, each feeding its side's total.
  lan_not_ip :: Counter -> lan_denied;
  lan_bad_ip :: Counter -> lan_denied;
  lan_no_rule :: Counter -> lan_denied;
  lan_no_flow :: Counter -> lan_denied;
  lan_bad_error :: Counter -> lan_denied;
  wan_not_ip :: Counter -> wan_denied;
  wan_bad_ip :: Counter -> wan_denied;
  wan_no_rule :: Counter -> wan_denied;
  wan_no_flow :: Counter -> wan_denied;
  wan_bad_error :: Counter -> wan_denied;

  // ARP is bridged, so hosts on both sides can resolve each other.
  lan_eth[0] -> [1]output;
  wan_eth[0] -> [0]output;
  lan_eth[2] -> lan_not_ip;
  wan_eth[2] -> wan_not_ip;

  // The flow table. Outputs: 0 towards the WAN, 1 towards the LAN, 2 and 3 denied.
  flows :: IPRewriter(keep 0 1,   // 0: a new flow the LAN may start
                      pass 2,     // 1: other LAN traffic: only replies of published flows
                      keep 1 0,   // 2: a new connection to the published server
                      pass 3);    // 3: other WAN traffic: only replies of LAN flows
  pings :: ICMPPingRewriter(keep 0 1,   // 0: echo requests from the LAN
                            pass 2);    // 1: echo replies from the WAN
  lan_errors :: ICMPRewriter(flows pings);
  wan_errors :: ICMPRewriter(flows pings);

  to_wan :: Unstrip(14) -> [1]output;
  to_lan :: Unstrip(14) -> [0]output;
  flows[0] -> to_wan;
  flows[1] -> to_lan;
  flows[2] -> lan_no_flow;
  flows[3] -> wan_no_flow;
  pings[0] -> to_wan;
  pings[1] -> to_lan;
  pings[2] -> wan_no_flow;
  lan_errors[0] -> to_wan;
  lan_errors[1] -> lan_bad_error;
  wan_errors[0] -> to_lan;
  wan_errors[1] -> wan_bad_error;

  // From the LAN.
  lan_eth[1] -> Strip(14)
    -> lan_check :: CheckIPHeader
    -> lan_filter :: IPClassifier(
         dst tcp port 80 or dst tcp port 443 or dst tcp port 22,
         dst udp port 53,
         icmp type echo,
         tcp or udp,
         icmp type unreachable or icmp type timeexceeded or icmp type parameterproblem
           or icmp type sourcequench,
         -);
  lan_check[1] -> lan_bad_ip;
  lan_filter[0] -> [0]flows;
  lan_filter[1] -> [0]flows;
  lan_filter[2] -> [0]pings;
  lan_filter[3] -> [1]flows;
  lan_filter[4] -> lan_errors;
  lan_filter[5] -> lan_no_rule;

  // From the WAN.
  wan_eth[1] -> Strip(14)
    -> wan_check :: CheckIPHeader
    -> wan_filter :: IPClassifier(
         dst host 192.168.1.20 and dst tcp port 80,
         tcp or udp,
         icmp type echo-reply,
         icmp type unreachable or icmp type timeexceeded or icmp type parameterproblem
           or icmp type sourcequench,
         -);
  wan_check[1] -> wan_bad_ip;
  wan_filter[0] -> [2]flows;
  wan_filter[1] -> [3]flows;
  wan_filter[2] -> [1]pings;
  wan_filter[3] -> wan_errors;
  wan_filter[4] -> wan_no_rule;
}

fw :: StatefulFirewall;
FromDevice(eth0, PROMISC true) -> [0]fw;
FromDevice(eth1, PROMISC true) -> [1]fw;
fw[0] -> Queue(1024) -> ToDevice(eth0);
fw[1] -> Queue(1024) -> ToDevice(eth1);
