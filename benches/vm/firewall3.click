// The VM end of the host firewall pipeline: a 3-rule IPFilter between eth0 and eth1.
FromDevice(0)
  -> cl :: Classifier(12/0800, -)
  -> Strip(14)
  -> CheckIPHeader
  -> IPFilter(deny src net 192.168.0.0/16, deny tcp && dst port 22, allow udp)
  -> Unstrip(14)
  -> ToDevice(1);
cl[1] -> Discard;
