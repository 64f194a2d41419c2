// load-balancer.click -- one virtual IP spread over two backends.
//
//   eth0 (front)  192.0.2.1/24   02:00:00:00:01:01   clients; the VIP 192.0.2.100
//   eth1 (back)   10.0.0.1/24    02:00:00:00:02:01   backends 10.0.0.11 and 10.0.0.12
//
// A new TCP connection to 192.0.2.100:80 is given to the backends in turn
// (RoundRobinIPMapper inside an IPRewriter): its destination becomes that backend, its
// source (the client) is kept, so the backends see real client addresses and must route
// their replies through the balancer (10.0.0.1 is their gateway). Every later packet of
// the connection follows the mapping to the same backend, and the backend's replies leave
// with the VIP as their source. The balancer answers ARP for 192.0.2.1, the VIP and
// 10.0.0.1, and pings to the VIP. Everything else is dropped and counted in
// lb/front_dropped.count and lb/back_dropped.count.
//
// load-balancer-pcap.click runs the same element class on capture files.

elementclass RoundRobinBalancer {
  // input 0 / output 0: the front (eth0); input 1 / output 1: the back (eth1).
  front_arp :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
  back_arp :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
  input[0] -> front_arp;
  input[1] -> back_arp;

  front_dropped :: Counter -> Discard;
  back_dropped :: Counter -> Discard;

  to_front :: ARPQuerier(192.0.2.1, 02:00:00:00:01:01) -> [0]output;
  to_back :: ARPQuerier(10.0.0.1, 02:00:00:00:02:01) -> [1]output;
  front_arp[0] -> ARPResponder(192.0.2.1 192.0.2.100 02:00:00:00:01:01) -> [0]output;
  front_arp[1] -> [1]to_front;
  front_arp[3] -> front_dropped;
  back_arp[0] -> ARPResponder(10.0.0.1 02:00:00:00:02:01) -> [1]output;
  back_arp[1] -> [1]to_back;
  back_arp[3] -> back_dropped;

  // The connection table. Outputs: 0 to a backend, 1 to a client, 2 dropped.
  backends :: RoundRobinIPMapper(- - 10.0.0.11 - 0 1,
                                 - - 10.0.0.12 - 0 1);
  rw :: IPRewriter(backends,   // 0: a new connection to the VIP
                   pass 2);    // 1: from the backends: replies only
  rw[0] -> to_back;
  rw[1] -> to_front;
  rw[2] -> back_dropped;

  front_arp[2] -> Strip(14)
    -> front_check :: CheckIPHeader
    -> front_ip :: IPClassifier(dst host 192.0.2.100 and dst tcp port 80,
                                dst host 192.0.2.100 and icmp type echo,
                                -);
  front_check[1] -> front_dropped;
  front_ip[0] -> [0]rw;
  front_ip[1] -> ICMPPingResponder -> to_front;
  front_ip[2] -> front_dropped;

  back_arp[2] -> Strip(14)
    -> back_check :: CheckIPHeader
    -> back_ip :: IPClassifier(src tcp port 80, -);
  back_check[1] -> back_dropped;
  back_ip[0] -> [1]rw;
  back_ip[1] -> back_dropped;
}

lb :: RoundRobinBalancer;
FromDevice(eth0) -> [0]lb;
FromDevice(eth1) -> [1]lb;
lb[0] -> Queue(1024) -> ToDevice(eth0);
lb[1] -> Queue(1024) -> ToDevice(eth1);
