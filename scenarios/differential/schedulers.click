// Pull schedulers: three queues filled with 3, 2 and 1 packets (links 0, 1, 2), drained by
// RoundRobinSched (one packet per input in turn) and PrioSched (input 0 first).
InfiniteSource(LIMIT 3) -> Paint(0) -> a0 :: Queue;
InfiniteSource(LIMIT 2) -> Paint(1) -> a1 :: Queue;
InfiniteSource(LIMIT 1) -> Paint(2) -> a2 :: Queue;
a0 -> [0] rr :: RoundRobinSched; a1 -> [1] rr; a2 -> [2] rr;
rr -> Unqueue -> ToIPSummaryDump(-, FIELDS link, BANNER "round robin");

InfiniteSource(LIMIT 3) -> Paint(0) -> b0 :: Queue;
InfiniteSource(LIMIT 2) -> Paint(1) -> b1 :: Queue;
InfiniteSource(LIMIT 1) -> Paint(2) -> b2 :: Queue;
b0 -> [0] prio :: PrioSched; b1 -> [1] prio; b2 -> [2] prio;
prio -> Unqueue -> ToIPSummaryDump(prio.ipsum, FIELDS link);
Script(wait 0.1, stop);
