#!/usr/bin/env python3
"""Writes docs/click-compat.md from a run of scripts/click-tests (its results.txt and the
runner's verbose log): the count, then every test with its verdict and, for each one that
does not pass, the first cause the log shows."""
import collections
import re
import sys

results_path, log_path, out_path, families = sys.argv[1:5]
log = open(log_path, errors="replace").read().splitlines()
results = [line.split() for line in open(results_path) if line.strip()]
lines = collections.defaultdict(list)
for line in log:
    m = re.match(r"^([A-Za-z]+/[A-Za-z0-9_.-]+\.clicktest):(\d+:)?\s*(.*)", line)
    if m:
        lines[m.group(1)].append(m.group(3))

OUT_OF_SCOPE = "out of scope"
DELIBERATE = "sluice's compiler and its listing differ on purpose"

KNOWN = [
    (r"TYPE PASSIVE|TYPE PACKET|\(Script\) has no (in|out)put", "`Script(TYPE PASSIVE|PACKET)` is not supported"),
    (r"\$\{a\[0\]\}", "`${a[0]}` variable expansion"),
    (r"redeclaration", "Click's \"redeclaration of element\" message and landmarks"),
    (r"yes->|all->\[|entry ", f"classifier `.program` text: {DELIBERATE}"),
    (r"click-install", f"needs the Linux kernel module: {OUT_OF_SCOPE}"),
]


# Click's C++ test elements (its elements/test/): they exercise Click's implementation
# (notifier plumbing, token buckets, queue internals), not a router's behaviour.
TEST_ELEMENTS = {
    "NotifierDebug", "UpstreamNotifier", "BlockThread", "HandlerTask", "NullTask",
    "MTDieTest", "QueueThreadTest1", "QueueThreadTest2",
}


def reason(test, verdict):
    text = "\n".join(lines.get(test, []))
    if verdict == "skip":
        m = re.search(r"requirement failure at '([^']*)'", text)
        return (m.group(1) if m else "a requirement").replace("click-buildtool provides ", "needs ")
    missing = sorted(set(re.findall(r"unknown element class '([A-Za-z0-9]+)'", text)))
    if missing and all(c in TEST_ELEMENTS or c.endswith("Test") for c in missing):
        return ("needs " + ", ".join(f"`{c}`" for c in missing)
                + f", Click's C++ test element: {OUT_OF_SCOPE}")
    if missing:
        return "missing class" + ("es " if len(missing) > 1 else " ") + ", ".join(f"`{c}`" for c in missing)
    for pattern, why in KNOWN:
        if re.search(pattern, text):
            return why
    for line in lines.get(test, []):
        if line and not line.startswith("Running"):
            return "`" + line[:100].replace("`", "'").replace("|", "\\|") + "`"
    return "fails"


counts = collections.Counter(v for v, _ in results)
why = {test: reason(test, v) for v, test in results if v == "FAIL"}
out_of_scope = sum(OUT_OF_SCOPE in w for w in why.values())
deliberate = sum(DELIBERATE in w for w in why.values())
other = counts["FAIL"] - out_of_scope - deliberate
out = [
    "# sluice against Click's regression suite\n",
    f"**{counts['pass']} of {len(results)} tests pass** ({counts['FAIL']} fail: {deliberate} on a "
    f"deliberate difference, {out_of_scope} out of scope, {other} to fix; {counts['skip']} "
    "are skipped: they need a class, a tool or Click's own C++ test elements) in Click's "
    f"middlebox families (`{families}` of `test/` in kohler/click `9197a59`), run by Click's "
    "own runner through `scripts/click-tests --click-src DIR` (the `click` stand-in in "
    "`scripts/compat/` is `sluice run` with Click's command line). Real Click 2.1 passes all "
    "of them. This page is written by that script (`--write-doc`).\n",
    "Matched and checked in CI without Click (`cli/tests/run.rs`, `scenarios/differential/`): `--simtime`, "
    "`-e`/`-f`/`-h` globs/`-q`/`-o`/`-x`, `Script` printing to standard output, `Truncate`, "
    "`Pad`, `FromIPSummaryDump`/`ToIPSummaryDump`, `FastUDPSource`, `IPEncap`, `UDPIPEncap`, "
    "`SetIPDSCP`, `MarkIPCE`, `CheckLength`, `RoundRobinSched`, `PrioSched`. The suite's tests of "
    "Click's C++ library (`BigintTest`, `HeapTest`, ...) are out of scope: they test Click's "
    "implementation, not a router's behaviour.\n",
    "| test | verdict | why |",
    "|---|---|---|",
]
for verdict, test in results:
    out.append(f"| `{test}` | {verdict} | {'' if verdict == 'pass' else reason(test, verdict)} |")
open(out_path, "w").write("\n".join(out) + "\n")
