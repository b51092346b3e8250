#!/usr/bin/env python3
"""What only a free-threaded build (3.13t, 3.13td) has, checked against the
process's own truth (fixtures/heap_ft.py):

  * info says free-threaded, and its allocator is mimalloc;
  * the user classes exactly (count, sys.getsizeof), Made included: the
    objects of a thread that ended, only in the interpreter's abandoned
    segments;
  * freed objects are not objects: no Freed counted, and none of their ids
    shows a Freed (a block mimalloc took back keeps its header through
    ob_type; its free list, not its header, says it is free);
  * refcounts as sys.getrefcount() computes them: ob_ref_local plus
    ob_ref_shared >> 2 (an object another thread took references to), and
    immortal (4294967295: 3.13t immortalizes functions once a second thread
    exists);
  * cycles, refcheck and path answer (exit 0) on the same core.

    python3 tests/integration/ft_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores --python PY

On an interpreter that is not free-threaded it says so and checks nothing.
Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import argparse
import json
import os
import subprocess
import sys

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, str(detail)[:1500])))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--python", required=True)
    a = ap.parse_args()
    interp = Interp(a.python)
    if not interp.free_threaded:
        print("SKIP ft_checks: %s is not a free-threaded build" % a.python)
        print("0 passed, 0 failed")
        return 0
    outdir = os.path.join(a.cores_dir, "heap_ft-" + interp.tag)
    core = interp.take_core("heap_ft.py", outdir, need=("ready", "truth.json"))
    with open(os.path.join(outdir, "truth.json")) as f:
        t = json.load(f)

    def run(*args, json_out=True, expect=0):
        r = subprocess.run([a.bin, "--core", core] +
                           (["--json"] if json_out else []) +
                           interp.py_heap_args() + list(args),
                           capture_output=True, text=True, timeout=600)
        if expect is not None and r.returncode != expect:
            raise RuntimeError("%s: exit %d: %s" % (
                " ".join(args), r.returncode, r.stderr.strip()[-800:]))
        return (json.loads(r.stdout) if json_out else r), r

    try:
        d, _ = run("info")
        check("info: free_threaded", d.get("free_threaded") is True, d.get("free_threaded"))
        check("info: allocator mimalloc", d.get("allocator", "").startswith("mimalloc"),
              d.get("allocator"))
        check("info: no damage", not any(d["damage"].values()), d["damage"])
    except Exception as e:
        check("info", False, e)

    try:
        d, _ = run("types", "--limit", "0")
        got = {x["type"]: (x["count"], x["bytes"]) for x in d["types"]}
        for name, v in sorted(t["types"].items()):
            check("types: %s exactly" % name, got.get(name) == (v["count"], v["bytes"]),
                  "truth %s, py-heap %s" % ((v["count"], v["bytes"]), got.get(name)))
        check("types: no Freed object", "__main__.Freed" not in got, got.get("__main__.Freed"))
    except Exception as e:
        check("types", False, e)

    # a sample of the freed ids: none shows a Freed
    wrong = []
    for i in t["freed_ids"][::100]:
        r = subprocess.run([a.bin, "--core", core, "--json"] + interp.py_heap_args() +
                           ["show", hex(i)], capture_output=True, text=True, timeout=120)
        if r.returncode == 0 and json.loads(r.stdout)["type"] == "__main__.Freed":
            wrong.append(hex(i))
    check("show: a freed object's id is no Freed (%d ids)" % len(t["freed_ids"][::100]),
          not wrong, wrong[:5])

    for name, (addr, rc) in sorted(t["refcounts"].items()):
        try:
            d, _ = run("show", hex(addr))
            check("refcount of %s: %d (sys.getrefcount)" % (name, rc),
                  d["refcount"] == rc, d["refcount"])
        except Exception as e:
            check("refcount of %s" % name, False, e)

    for args in (("cycles",), ("refcheck",), ("path", hex(t["refcounts"]["shared"][0]))):
        try:
            run(*args)
            check("%s: exit 0" % args[0], True)
        except Exception as e:
            check("%s: exit 0" % args[0], False, e)

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
