// The router's random sequence, drawn as Click draws it: a fixed seed, a RandomSwitch, and
// SetRandIPAddress with and without LIMIT (LIMIT draws its addresses before any packet).
RandomSeed(1);
InfiniteSource(DATA \<02000000000202000000000108004500002e000000004011aaab0a000001c612000113881389001a53d76162636465666768696a6b6c6d6e6f707172>,
    LIMIT 40, STOP true)
  -> Strip(14) -> CheckIPHeader
  -> rs :: RandomSwitch;
rs[0] -> SetRandIPAddress(10.0.0.0/8, LIMIT 3) -> StoreIPAddress(dst) -> IPPrint(a, TIMESTAMP false) -> Discard;
rs[1] -> SetRandIPAddress(192.168.0.0/16) -> StoreIPAddress(dst) -> IPPrint(b, TIMESTAMP false) -> Discard;
