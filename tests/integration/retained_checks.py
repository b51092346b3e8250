#!/usr/bin/env python3
"""Truth tests of retained sizes, the dominator tree and the leak suspects.

On one interpreter (--python, default Debian's /usr/bin/python3.11):

  * fixtures/heap_retained.py, whose retained sets are known by
    construction: each container's retained set (py-heap's, from the
    dominators it exports) is exactly the objects the fixture built for it
    alone, with their count and sys.getsizeof() sum; the Markers and lists
    that died when a forked child deleted the container and collected are
    exactly those in it; each entry's retained size; types --retained;
    leaks finds the container, show and the tree agree; weak references are
    no edges and no path goes through one; an unreachable list's own root;
  * an independent oracle: the graph py-heap used (dominators --export),
    its immediate dominators recomputed by networkx (Debian's
    python3-networkx), equal for every object, and the retained sizes
    summed from networkx's tree equal py-heap's, on the cores of
    heap_retained.py, heap_graph.py, heap_basic.py and the demo program;
  * with --gdb, the same answers through GDB.

    python3 tests/integration/retained_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY] [--gdb]

Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import argparse
import ast
import json
import os
import shlex
import subprocess
import sys
import time

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
results = {"passed": 0, "failed": 0}
INTERP = None


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print("PASS", name)
    else:
        results["failed"] += 1
        print("FAIL %s: %s" % (name, str(detail)[:1500]))
    sys.stdout.flush()


def py_heap(binary, core, *args):
    cmd = shlex.split(os.environ.get("PYHEAP_WRAPPER", "")) + \
        [binary, "--core", core, "--json"] + INTERP.py_heap_args() + \
        list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), r.returncode,
                                                r.stderr.strip()[-2000:]))
    if "ERROR: AddressSanitizer" in r.stderr or "runtime error:" in r.stderr:
        raise RuntimeError("sanitizer report: " + r.stderr[-2000:])
    return json.loads(r.stdout)


# ---- the exported graph and the oracle -----------------------------------

class Export:
    """dominators --export FILE: by object, its address, size, py-heap's
    immediate dominator, retained count and bytes, and its referents; the
    roots' objects."""

    def __init__(self, path):
        with open(path) as f:
            head = f.readline()
            if not head.startswith("py-heap dominators 2"):
                raise ValueError("%s: not an export" % path)
            f.readline()
            lines = f.read().split("\n")
        self.addr, self.size, self.idom, self.count, self.bytes = \
            [], [], [], [], []
        self.succ, self.roots = [], []
        for line in lines:
            t = line.split(" ")
            if t[0] == "o":
                self.addr.append(int(t[1], 16))
                self.size.append(int(t[2]))
                self.idom.append(t[3] if t[3] in ("R", "U") else int(t[3]))
                self.count.append(int(t[4]))
                self.bytes.append(int(t[5]))
                self.succ.append(list(map(int, t[6:])))
            elif t[0] == "r":
                self.roots = list(map(int, t[1:]))
        self.n = len(self.addr)
        self.nedges = sum(map(len, self.succ))
        self.index = {a: i for i, a in enumerate(self.addr)}

    def pred(self):
        pred = [[] for _ in range(self.n)]
        for a, ss in enumerate(self.succ):
            for b in ss:
                pred[b].append(a)
        return pred

    def subtree(self, x):
        """Object numbers py-heap's tree puts under x, x included."""
        kids = {}
        for y, d in enumerate(self.idom):
            if d not in ("R", "U"):
                kids.setdefault(d, []).append(y)
        out, stack = set(), [x]
        while stack:
            y = stack.pop()
            out.add(y)
            stack.extend(kids.get(y, ()))
        return out


