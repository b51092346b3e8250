#!/usr/bin/env python3
"""Truth tests of the object graph, cycles and the refcount audit.

Runs fixtures/heap_graph.py under Debian's /usr/bin/python3.11, takes its
core with gcore, and checks py-heap's referrers, path, show, cycles,
refcount and refcheck against what the process measured about itself:
gc.get_referrers(), the objects gc.collect() frees (asked of a forked copy),
sys.getrefcount() and the refcounts it raised with Py_IncRef.

    python3 tests/integration/graph_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--gdb]

Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import argparse
import ast
import json
import os
import shlex
import subprocess
import sys

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = os.environ.get("PYHEAP_TEST_PYTHON", "/usr/bin/python3.11")
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print("PASS", name)
    else:
        results["failed"] += 1
        print("FAIL %s: %s" % (name, detail))


def skip(name, why):
    print("SKIP %s: %s" % (name, why))


INTERP = None


def take_core(fixture, outdir):
    """Runs the fixture until it is ready, gcores it, kills it."""
    global INTERP
    if INTERP is None:
        INTERP = Interp(PYTHON)
    return INTERP.take_core(fixture, outdir)


def py_heap(binary, core, *args):
    cmd = shlex.split(os.environ.get("PYHEAP_WRAPPER", "")) + \
        [binary, "--core", core, "--json"] + \
        (INTERP.py_heap_args() if INTERP else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), r.returncode,
                                                r.stderr.strip()))
    if "ERROR: AddressSanitizer" in r.stderr or "runtime error:" in r.stderr:
        raise RuntimeError("sanitizer report: " + r.stderr[-2000:])
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--gdb", action="store_true",
                    help="also run the graph commands through GDB")
    ap.add_argument("--python", help="the interpreter to test (default: "
                    "Debian's /usr/bin/python3.11)")
    a = ap.parse_args()
    global PYTHON, INTERP
    if a.python:
        PYTHON = a.python
    INTERP = Interp(PYTHON)
    outdir = os.path.join(a.cores_dir, "heap_graph-" + INTERP.tag)
    core = take_core("heap_graph.py", outdir)
    with open(os.path.join(outdir, "truth.txt")) as f:
        t = ast.literal_eval(f.read())
    garbage = set(ast.literal_eval(t["garbage"]))

    def run(*args):
        return py_heap(a.bin, core, *args)

    # -- referrers: everything gc.get_referrers() found, with labels --------
    try:
        r = run("referrers", hex(t["marker"]))
        got = {int(x["address"], 16): x["via"] for x in r["referrers"]}
        missing = [hex(x) for x in t["marker_referrers"] if x not in got]
        check("referrers include every gc.get_referrers()", not missing,
              "missing %s" % missing)
        for addr, via in t["marker_vias"].items():
            check("referrers label %s" % via, got.get(addr) == via,
                  "got %r" % got.get(addr))
    except Exception as e:
        check("referrers", False, e)

    # -- path: the module global that holds it --------------------------------
    try:
        p = run("path", hex(t["deep"]))
        vias = [s["via"] for s in p["path"]][1:]
        check("path root is module __main__", p["root"] == "module __main__",
              p["root"])
        check("path steps", vias == t["deep_path"], vias)
        check("path ends at the object",
              int(p["path"][-1]["address"], 16) == t["deep"], p["path"][-1])
    except Exception as e:
        check("path", False, e)

    # -- roots: the root path names is among them, holding what path says
    try:
        p = run("path", hex(t["deep"]))
        r = run("roots", "--match", "module __main__")
        rows = [x for x in r["roots"] if x["name"] == p["root"]]
        check("roots: path's root, holding the path's first object",
              rows and int(rows[0]["address"], 16) ==
              int(p["path"][0]["address"], 16) and
              r["total"] == len(r["roots"]), r["roots"][:3])
    except Exception as e:
        check("roots", False, e)

    # -- one session, cycles first: the graph it builds (referents only)
    #    is completed for the commands after it, which answer as alone ----
    try:
        cmds = os.path.join(outdir, "cycles-first.batch")
        with open(cmds, "w") as f:
            f.write("cycles --unreachable\nreferrers %s\npath %s\n"
                    "refcheck\n" % (hex(t["marker"]), hex(t["deep"])))
        cmd = shlex.split(os.environ.get("PYHEAP_WRAPPER", "")) + \
            [a.bin, "--core", core, "--json"] + \
            (INTERP.py_heap_args() if INTERP else []) + ["--batch", cmds]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        dec, outs, rest = json.JSONDecoder(), [], r.stdout.strip()
        while rest:
            obj, end = dec.raw_decode(rest)
            outs.append(obj)
            rest = rest[end:].strip()
        alone = [run("cycles", "--unreachable"),
                 run("referrers", hex(t["marker"])),
                 run("path", hex(t["deep"])), run("refcheck")]
        check("session with cycles first: exit 0", r.returncode == 0,
              r.stderr.strip()[-500:])
        lines = ["cycles --unreachable", "referrers %s" % hex(t["marker"]),
                 "path %s" % hex(t["deep"]), "refcheck"]
        check("session with cycles first: each answer names its line",
              [o.pop("command", None) for o in outs] == lines,
              "%d answers" % len(outs))
        check("session with cycles first: each answer as when alone",
              outs == alone, "%d answers" % len(outs))
    except Exception as e:
        check("session with cycles first", False, e)

    # -- show: repr() of simple values ---------------------------------------
    for name, (addr, rep) in t["values"].items():
        try:
            s = run("show", hex(addr))
            check("show %s" % name, s["repr"] == rep, "%r != %r" % (s["repr"], rep))
        except Exception as e:
            check("show %s" % name, False, e)

    # -- cycles --unreachable: exactly what gc.collect() frees ---------------
    try:
        c = run("cycles", "--unreachable")
        dead = {int(x, 16) for x in c["unreachable"]}
        check("unreachable objects == gc.collect()'s garbage",
              dead == garbage,
              "extra %d, missing %d" % (len(dead - garbage), len(garbage - dead)))
        members = [{int(m, 16) for m in cy["members"]} for cy in c["cycles"]]
        for name, ids in t["cycles"].items():
            found = [m for m in members if set(ids) <= m]
            check("cycle %s found" % name, len(found) == 1,
                  "%d matching cycles" % len(found))
            if found:
                check("cycle %s exact members" % name, found[0] == set(ids),
                      "%d members, expected %d" % (len(found[0]), len(ids)))
        bytype = {}
        for cy in c["cycles"]:
            for tn, n in cy["types"].items():
                if tn.startswith("__main__."):
                    bytype[tn] = bytype.get(tn, 0) + n
        expect = {"__main__.C2": 2, "__main__.C3": 3, "__main__.C100": 100,
                  "__main__.SelfLoop": 1, "__main__.DictCycle": 1,
                  "__main__.ListHolder": 1, "__main__.BoundCycle": 1}
        check("cycle member types", bytype == expect, bytype)
        # Before 3.11 each instance's attributes are in its own __dict__,
        # a dict on the loop between two instances.
        old = INTERP.version_info < (3, 11)
        for cy in c["cycles"]:
            if cy["types"] == ({"__main__.C3": 3, "dict": 3} if old
                               else {"__main__.C3": 3}):
                vias = [s["via"] for s in cy["loop"]]
                check("loop of C3 written out", vias == (
                    [".__dict__", "['peer']"] * 3 if old else [".peer"] * 3),
                    vias)
        check("every member of an unreachable cycle is garbage",
              all(m <= garbage for m in members))
    except Exception as e:
        check("cycles", False, e)

    # -- refcount: the exact excess of each raised object ---------------------
    for name, (addr, k, _) in t["raised"].items():
        try:
            r = run("refcount", hex(addr))
            check("refcount excess %s" % name, r["excess"] == k,
                  "excess %d, expected %d" % (r["excess"], k))
            check("refcount immortal flag %s" % name, r["immortal"] is False)
        except Exception as e:
            check("refcount %s" % name, False, e)
    addr, k = t["raised_list"]
    try:
        r = run("refcount", hex(addr))
        check("refcount excess list", r["excess"] == k, r)
    except Exception as e:
        check("refcount list", False, e)

    # -- refcheck: exactly the raised objects among the fixture's own --------
    try:
        r = run("refcheck")
        mine = {}
        for g in r["excess"]:
            for s in g["suspects"]:
                if g["type"].startswith("__main__."):
                    mine[int(s["address"], 16)] = s["excess"]
        expect = {addr: k for addr, k, _ in t["raised"].values()}
        check("refcheck suspects among __main__ objects", mine == expect,
              "%s != %s" % (mine, expect))
        lists = {int(s["address"], 16): s["excess"]
                 for g in r["excess"] if g["type"] == "list"
                 for s in g["suspects"]}
        check("refcheck finds the raised list",
              lists.get(t["raised_list"][0]) == t["raised_list"][1], lists)
        check("refcheck: no deficit among __main__ objects",
              not [g for g in r["deficit"] if g["type"].startswith("__main__.")])
    except Exception as e:
        check("refcheck", False, e)

    # -- frozen objects are never collected; finalizers are counted ------
    try:
        fdir = os.path.join(a.cores_dir, "heap_frozen-" + INTERP.tag)
        fcore = INTERP.take_core("heap_frozen.py", fdir,
                                 need=("ready", "truth.json"))
        with open(os.path.join(fdir, "truth.json")) as f:
            ft = json.load(f)
        c = py_heap(a.bin, fcore, "cycles", "--unreachable")
        check("frozen: the permanent generation is counted apart",
              c["frozen_objects"] == ft["frozen"],
              (c["frozen_objects"], ft["frozen"]))
        check("frozen: unreachable is what the collector finds (before "
              "finalizers)", c["unreachable_objects"] == ft["unreachable"],
              (c["unreachable_objects"], ft["unreachable"]))
        fin = c["unreachable_with_finalizers"]
        check("frozen: a finalizer for each cycle with finalizers",
              fin == sum(1 for x in c["cycles"]
                         if x["unreachable"] and x["finalizers"]) and
              fin <= ft["generators"], fin)
        in_fin = sum(x["objects"] for x in c["cycles"]
                     if x["unreachable"] and x["finalizers"])
        if INTERP.free_threaded:
            # (the free-threaded collector counts what the generators'
            # finalizers free too: measured on 3.13t, gc.collect() 29 =
            # every unreachable object, DEBUG_SAVEALL's gc.garbage 29)
            check("frozen: gc.collect()'s count is every unreachable "
                  "object (free-threaded)",
                  c["unreachable_objects"] == ft["collected"],
                  (c["unreachable_objects"], ft["collected"]))
        else:
            check("frozen: gc.collect()'s count is the unreachable less the "
                  "cycles with finalizers", in_fin == ft["freed_by_finalizers"]
                  and c["unreachable_objects"] - in_fin == ft["collected"],
                  (in_fin, ft["freed_by_finalizers"]))
        check("frozen: collect_returns is gc.collect()'s count, "
              "freed_by_finalizers what the finalizers freed",
              c["collect_returns"] == ft["collected"] and
              (INTERP.free_threaded or
               c["freed_by_finalizers"] == ft["freed_by_finalizers"]),
              (c["collect_returns"], ft["collected"],
               c["freed_by_finalizers"], ft["freed_by_finalizers"]))
        rings = [x for x in c["cycles"]
                 if x["types"].get("__main__.Node") == 3]
        check("frozen: only the rings not frozen are garbage",
              len(rings) == ft["rings"] and
              all(x["finalizers"] == 0 for x in rings), len(rings))
    except Exception as e:
        check("frozen", False, e)

    # -- GDB: the same answers through the extension --------------------------
    if a.gdb:
        try:
            out = subprocess.run(
                ["gdb", "-batch", "-nx"] + INTERP.gdb_args() + ["-ex",
                 "source %s" % os.path.join(ROOT, "gdb/py-heap.py"),
                 "-ex", "set $m = %d" % t["marker"],
                 "-ex", "py-heap referrers $m --json",
                 INTERP.exe, core], capture_output=True,
                text=True, timeout=300)
            line = [l for l in out.stdout.splitlines() if l.startswith("{")]
            r = json.loads(line[-1]) if line else {}
            got = {int(x["address"], 16) for x in r.get("referrers", [])}
            check("gdb: referrers of an expression",
                  set(t["marker_referrers"]) <= got, out.stderr[-500:])
        except Exception as e:
            check("gdb referrers", False, e)

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
