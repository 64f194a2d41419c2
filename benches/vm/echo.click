// The bare echo VM of `sluice bench e2e` (two NICs): every frame from eth0 out of eth1,
// nothing else, so it measures what the VMM and the NIC backend allow.
FromDevice(0) -> ToDevice(1);
