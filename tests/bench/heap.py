#!/usr/bin/python3.11
"""heap.py N OUTDIR - the benchmark's heap, and the in-process tools timed on it.

Builds a heap of about N objects (counting every object, tracked by the GC
or not) of a realistic mix:

  * instances of a plain class (Node: attributes in inline values, no
    materialised __dict__) and of a __slots__ class (Point);
  * the attribute values: unique str, int, float, bytes, tuples, small dicts,
    lists of children;
  * cross links (Node.link to an earlier node, children lists);
  * reference cycles: 1% of N objects in 2-member (Cyc <-> Cyc) and
    3-member (list -> dict -> Cyc -> list) cycles that nothing else
    references, kept alive because the collector is disabled.

Then, on that heap and in this process, it times what one would do without
py-heap, and writes OUTDIR/inproc.json:

  typestats      objgraph.typestats(shortnames=False): count gc.get_objects()
                 by qualified type name (median of 3)
  get_objects    gc.get_objects() alone (median of 3)
  get_referrers  gc.get_referrers(target) for one Node (median of 3)

then writes OUTDIR/ready and waits for OUTDIR/core-taken (the parent takes a
core of this process meanwhile). After that, the heap is not the core's any
more, so what changes it comes last:

  closure        the objects reachable in-process from gc.get_objects()
                 through untracked objects (what py-heap's "GC lists" plus
                 "references" stages find), counted, to compare with py-heap
  gc.collect()   once (frees the cycles), and once more (nothing to free)

written to OUTDIR/inproc-gc.json. Then the heap changes as a leaking
service's would, for a second core (diff's benchmark): a twentieth of N more
nodes in chunks of their own, and the first tenth of the chunks dropped; it
writes OUTDIR/ready2 and waits for OUTDIR/core2-taken.

heap.py N --serve builds the same heap and times the in-process tools when
asked (typestats, a gc-based snapshot of ids and types, the growth, the
diff of two such snapshots, networkx's dominators of the heap's graph), one request a line on stdin: the bench runs
them between py-heap's runs, under the same load. Nothing but the
standard library.
"""
import gc
import json
import os
import random
import sys
import time

gc.disable()


class Node:
    """A plain class: attributes stored as inline values (3.11)."""


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


class Cyc:
    """Members of the unreachable cycles."""


ROOTS = []          # chunks of nodes: every record is reachable from here
REGISTRY = {}       # name -> node, for one node in 16
TARGET = None       # the node timed with gc.get_referrers / py-heap referrers
CHUNK = 1000


