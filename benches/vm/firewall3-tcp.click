// The 3-rule firewall of `sluice bench tcp`: benches/vm/firewall3.click's pipeline
// (Classifier -> Strip -> CheckIPHeader -> IPFilter -> Unstrip) on both paths, eth0 to
// eth1 and back, with three stateless rules that let TCP (except to SSH) and ICMP through.
// Frames that are not IPv4 (ARP) are bridged unchanged.
elementclass Filter {
  input -> ip :: Classifier(12/0800, -)
    -> Strip(14)
    -> CheckIPHeader
    -> IPFilter(deny tcp && dst port 22, allow tcp, allow icmp)
    -> Unstrip(14)
    -> output;
  ip[1] -> output;
}
FromDevice(0) -> Filter -> ToDevice(1);
FromDevice(1) -> Filter -> ToDevice(0);