def oracle(exp):
    """networkx's immediate dominators of the graph py-heap exported, with
    its two virtual roots: "R" above every root target, and "U" above the
    objects no root reaches, entered as the manual says (first those
    nothing else refers to, then, in object order, each one not reached
    yet that refers to anything but root targets). Returns (objects whose
    dominator differs, objects whose retained size differs, detail)."""
    import networkx as nx
    n = exp.n
    succ, pred = exp.succ, exp.pred()
    rt = set(exp.roots)
    reach = [False] * n
    stack = []
    for r in exp.roots:
        if not reach[r]:
            reach[r] = True
            stack.append(r)
    while stack:
        u = stack.pop()
        for v in succ[u]:
            if not reach[v]:
                reach[v] = True
                stack.append(v)
    seen = list(reach)
    entries = []
    for pas in (1, 2):
        for x in range(n):
            if seen[x]:
                continue
            if pas == 1 and any(p != x for p in pred[x]):
                continue
            if pas == 2 and all(v == x or v in rt for v in succ[x]):
                continue
            entries.append(x)
            seen[x] = True
            stack = [x]
            while stack:
                u = stack.pop()
                for v in succ[u]:
                    if not seen[v]:
                        seen[v] = True
                        stack.append(v)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from((a, b) for a in range(n) for b in succ[a]
                     if reach[a] == reach[b])
    g.add_edges_from(("R", r) for r in exp.roots)
    g.add_edges_from(("U", x) for x in entries)
    idom = dict(nx.immediate_dominators(g, "U"))
    idom.update(nx.immediate_dominators(g, "R"))
    bad = [x for x in range(n) if idom.get(x) != exp.idom[x]]
    # retained sizes from networkx's tree: children before their dominator
    depth = {"R": 0, "U": 0}
    for x in range(n):
        path = []
        y = x
        while y not in depth:
            path.append(y)
            y = idom[y]
        d = depth[y]
        for z in reversed(path):
            d += 1
            depth[z] = d
    cnt, byt = [1] * n, list(exp.size)
    for x in sorted(range(n), key=lambda x: -depth[x]):
        p = idom[x]
        if p not in ("R", "U"):
            cnt[p] += cnt[x]
            byt[p] += byt[x]
    rbad = [x for x in range(n)
            if (cnt[x], byt[x]) != (exp.count[x], exp.bytes[x])]
    detail = ["0x%x: py-heap %r, networkx %r" % (exp.addr[x], exp.idom[x],
                                                 idom.get(x))
              for x in bad[:5]]
    return bad, rbad, detail


def oracle_checks(binary, core, label, outdir):
    try:
        t0 = time.time()
        path = os.path.join(outdir, "dominators.export")
        r = py_heap(binary, core, "dominators", "--export", path)
        exp = Export(path)
        check("%s: export: every object and edge" % label,
              exp.n == r["objects"] and exp.nedges == r["edges"],
              "%d objects, %d edges" % (exp.n, exp.nedges))
        bad, rbad, detail = oracle(exp)
        check("%s: networkx's immediate dominators, all %d objects" %
              (label, exp.n), not bad, "%d differ: %s" % (len(bad), detail))
        check("%s: retained sizes from networkx's tree" % label, not rbad,
              "%d differ" % len(rbad))
        print("    (%s: %d objects, %d edges, %.1f s)" % (
            label, exp.n, exp.nedges, time.time() - t0))
        return exp
    except Exception as e:
        check("%s: oracle" % label, False, e)
        return None


# ---- heap_retained.py ---------------------------------------------------------

