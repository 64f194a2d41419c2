// `sluice bench hotconfig`'s first configuration: a firewall that lets UDP to port 7 from
// eth0 out of eth1, source-NATed to 21.0.0.1. nat-fw-b.click differs only in the filter,
// which lets DNS out as well; the elements keep their names, so a swap between the two
// carries the counters and the NAT's mappings over.
FromDevice(0)
  -> c_in :: Counter
  -> cl :: Classifier(12/0800, -)
  -> Strip(14)
  -> CheckIPHeader
  -> filter :: IPFilter(allow udp && dst port 7, deny all)
  -> rw :: IPRewriter(pattern 21.0.0.1 1024-65535 - - 0 1, drop)
  -> Unstrip(14)
  -> c_out :: Counter
  -> ToDevice(1);
cl[1] -> c_other :: Counter -> Discard;
Idle -> [1] rw [1] -> Discard;
