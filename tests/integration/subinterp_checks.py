#!/usr/bin/env python3
"""Every interpreter of a process: subinterpreters (3.12+), each checked
against the truth it measured about itself.

fixtures/heap_subinterp.py runs the same heap-building code in the main
interpreter and in N isolated subinterpreters (2 and 10; with --threads,
threads blocked in several interpreters at once); each one writes its own
truth (truth.json for the main one, interp-K.json). For each core, one
py-heap session (--batch) answers, and:

  * no damage: `types` exits 0 with no note, the whole `info` says 0
    implausible references;
  * `types --json` lists every interpreter ("interpreters": the truth's
    ids), and their objects and bytes sum to the totals;
  * `types --interp K`: each user class of K (Item, Only<K>, Node, Marker)
    exact in count and sys.getsizeof bytes; with --retained the same rows,
    each retaining at least its own bytes;
  * `list str --interp K` holds every "sub<K>-mk-" string (untracked, in
    K's dict only), with its size;
  * K's marker: `referrers` = K's gc.get_referrers(), `refcount` = its
    sys.getrefcount() - 1 with no excess, `path` from a root named
    "interp K: ...", `show` naming K, tracked and reachable; `graph
    --interp K --depth 1` draws exactly those referrers, none of another
    interpreter's (and `graph --interp 0` of it is refused);
  * `referrers --interp K` of K's marker is K's gc.get_referrers(), and
    with another interpreter's id, nothing; `referents --interp K` of it
    holds its class, with another's, nothing;
  * `snapshot --interp K` saves K's objects and bytes (as `types --interp
    K` counts them), and `diff` of it with `--interp K` against the core
    has them on both sides; without `--interp K` it is refused;
  * `cycles --interp K` holds K's ring of Nodes and its two self-cycles;
  * `refcheck --interp K` (a subinterpreter): no object with fewer
    references than found, and each "sub<K>-leak-" string (its refcount
    raised with Py_IncRef) among those with more;
  * --threads: `roots --interp K` names the frames of parked_in_K (and of
    waiting_in_K, for odd K).

    python3 tests/integration/subinterp_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY]...

Without --python: every 3.9+ interpreter scripts/interpreters.sh finds
(here pyenv's 3.9.18 to 3.13.0, Debian's 3.11, bullseye's 3.9, trixie's
3.13 and sid's 3.14 and 3.15, and the debug builds of 3.11 and 3.13-3.15),
the free-threaded ones too (3.13t, 3.13td: each interpreter's objects are
those of its thread states' mimalloc heaps and of its abandoned pool);
--quick: the first 3.12+ of them. Before 3.12 the subinterpreters are legacy
ones (one allocator for all, no threads of their own): no --threads core,
and a string whose only reference is a raised refcount cannot be told
apart from the main interpreter's. About 15 s an interpreter, 30 s with
its cores taken.
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interp import Interp  # noqa: E402
import graph_checks  # noqa: E402

check = graph_checks.check
HERE = os.path.dirname(os.path.abspath(__file__))


def interpreters():
    """The 3.9+ interpreters scripts/interpreters.sh finds (3.12+:
    isolated subinterpreters, with their own GIL and allocator; 3.9-3.11:
    legacy ones, with a GC state of their own)."""
    out = subprocess.run(["bash", os.path.join(HERE, "..", "..", "scripts",
                                               "interpreters.sh")],
                         capture_output=True, text=True,
                         env=dict(os.environ, PYHEAP_FT="1")).stdout.split()
    return [s for s in out if re.search(r"python3\.(9|1[0-9])t?d?$", s)]


def workdir_of(outdir):
    return outdir


def own_root(name, k):
    """No other interpreter's root: not "interp J: ..." nor J's state's
    C data ("C data: interpreter J+..."); the main one's state is in
    libpython's data (C data: libpython...)."""
    m = re.match(r"(?:interp |C data: interpreter )(\d+)[:+]", name)
    return bool(name) and (not m or int(m.group(1)) == k) and \
        (k == 0 or m is not None)