def retained_checks(a, binary, core, t, exp, outdir):
    def run(*args):
        return py_heap(binary, core, *args)

    by_addr = exp.index
    markers = set(t["markers"])
    lists = set(t["lists"])
    for name, c in sorted(t["containers"].items()):
        label = "container %s" % name
        try:
            r = run("retained", hex(c["address"]))
            check("%s: retained objects and bytes as built" % label,
                  r["retained"] == {"objects": c["count"],
                                    "bytes": c["bytes"]},
                  "%s, expected %d objects, %d bytes" % (
                      r["retained"], c["count"], c["bytes"]))
            check("%s: its immediate dominator" % label,
                  r["dominated_by"] == "object" and
                  int(r["dominator"], 16) == c["dominator"],
                  (r["dominator"], r["dominator_type"], hex(c["dominator"])))
            got = {exp.addr[x] for x in exp.subtree(by_addr[c["address"]])}
            want = set(c["ids"])
            check("%s: the retained set is the objects built for it alone" %
                  label, got == want,
                  "%d extra (%s), %d missing" % (
                      len(got - want), [hex(x) for x in sorted(got - want)][:5],
                      len(want - got)))
            died = ast.literal_eval(t["died"][name])
            if "error" in died:
                raise RuntimeError("the forked child: " + died["error"])
            # (the garbage list's marker dies in every collection)
            dead = set(died["died_markers"]) - set(t["garbage"][1])
            check("%s: the markers that died when it was deleted are those "
                  "it retains" % label,
                  dead == got & markers and
                  set(died["alive_markers"]) == markers - got,
                  "died %d, py-heap %d, alive but retained %d" % (
                      len(dead), len(got & markers),
                      len(set(died["alive_markers"]) & got)))
            check("%s: and the lists that left gc.get_objects()" % label,
                  set(died["alive_ids"]) == lists - got,
                  "%d lists gone, py-heap retains %d" % (
                      len(lists - set(died["alive_ids"])), len(got & lists)))
            check("%s: markers die (the test sees something)" % label,
                  len(dead) == len(set(c["markers"])) and
                  (name == "D" or dead), len(dead))
        except Exception as e:
            check(label, False, e)

    c = t["containers"]["C"]
    # -- each entry's own retained set, and types --retained ---------------
    try:
        r = run("dominators", "--type", "__main__.Entry", "--limit", "0")
        rows = {int(x["address"], 16): (x["retained_objects"],
                                        x["retained_bytes"])
                for x in r["dominators"]}
        want = {int(k): tuple(v) for k, v in t["entries"].items()}
        bad = [k for k in want if rows.get(k) != want[k]]
        check("dominators --type: every Entry retains what it owns "
              "(%d entries)" % len(want),
              not bad and len(rows) == len(want) == r["matching"],
              "%d differ, e.g. %s" % (len(bad), [(hex(k), rows.get(k), want[k])
                                                 for k in bad[:3]]))
        order = [x["retained_bytes"] for x in r["dominators"]]
        check("dominators: largest first", order == sorted(order, reverse=True))
        ty = run("types", "--retained")
        rows = {x["type"]: x for x in ty["types"]}
        e = rows["__main__.Entry"]
        check("types --retained: Entry's retained bytes and objects",
              (e["retained_objects"], e["retained_bytes"]) ==
              (sum(v[0] for v in want.values()),
               sum(v[1] for v in want.values())), e)
        m = rows["__main__.Marker"]
        check("types --retained: a Marker retains itself only",
              (m["retained_objects"], m["retained_bytes"]) ==
              (m["count"], m["bytes"]), m)
        check("types --retained: sorted by retained bytes",
              [x["retained_bytes"] for x in ty["types"]] ==
              sorted((x["retained_bytes"] for x in ty["types"]),
                     reverse=True))
        check("types --retained: no row retains more than the heap",
              all(x["retained_bytes"] <= ty["bytes"] for x in ty["types"]))
    except Exception as e:
        check("entries and types --retained", False, e)

    # -- leaks: the container, down from the module in one command ---------
    try:
        r = run("leaks")
        acc = [s for s in r["suspects"]
               if int(s["accumulation"]["address"], 16) == c["address"]]
        check("leaks: C is an accumulation point", len(acc) == 1,
              [(s["type"], s["share"], s["accumulation"]["type"])
               for s in r["suspects"]])
        if acc:
            s, ac = acc[0], acc[0]["accumulation"]
            check("leaks: its children: the Entries it alone holds",
                  ac["children_type"] == "__main__.Entry" and
                  ac["children"] == c["exclusive_entries"] and
                  ac["children_total"] == c["exclusive_entries"] +
                  c["members"], ac)
            check("leaks: its path and retained size",
                  [x["via"] for x in ac["path"]][1:] ==
                  ["['REGISTRY']", "['sessions']", "['cache']"] and
                  ac["retained_bytes"] == c["bytes"] and
                  ac["retained_objects"] == c["count"], ac["path"])
            keys = {"address", "type", "retained_bytes", "retained_objects",
                    "share", "path", "accumulation"}
            akeys = {"address", "type", "path", "children", "children_type",
                     "children_bytes"}
            check("leaks: the JSON fields", keys <= set(s) and
                  akeys <= set(ac), sorted(s))
            check("leaks: the suspect retains at least the share asked",
                  all(x["retained_bytes"] >= r["threshold"] and
                      x["share"] >= 10 for x in r["suspects"]))
        r2 = run("leaks", "--min-share", "99.5")
        check("leaks --min-share 99.5: no suspect", r2["suspects"] == [],
              r2["suspects"][:1])
    except Exception as e:
        check("leaks", False, e)

    # -- show, the tree --------------------------------------------------------
    try:
        s = run("show", hex(c["address"]))
        check("show: retained", s["retained"] == {"objects": c["count"],
                                                  "bytes": c["bytes"]},
              s["retained"])
        r = run("dominators", "--tree", hex(c["address"]), "--depth", "1",
                "--limit", "0")
        kids = {int(x["address"], 16) for x in r["tree"]["children"]}
        x = by_addr[c["address"]]
        want = {exp.addr[y] for y, d in enumerate(exp.idom) if d == x}
        check("dominators --tree: the children of C", kids == want and
              r["tree"]["retained_bytes"] == c["bytes"],
              "%d children, %d expected" % (len(kids), len(want)))
        top = run("dominators", "--tree", "root", "--depth", "1",
                  "--limit", "5")
        check("dominators --tree root: the roots' tree",
              top["tree"]["virtual"] == "root" and
              top["tree"]["retained_objects"] == top["reachable_objects"] and
              len(top["tree"]["children"]) == 5, top["tree"].get("virtual"))
    except Exception as e:
        check("show and the tree", False, e)

    # -- weak references keep nothing alive ----------------------------------
    try:
        weak_edges = [(by_addr[w], by_addr[e]) for w, e in t["weak"]]
        check("no edge from a weak reference to its object",
              not [(w, e) for w, e in weak_edges if e in exp.succ[w]],
              len(weak_edges))
        w, e = t["weak"][0]
        p = run("path", hex(e))
        check("path to an entry with weak references: through C",
              [x["via"] for x in p["path"]][1:4] ==
              ["['REGISTRY']", "['sessions']", "['cache']"] and
              not [x for x in p["path"] if "Ref" in x["type"] or
                   "weakref" in x["type"]], p["path"])
    except Exception as e:
        check("weak references", False, e)

    # -- an unreachable list: its own root ------------------------------------
    try:
        gid, gids, gbytes = t["garbage"]
        r = run("retained", hex(gid))
        check("an unreachable list: under the unreachable root, retaining "
              "what only it holds",
              r["dominated_by"] == "unreachable" and not r["reachable"] and
              r["path"] == [] and r["retained"] ==
              {"objects": len(gids), "bytes": gbytes}, r)
    except Exception as e:
        check("unreachable", False, e)

    # -- GDB: the same answers -------------------------------------------------
    if a.gdb:
        try:
            cmds = ["retained $c --json",
                    "dominators --tree $c --depth 1 --limit 3 --json",
                    "leaks --json"]
            ex = []
            for cm in cmds:
                ex += ["-ex", "py-heap " + cm]
            out = subprocess.run(
                ["gdb", "-batch", "-nx"] + INTERP.gdb_args() +
                ["-ex", "source %s" % os.path.join(ROOT, "gdb/py-heap.py"),
                 "-ex", "set $c = %d" % c["address"]] + ex +
                [INTERP.exe, core], capture_output=True, text=True,
                timeout=600)
            got = [json.loads(l) for l in out.stdout.splitlines()
                   if l.startswith("{")]
            want = [run("retained", hex(c["address"])),
                    run("dominators", "--tree", hex(c["address"]),
                        "--depth", "1", "--limit", "3"),
                    run("leaks")]
            check("gdb: retained, dominators --tree and leaks as the CLI's",
                  got == want, out.stderr[-800:])
        except Exception as e:
            check("gdb", False, e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--python", default="/usr/bin/python3.11",
                    help="the interpreter to test")
    ap.add_argument("--gdb", action="store_true",
                    help="also ask GDB")
    ap.add_argument("--oracle", default="heap_graph,heap_basic,demo_app",
                    help="fixtures whose cores the oracle checks too")
    a = ap.parse_args()
    global INTERP
    INTERP = Interp(a.python)
    binary = os.path.abspath(a.bin)
    cores_dir = os.path.abspath(a.cores_dir)
    print("interpreter: %s (%s)" % (a.python, INTERP.version))

    outdir = os.path.join(cores_dir, "heap_retained-" + INTERP.tag)
    try:
        core = INTERP.take_core("heap_retained.py", outdir,
                                need=("ready", "truth.txt"))
        with open(os.path.join(outdir, "truth.txt")) as f:
            t = ast.literal_eval(f.read())
    except Exception as e:
        check("heap_retained: core", False, e)
        core = None
    if core:
        exp = oracle_checks(binary, core, "heap_retained", outdir)
        if exp:
            retained_checks(a, binary, core, t, exp, outdir)

    need = {"heap_graph": ("ready", "truth.txt"),
            "heap_basic": ("ready", "truth.json"),
            "demo_app": ("ready",)}
    for name in [x for x in a.oracle.split(",") if x]:
        d = os.path.join(cores_dir, "%s-%s" % (name, INTERP.tag))
        try:
            c = INTERP.take_core(name + ".py", d, need=need.get(name,
                                                                ("ready",)))
        except Exception as e:
            check("%s: core" % name, False, e)
            continue
        oracle_checks(binary, c, name, d)

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
