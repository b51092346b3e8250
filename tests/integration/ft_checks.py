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
  * cycles, refcheck and path answer (exit 0) on the same core;
  * damaged mimalloc structures, in a sparse copy of the core: a page's
    free list to a wild address, a free list that loops, a heap's page
    queue to a wild page, a segment's page records zeroed: each read within
    60 s, exit 0 or 2, no crash, and the first two said (a note on
    mimalloc pages); and four objects' type words overwritten (a wild
    address, a dict, the object itself, another instance), for the page
    scan's blocks left for later: no crash, the other 2,996 of 3,000
    instances of their class counted.

    python3 tests/integration/ft_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores --python PY

On an interpreter that is not free-threaded it says so and checks nothing.
Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time

from interp import Interp, copy_core, file_offset, segments

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

    damage_checks(a, interp, core, outdir)

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


CRASH_SIGNS = ("ERROR: AddressSanitizer", "runtime error:", "Segmentation fault",
               "core dumped", "==ERROR")

PAGES_GDB = """
set $ts = (_PyThreadStateImpl*)_PyRuntime.interpreters.head->threads.head
set $i = 0
while $i < 75
  if $ts->mimalloc.heaps[3].pages[$i].first != 0
    printf "PAGE %d 0x%lx 0x%lx 0x%lx\\n", $i, (long)$ts->mimalloc.heaps[3].pages[$i].first, (long)$ts->mimalloc.heaps[3].pages[$i].first->free, (long)&$ts->mimalloc.heaps[3].pages[$i].first
  end
  set $i = $i + 1
end
"""


def patch(path, segs, addr, data):
    off = file_offset(segs, addr, len(data))
    if off is None:
        raise ValueError("0x%x not in the core" % addr)
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def damage_checks(a, interp, core, outdir):
    """Each damage on a sparse copy of the core, read by types and info."""
    exe = interp.root + interp.python if interp.root else interp.python
    try:
        script = os.path.join(outdir, "pages.gdb")
        with open(script, "w") as f:
            f.write(PAGES_GDB)
        r = subprocess.run(["gdb", "-nx", "-batch", "-iex", "set auto-load off",
                            "-x", script, exe, core], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
        pages = [[int(x, 0) for x in l.split()[1:]] for l in r.stdout.splitlines()
                 if l.startswith("PAGE ")]
        pages = [p for p in pages if p[2]]  # with a free list
        if len(pages) < 2:
            raise RuntimeError("no pages with a free list: %s" % r.stderr[-500:])
    except Exception as e:
        check("damage: the pages to damage, by gdb", False, e)
        return
    copy = os.path.join(outdir, "damaged.core")
    segs = segments(core)
    _, page0, free0, _ = pages[0]
    _, page1, free1, _ = pages[1]
    _, _, _, queue2 = pages[-1]
    seg = page0 & ~((1 << 25) - 1)
    damages = [
        ("a page's free list to a wild address", True,
         [(page0 + 16, struct.pack("<Q", 0x4141414141414140))]),
        ("a free list that loops", True,
         [(free1, struct.pack("<Q", free1))]),
        ("a page queue to a wild page", False,
         [(queue2, struct.pack("<Q", 0x00007f0000001008))]),
        ("a segment's page records zeroed", False,
         [(seg + 264, bytes(96 * 64))]),
    ]
    for name, noted, edits in damages:
        run_damage(a, interp, core, copy, segs, name, noted, edits)
    object_damage(a, interp, core, copy, segs)


def object_damage(a, interp, core, copy, segs):
    """Type words of four __main__.Kept instances (of 3,000) overwritten:
    with a wild address, a dict's (no type), the object's own and another
    instance's. The page scan's threads leave such blocks for later, the
    types met are registered or rejected between their passes, and what
    is left is done alone: each block must come out as no Kept, all the
    others as before."""
    r = subprocess.run([a.bin, "--core", core, "--json"] +
                       interp.py_heap_args() +
                       ["list", "__main__.Kept", "--limit", "6"],
                       capture_output=True, text=True, timeout=120)
    try:
        kept = [int(o["address"], 16) for o in json.loads(r.stdout)["objects"]]
        r = subprocess.run([a.bin, "--core", core, "--json"] +
                           interp.py_heap_args() + ["list", "dict", "--limit", "1"],
                           capture_output=True, text=True, timeout=120)
        a_dict = int(json.loads(r.stdout)["objects"][0]["address"], 16)
    except Exception as e:
        check("damage: Kept instances to damage", False, (e, r.stderr[-300:]))
        return
    # (ob_type at +24 on a free-threaded build)
    edits = [(kept[0] + 24, struct.pack("<Q", 0x4141414141414140)),
             (kept[1] + 24, struct.pack("<Q", a_dict)),
             (kept[2] + 24, struct.pack("<Q", kept[2])),
             (kept[3] + 24, struct.pack("<Q", kept[4]))]
    r = run_damage(a, interp, core, copy, segs, "four objects' type words",
                   False, edits, ["types", "--limit", "0"])
    if r is not None:
        try:
            got = {t["type"]: t["count"] for t in json.loads(r.stdout)["types"]}
        except ValueError:
            got = {}
        check("damage: four objects' type words: __main__.Kept 2,996 of "
              "3,000", got.get("__main__.Kept") == 2996,
              got.get("__main__.Kept"))


def run_damage(a, interp, core, copy, segs, name, noted, edits, cmd=("info",)):
    try:
        copy_core(core, copy)
        for addr, data in edits:
            patch(copy, segs, addr, data)
        t0 = time.time()
        r = subprocess.run([a.bin, "--core", copy, "--json"] +
                           interp.py_heap_args() + list(cmd),
                           capture_output=True, text=True, timeout=120)
        took = time.time() - t0
        crash = [c for c in CRASH_SIGNS if c in r.stderr]
        check("damage: %s: exit 0 or 2 in %.1f s, no crash" % (name, took),
              r.returncode in (0, 2) and not crash and took < 60,
              "exit %d %s %s" % (r.returncode, crash, r.stderr[-400:]))
        if noted:
            d = json.loads(r.stdout) if r.stdout.strip() else {}
            check("damage: %s: said" % name,
                  d.get("damage", {}).get("pools_inconsistent", 0) >= 1 and
                  "mimalloc pages" in r.stderr,
                  (r.returncode, d.get("damage"), r.stderr[-300:]))
        return r
    except Exception as e:
        check("damage: %s" % name, False, e)
    finally:
        if os.path.exists(copy):
            os.unlink(copy)
    return None


if __name__ == "__main__":
    sys.exit(main())