def batch(binary, it, core, commands, workdir):
    path = os.path.join(workdir, "subinterp.batch")
    with open(path, "w") as f:
        f.write("\n".join(commands) + "\n")
    r = subprocess.run([binary, "--core", core, "--json"] +
                       it.py_heap_args() + ["--batch", path],
                       capture_output=True, text=True, timeout=600,
                       stdin=subprocess.DEVNULL)
    if "AddressSanitizer" in r.stderr or "runtime error:" in r.stderr or \
            r.returncode < 0:
        raise RuntimeError("crash: rc %d %s" % (r.returncode, r.stderr[-2000:]))
    dec, outs, rest = json.JSONDecoder(), [], r.stdout.strip()
    while rest:
        d, end = dec.raw_decode(rest)
        outs.append(d)
        rest = rest[end:].strip()
    return outs, r


def other(ids, k):
    """Another interpreter than k."""
    return ids[(ids.index(k) + 1) % len(ids)]


def snap_of(outdir, k):
    return os.path.join(workdir_of(outdir), "snap-%d.snap" % k)


def users(types):
    return {k: (v["count"], v["bytes"]) for k, v in types.items()
            if k.startswith("__main__.")}


def check_core(binary, it, core, outdir, label):
    truths = {}
    main = json.load(open(os.path.join(outdir, "truth.json")))
    for e in main["interpreters"]:
        truths[e["id"]] = json.load(open(os.path.join(outdir, e["truth"])))
    ids = sorted(truths)
    cmds = ["types --limit 0", "info"]
    for k in ids:
        t = truths[k]
        m = "0x%x" % t["marker"]["id"]
        j = other(ids, k)
        cmds += ["referrers %s --interp %d" % (m, k),
                 "referrers %s --interp %d" % (m, j),
                 "referents %s" % m, "referents %s --interp %d" % (m, k),
                 "referents %s --interp %d" % (m, j)]
        cmds += ["types --limit 0 --interp %d" % k,
                 "types --retained --limit 0 --interp %d" % k,
                 "list str --limit 0 --interp %d" % k,
                 "referrers %s" % m, "refcount %s" % m, "path %s" % m,
                 "show %s --limit 1" % m,
                 "cycles --limit 0 --interp %d" % k,
                 "roots --limit 0 --interp %d" % k,
                 "refcheck --limit 0 --interp %d" % k,
                 "leaks --limit 0 --min-share 1 --interp %d" % k,
                 "dominators --limit 20 --interp %d" % k,
                 "diff %s --interp %d" % (core, k),
                 "graph %s --interp %d --depth 1" % (m, k),
                 "snapshot --interp %d --output %s" % (k, snap_of(outdir, k)),
                 "diff %s --interp %d" % (snap_of(outdir, k), k),
                 "report --interp %d --output %s" % (
                     k, os.path.join(workdir_of(outdir), "report-%d.html" % k))]
    outs, r = batch(binary, it, core, cmds, outdir)
    check("%s: one answer per command" % label, len(outs) == len(cmds),
          "%d of %d; %s" % (len(outs), len(cmds), r.stderr[-300:]))
    if len(outs) != len(cmds):
        return
    by = dict(zip(cmds, outs))
    allt = by["types --limit 0"]
    check("%s: no damage, no note" % label,
          r.returncode == 0 and not allt.get("notes") and
          not allt.get("partial"), "rc %d notes %r %s" % (
              r.returncode, allt.get("notes"), r.stderr[-300:]))
    info = by["info"]
    dmg = info.get("damage", info)
    bad = {k: v for k, v in dmg.items() if k.startswith("refs_to") and v} \
        if isinstance(dmg, dict) else {}
    check("%s: info: no implausible references" % label, not bad, bad)
    rows = allt.get("interpreters", [])
    check("%s: interpreters listed" % label,
          [e["id"] for e in rows] == ids, (rows, ids))
    check("%s: interpreters sum to the totals" % label,
          sum(e["objects"] for e in rows) == allt["objects"] and
          sum(e["bytes"] for e in rows) == allt["bytes"], rows)
    for k in ids:
        t = truths[k]
        tk = by["types --limit 0 --interp %d" % k]
        got = {e["type"]: (e["count"], e["bytes"]) for e in tk["types"]
               if e["type"].startswith("__main__.")}
        want = users(t["types"])
        check("%s: interp %d: user classes exact" % (label, k), got == want,
              {n: (got.get(n), w) for n, w in want.items()
               if got.get(n) != w})
        tr = by["types --retained --limit 0 --interp %d" % k]["types"]
        check("%s: interp %d: types --retained: the same rows, each "
              "retaining at least its own bytes" % (label, k),
              sorted((e["type"], e["count"], e["bytes"]) for e in tr) ==
              sorted((e["type"], e["count"], e["bytes"]) for e in tk["types"])
              and all(e["retained_bytes"] >= e["bytes"] for e in tr),
              [e for e in tr if e["retained_bytes"] < e["bytes"]][:3])
        strs = {int(e["address"], 16): e["size"] for e in
                by["list str --limit 0 --interp %d" % k]["objects"]}
        mk = t["markers"]["sub%d-mk-" % k]
        miss = [i for i, s in zip(mk["ids"], mk["sizes"])
                if strs.get(i) != s]
        check("%s: interp %d: its %d marker strings, sizes exact" % (
            label, k, mk["count"]), not miss, "%d missing: %s" % (
                len(miss), miss[:3]))
        m = "0x%x" % t["marker"]["id"]
        rf = by["referrers %s" % m]
        got_r = sorted(int(e["address"], 16) for e in rf.get("referrers", []))
        want_r = sorted(e["id"] for e in t["marker"]["referrers"])
        check("%s: interp %d: marker's referrers" % (label, k),
              got_r == want_r, (got_r, want_r))
        j = other(ids, k)
        rk = sorted(int(e["address"], 16) for e in
                    by["referrers %s --interp %d" % (m, k)].get(
                        "referrers", []))
        rj = by["referrers %s --interp %d" % (m, j)].get("referrers")
        check("%s: interp %d: referrers --interp K of its marker: K's "
              "gc.get_referrers(); --interp %d: none" % (label, k, j),
              rk == want_r and rj == [], (rk, want_r, rj))
        ra = by["referents %s" % m].get("referents", [])
        rn = by["referents %s --interp %d" % (m, k)].get("referents", [])
        rjn = by["referents %s --interp %d" % (m, j)].get("referents")
        check("%s: interp %d: referents --interp K of its marker: of the "
              "referents, K's (its class); --interp %d: none" % (
                  label, k, j),
              rn and all(x in ra for x in rn) and rjn == [],
              (len(ra), len(rn), rjn))
        rc = by["refcount %s" % m]
        check("%s: interp %d: marker's refcount, no excess" % (label, k),
              rc.get("refcount") == t["marker"]["refcount"] and
              rc.get("excess") == 0, (rc.get("refcount"), rc.get("excess"),
                                      t["marker"]["refcount"]))
        p = by["path %s" % m]
        check("%s: interp %d: path from its own root" % (label, k),
              str(p.get("root", "")).startswith("interp %d: " % k), p.get("root"))
        sh = by["show %s --limit 1" % m]
        check("%s: interp %d: show: its interpreter, tracked, reachable" % (
            label, k), sh.get("interpreter") == k and
            sh.get("gc", "").startswith("tracked") and sh.get("reachable"),
            (sh.get("interpreter"), sh.get("gc"), sh.get("reachable")))
        cy = by["cycles --limit 0 --interp %d" % k]
        members = [set(int(a, 16) for a in c.get("members", []))
                   for c in cy.get("cycles", [])]
        ring = set(t["cycles"]["ring"])
        check("%s: interp %d: its ring and self-cycles" % (label, k),
              any(ring <= s for s in members) and
              any(t["cycles"]["self_list"] in s for s in members) and
              any(t["cycles"]["self_dict"] in s for s in members),
              "%d cycles" % len(members))
        if k:
            # (the main interpreter's frames hold stale words: 3.13's
            # entry frames; checked by run.py on one interpreter)
            rc = by["refcheck --limit 0 --interp %d" % k]
            sus = set(int(e["address"], 16) for x in rc.get("excess", [])
                      for e in x["suspects"])
            leak = t["markers"].get("sub%d-leak-" % k) or {"ids": []}
            if "legacy" in t["api"]:
                # (the main allocator's: nothing tells whose they are)
                leak = {"ids": []}
            check("%s: interp %d: refcheck: no deficit, its %d leaks found"
                  % (label, k, len(leak["ids"])),
                  rc.get("deficit_objects") == 0 and set(leak["ids"]) <= sus,
                  (rc.get("deficit_objects"), len(set(leak["ids"]) - sus)))
        # leaks, dominators and report --interp K: K's objects only, a
        # share of K's bytes, rows and paths naming K
        tk_all = by["types --limit 0 --interp %d" % k]
        lk = by["leaks --limit 0 --min-share 1 --interp %d" % k]
        sus = lk.get("suspects", [])
        # (legacy interpreters share single-phase extension modules'
        # dicts, so an object of one may be reached from another's root,
        # and the way down from a suspect may cross into another's: their
        # suspects are checked to be K's only)
        legacy = "legacy" in t["api"]
        rows_k = sus + ([] if legacy else [x["accumulation"] for x in sus])
        check("%s: interp %d: leaks: K's objects and bytes, %d suspects, "
              "each K's%s" % (label, k, len(sus), "" if legacy else
                              ", paths from K's roots"),
              lk.get("objects") == tk_all["objects"] and
              lk.get("bytes") == tk_all["bytes"] and sus and
              all(x.get("interp") == k for x in rows_k) and
              (legacy or all(own_root(x.get("root", ""), k) for x in rows_k
                             if x.get("reachable"))),
              (lk.get("objects"), tk_all["objects"], lk.get("bytes"),
               tk_all["bytes"], [(x.get("interp"), x.get("root"))
                                 for x in rows_k][:4]))
        df = by["diff %s --interp %d" % (core, k)]
        sides = [df.get("before", {}), df.get("after", {})]
        check("%s: interp %d: diff with itself --interp K: K's objects and "
              "bytes on both sides" % (label, k),
              all(x.get("objects") == tk_all["objects"] and
                  x.get("bytes") == tk_all["bytes"] for x in sides),
              [(x.get("objects"), x.get("bytes")) for x in sides] +
              [(tk_all["objects"], tk_all["bytes"])])
        sn = by["snapshot --interp %d --output %s" % (k, snap_of(outdir, k))]
        df = by["diff %s --interp %d" % (snap_of(outdir, k), k)]
        sides = [df.get("before", {}), df.get("after", {})]
        check("%s: interp %d: snapshot --interp K: K's objects and bytes, "
              "and diff --interp K of it against the core the same on both "
              "sides" % (label, k),
              sn.get("interp") == k and
              sn.get("objects") == tk_all["objects"] and
              sn.get("bytes") == tk_all["bytes"] and
              all(x.get("objects") == tk_all["objects"] and
                  x.get("bytes") == tk_all["bytes"] for x in sides),
              (sn.get("interp"), sn.get("objects"), sn.get("bytes"),
               [(x.get("objects"), x.get("bytes")) for x in sides],
               tk_all["objects"], tk_all["bytes"]))
        if k == 1:
            r0 = subprocess.run([binary, "--core", core] + it.py_heap_args() +
                                ["diff", snap_of(outdir, k)],
                                capture_output=True, text=True, timeout=300,
                                stdin=subprocess.DEVNULL)
            check("%s: interp %d: diff of K's snapshot without --interp K: "
                  "refused" % (label, k), r0.returncode == 2 and
                  "give --interp %d" % k in r0.stderr,
                  (r0.returncode, r0.stderr[-200:]))
        gr = by["graph %s --interp %d --depth 1" % (m, k)]
        drawn = sorted(int(n["address"], 16) for n in gr.get("nodes", [])
                       if n.get("kind") == "object" and n.get("depth") == 1)
        want_r = sorted(e["id"] for e in t["marker"]["referrers"])
        check("%s: interp %d: graph --interp K: the marker's holders as "
              "K's gc.get_referrers(), none of another interpreter's" % (
                  label, k), gr.get("interp") == k and drawn == want_r and
              not any(n.get("other_interp") for n in gr.get("nodes", [])),
              (gr.get("interp"), drawn, want_r))
        if k:
            r0 = subprocess.run([binary, "--core", core] + it.py_heap_args() +
                                ["graph", m, "--interp", "0"],
                                capture_output=True, text=True, timeout=300,
                                stdin=subprocess.DEVNULL)
            check("%s: interp %d: graph --interp 0 of K's marker: refused" % (
                label, k), r0.returncode == 2 and
                "is interpreter %d's" % k in r0.stderr,
                (r0.returncode, r0.stderr[-200:]))
        dm = by["dominators --limit 20 --interp %d" % k].get("dominators", [])
        check("%s: interp %d: dominators: every row K's" % (label, k),
              dm and all(x.get("interp") == k for x in dm),
              [x.get("interp") for x in dm][:8])
        rp = by["report --interp %d --output %s" % (
            k, os.path.join(workdir_of(outdir), "report-%d.html" % k))]
        html = ""
        try:
            with open(rp.get("output", "")) as f:
                html = f.read()
        except OSError:
            pass
        want_h = "interpreter %d only: %s objects" % (
            k, "{:,}".format(tk_all["objects"]))
        check("%s: interp %d: report: K's totals" % (label, k),
              want_h in html, (rp, want_h))
        if t.get("threads"):
            names = " ".join(e.get("name", "")
                             for e in by["roots --limit 0 --interp %d" % k]
                             .get("roots", []))
            want_f = [e["function"] for e in t["threads"]]
            check("%s: interp %d: its threads' frames %s" % (label, k, want_f),
                  all("frame %s()" % f in names for f in want_f), want_f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cores-dir", required=True)
    ap.add_argument("--python", action="append")
    ap.add_argument("--quick", action="store_true",
                    help="the first 3.12+ interpreter only (for the "
                    "sanitizers)")
    a = ap.parse_args()
    specs = a.python or interpreters()
    if a.quick:
        # (an isolated interpreter's own allocator is the path to cover)
        new = [p for p in specs if not re.search(r"python3\.(9|10|11)d?$", p)]
        specs = (new or specs)[:1]
    if not specs:
        print("SKIP: no interpreter of 3.9 or later")
    for spec in specs:
        exe = spec.replace("::", "")
        if not os.path.exists(exe):
            print("SKIP %s: not installed" % spec)
            continue
        try:
            it = Interp(spec)
        except Exception as e:
            check(spec, False, e)
            continue
        legacy = tuple(int(x) for x in it.version.split(".")[:2]) < (3, 12)
        for args in [["2"], ["10"]] + ([] if legacy else [["2", "--threads"]]):
            outdir = os.path.join(a.cores_dir, "subinterp-%s-%s" % (
                it.tag, "-".join(args)))
            label = "%s %s" % (it.version, " ".join(args))
            try:
                core = it.take_core("heap_subinterp.py", outdir, *args,
                                    need=("ready", "truth.json"))
                check_core(a.bin, it, core, outdir, label)
            except Exception as e:
                check(label, False, e)
    print("%d passed, %d failed" % (graph_checks.results["passed"],
                                    graph_checks.results["failed"]))
    return 1 if graph_checks.results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
