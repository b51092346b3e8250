#!/usr/bin/env python3
"""Interpreters py-heap does not read yet must say so, clearly.

Cores of Debian's python3.9 (bullseye root): each command exits 2 with one
line naming the version or build, never a wrong answer. Roots come from
fixtures/provision.sh; a root that cannot be made is reported as SKIP.

    python3 tests/integration/unsupported_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interp import Interp, ROOT  # noqa: E402
import graph_checks  # noqa: E402

check = graph_checks.check

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cores-dir", required=True)
    a = ap.parse_args()
    cases = []
    for suite, pys in (("bullseye", ["/usr/bin/python3.9"]),):
        r = subprocess.run(["bash", os.path.join(ROOT, "fixtures/provision.sh"),
                            suite], capture_output=True, text=True)
        root = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and \
            r.stdout.strip() else None
        for py in pys:
            if not root or not os.path.exists(root + py):
                print("SKIP %s %s: no root (%s)" % (suite, py, r.stderr[-200:]))
                continue
            cases.append((root, py, "not supported"))
    for root, py, want in cases:
        spec = "%s::%s" % (root, py) if root else py
        if not root and not os.path.exists(py):
            print("SKIP %s: not installed" % py)
            continue
        try:
            it = Interp(spec)
            core = it.take_core("sleeper.py", os.path.join(
                a.cores_dir, "sleeper-" + it.tag))
            for cmd in (["types"], ["info"], ["cycles"]):
                r = subprocess.run([a.bin, "--core", core] + it.py_heap_args() +
                                   cmd, capture_output=True, text=True,
                                   timeout=60)
                lines = [l for l in r.stderr.splitlines() if l.strip()]
                check("%s %s: %s refused clearly" % (it.version, spec, cmd[0]),
                      r.returncode == 2 and not r.stdout and len(lines) == 1 and
                      want in lines[0], "rc=%d %r" % (r.returncode, r.stderr))
        except Exception as e:
            check("%s" % spec, False, e)
    print("%d passed, %d failed" % (graph_checks.results["passed"],
                                    graph_checks.results["failed"]))
    return 1 if graph_checks.results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