def build(n):
    """Build about n objects; return how many this function made."""
    global TARGET
    rnd = random.Random(1234)
    ncyc = n // 100                 # objects in cycles
    nrec_objs = n - ncyc
    made = 0
    nodes = []                      # the current chunk
    ROOTS.append(nodes)
    made += 1
    allnodes_count = 0
    recent = []                     # a window of earlier nodes, for links
    i = 0
    while made < nrec_objs:
        nd = Node()
        name = "node-%d" % i
        nd.name = name
        nd.value = i * 7 + 1000
        nd.weight = i * 0.5 + 0.25
        nd.pt = Point(i * 1.5 + 0.1, -i * 2.5 - 0.1)
        nd.tags = (name, nd.value, -i - 1000)
        made += 1 + 1 + 1 + 1 + 3 + 2
        if i % 2 == 0:
            nd.attrs = {"id": nd.value, "label": "L%d" % i,
                        "score": i * 0.125 + 0.5}
            made += 3
        if i % 4 == 0 and len(recent) >= 3:
            nd.children = rnd.sample(recent, 3)
            made += 1
        if i % 10 == 0:
            nd.blob = ("blob-%d;" % i).encode() * 4
            made += 1
        if recent:
            nd.link = recent[rnd.randrange(len(recent))]
        if i % 16 == 0:
            REGISTRY[name] = nd
        nodes.append(nd)
        allnodes_count += 1
        if len(recent) < 64:
            recent.append(nd)
        else:
            recent[rnd.randrange(64)] = nd
        if len(nodes) == CHUNK:
            nodes = []
            ROOTS.append(nodes)
            made += 1
        i += 1
    TARGET = ROOTS[len(ROOTS) // 2][0]
    # The cycles: half the objects in 2-cycles, half in 3-cycles.
    c = 0
    a = b = lst = d = x = None
    while c < ncyc:
        if (c // 2) % 5 < 2 or ncyc - c < 3:
            a, b = Cyc(), Cyc()
            a.peer = b
            b.peer = a
            c += 2
        else:
            lst = []
            d = {"c": None}
            x = Cyc()
            lst.append(d)
            d["c"] = x
            x.back = lst
            c += 3
    del a, b, lst, d, x
    made += c
    return made, allnodes_count, c


def qualname(o):
    # objgraph._long_typename
    t = type(o)
    m = getattr(t, "__module__", None)
    n = t.__name__
    if m in (None, "builtins", "__builtin__"):
        return n
    return m + "." + n


def typestats():
    stats = {}
    for o in gc.get_objects():
        n = qualname(o)
        stats[n] = stats.get(n, 0) + 1
    return stats


def timed(fn, runs=3):
    times = []
    res = None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
        res_keep = res
        res = None
    times.sort()
    return times[len(times) // 2], times, res_keep


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def closure_count(objs):
    """Objects reachable from the GC lists through untracked ones."""
    seen = set(map(id, objs))
    stack = []
    for o in objs:
        for r in gc.get_referents(o):
            if id(r) not in seen:
                seen.add(id(r))
                if not gc.is_tracked(r):
                    stack.append(r)
    while stack:
        o = stack.pop()
        for r in gc.get_referents(o):
            if id(r) not in seen:
                seen.add(id(r))
                if not gc.is_tracked(r):
                    stack.append(r)
    return len(seen)


def grow(n):
    """The heap changes as a leaking service's would: n/20 more nodes in
    chunks of their own, the first tenth of the chunks dropped."""
    dropped = len(ROOTS) // 10
    del ROOTS[:dropped]
    nodes, k = [], 0
    while k * 6 < n // 20:          # a node, its name, value, Point and
        nd = Node()                 # the Point's two floats
        nd.name = "grown-%d" % k
        nd.value = k * 3 + 7000000
        nd.pt = Point(k * 0.5 + 0.1, -k * 0.5 - 0.1)
        nodes.append(nd)
        if len(nodes) == CHUNK:
            ROOTS.append(nodes)
            nodes = []
        k += 1
    ROOTS.append(nodes)
    return k, dropped


def id_types():
    """What a gc-based in-process snapshot keeps: every tracked object's
    id and type name."""
    return {id(o): qualname(o) for o in gc.get_objects()}


def id_diff(old, new):
    """New and freed objects by type between two id_types() maps."""
    grew, freed = {}, {}
    for i, t in new.items():
        if old.get(i) != t:
            grew[t] = grew.get(t, 0) + 1
    for i, t in old.items():
        if new.get(i) != t:
            freed[t] = freed.get(t, 0) + 1
    return grew, freed


def nx_dominators():
    """The in-process equivalent of py-heap's dominator tree: the graph of
    what is reachable from sys.modules and builtins (gc.get_referents),
    built into a networkx DiGraph, and networkx.immediate_dominators from
    a root above them. Returns the number of objects reached."""
    import networkx as nx
    roots = [sys.modules, vars(__builtins__) if hasattr(__builtins__,
                                                        "__dict__")
             else __builtins__]
    g = nx.DiGraph()
    stack = list(roots)
    seen = set(map(id, roots))
    for r in roots:
        g.add_edge(0, id(r))
    while stack:
        o = stack.pop()
        io = id(o)
        for r in gc.get_referents(o):
            ir = id(r)
            g.add_edge(io, ir)
            if ir not in seen:
                seen.add(ir)
                stack.append(r)
    nx.immediate_dominators(g, 0)
    return len(seen)


def serve(n):
    """heap.py N --serve: the same heap, and the in-process tools timed on
    request (one word a line on stdin, the seconds on stdout), so that the
    bench can interleave them with py-heap's runs under the same load."""
    build(n)
    snap = None
    print("ready", flush=True)
    for line in sys.stdin:
        what = line.strip()
        t0 = time.perf_counter()
        if what == "typestats":
            typestats()
        elif what == "snapshot":
            snap = id_types()
        elif what == "grow":
            grow(n)
        elif what == "diff":
            id_diff(snap, id_types())
        elif what == "nx_dominators":
            nx_dominators()
        elif what == "quit":
            return
        else:
            print("error %s" % what, flush=True)
            continue
        print("%.9f" % (time.perf_counter() - t0), flush=True)


def main():
    if len(sys.argv) == 3 and sys.argv[2] == "--serve":
        serve(int(sys.argv[1]))
        return
    if len(sys.argv) != 3:
        sys.exit("usage: heap.py N OUTDIR | heap.py N --serve")
    n = int(sys.argv[1])
    out = sys.argv[2]
    parent = os.getppid()
    t0 = time.perf_counter()
    made, nnodes, ncyc = build(n)
    build_s = time.perf_counter() - t0

    ts_med, ts_all, stats = timed(typestats)
    go_med, go_all, objs = timed(gc.get_objects)
    n_gc_objects = len(objs)
    objs = None
    target = TARGET
    gr_med, gr_all, refs = timed(lambda: gc.get_referrers(target))
    n_referrers = len(refs)
    refs = None
    info = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "pid": os.getpid(),
        "size": n,
        "objects_built": made,
        "nodes": nnodes,
        "cycle_objects": ncyc,
        "build_s": build_s,
        "gc_get_objects": n_gc_objects,
        "typestats_s": ts_med,
        "typestats_runs": ts_all,
        "typestats_types": len(stats),
        "get_objects_s": go_med,
        "get_objects_runs": go_all,
        "get_referrers_s": gr_med,
        "get_referrers_runs": gr_all,
        "target_id": id(target),
        "target_address": "0x%x" % id(target),
        "target_referrers": n_referrers,
    }
    stats = None
    write_json(os.path.join(out, "inproc.json"), info)
    open(os.path.join(out, "ready"), "w").close()

    # The parent takes the core now.
    taken = os.path.join(out, "core-taken")
    deadline = time.monotonic() + 4 * 3600
    while not os.path.exists(taken):
        if os.getppid() != parent or time.monotonic() > deadline:
            sys.exit("heap.py: parent gone or no core-taken; giving up")
        time.sleep(0.05)

    res = {}
    if os.environ.get("BENCH_NO_CLOSURE") is None:
        t0 = time.perf_counter()
        objs = gc.get_objects()
        res["closure_objects"] = closure_count(objs)
        objs = None
        res["closure_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res["gc_collect_freed"] = gc.collect()
    res["gc_collect_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res["gc_collect_again_freed"] = gc.collect()
    res["gc_collect_again_s"] = time.perf_counter() - t0
    write_json(os.path.join(out, "inproc-gc.json"), res)

    k, dropped = grow(n)
    write_json(os.path.join(out, "inproc-grow.json"),
               {"grown_nodes": k, "dropped_chunks": dropped})
    open(os.path.join(out, "ready2"), "w").close()
    taken = os.path.join(out, "core2-taken")
    deadline = time.monotonic() + 4 * 3600
    while not os.path.exists(taken):
        if os.getppid() != parent or time.monotonic() > deadline:
            sys.exit("heap.py: parent gone or no core2-taken; giving up")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
