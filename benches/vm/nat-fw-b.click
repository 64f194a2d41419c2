// `sluice bench hotconfig`'s second configuration: nat-fw-a.click with one more filter
// rule (UDP to port 53 passes too), which the bench's stream to port 7 does not touch.
FromDevice(0)
  -> c_in :: Counter
  -> cl :: Classifier(12/0800, -)
  -> Strip(14)
  -> CheckIPHeader
  -> filter :: IPFilter(allow udp && dst port 7, allow udp && dst port 53, deny all)
  -> rw :: IPRewriter(pattern 21.0.0.1 1024-65535 - - 0 1, drop)
  -> Unstrip(14)
  -> c_out :: Counter
  -> ToDevice(1);
cl[1] -> c_other :: Counter -> Discard;
Idle -> [1] rw [1] -> Discard;
