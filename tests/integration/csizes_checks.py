#!/usr/bin/env python3
"""Sizes of C types with a __sizeof__ of their own, and numpy's arrays of
objects (issue 16), against fixtures/heap_csizes.py's own measure:

  * each object of the types py-heap models (_io's buffered files and
    BytesIO, array.array, _struct.Struct, itertools' combinatorics,
    decimal.Decimal, ctypes' StgDict, numpy's ndarray and scalars) has, in `list TYPE`,
    the size sys.getsizeof() gave it; so do set, frozenset, bytearray,
    OrderedDict, deque, defaultdict and the types sized generically
    (StringIO, TextIOWrapper, re.Pattern, mmap, memoryview, partial, locks:
    no __sizeof__ of their own in 3.8-3.15); the types with a C
    __sizeof__ py-heap does not model (_pickle's Pickler and Unpickler,
    _elementtree's Element) are marked "size_exact": false in `types`;
  * static types (`list type`) have sys.getsizeof()'s size (3.11 and
    3.12 count a GC head they do not have);
  * each item of a numpy array of objects is a referent of the array,
    labelled [i] in C order, and the array is among its referrers.

    python3 tests/integration/csizes_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY]

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

# modelled by py-heap: exact, always (where the type exists)
MODELLED = {
    "_io.BufferedReader", "_io.BufferedWriter", "_io.BufferedRandom",
    "_io.BytesIO", "array.array", "_struct.Struct", "itertools.product",
    "itertools.combinations", "itertools.combinations_with_replacement",
    "itertools.permutations", "decimal.Decimal", "numpy.ndarray",
    "StgDict", "Struct",  # (3.8's name of _struct.Struct)
    # built-in kinds whose __sizeof__ py-heap models (3.15's bytearray
    # counts its bytes object's header)
    "set", "frozenset", "bytearray", "collections.OrderedDict",
    "collections.deque", "collections.defaultdict",
    # sized generically, which is what sys.getsizeof() says on 3.8-3.15
    # (no __sizeof__ of their own): exact, never marked
    "_io.StringIO", "_io.TextIOWrapper", "re.Pattern", "mmap.mmap",
    "memoryview", "functools.partial", "_thread.lock", "_thread.RLock",
}
# a C __sizeof__ py-heap does not model: marked "size_exact": false (their
# sizes may still happen to be right)
MARKED = {"_pickle.Pickler", "_pickle.Unpickler",
          "xml.etree.ElementTree.Element"}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print("%s %s%s" % ("PASS" if ok else "FAIL", name,
                       "" if ok else ": %s" % detail))
    sys.stdout.flush()


def cli_json(binary, interp, core, *args):
    r = subprocess.run([binary, "--core", core, "--json"] +
                       interp.py_heap_args() + list(args),
                       capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), r.returncode,
                                                r.stderr[-2000:]))
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--python", default="/usr/bin/python3.11")
    a = ap.parse_args()
    interp = Interp(a.python)
    binary = os.path.abspath(a.bin)
    label = "csizes (%s)" % interp.version
    outdir = os.path.join(os.path.abspath(a.cores_dir),
                          "heap_csizes-%s" % interp.tag)
    try:
        core = interp.take_core("heap_csizes.py", outdir,
                                need=("ready", "truth.json"))
        with open(os.path.join(outdir, "truth.json")) as f:
            truth = json.load(f)
    except Exception as e:
        check("%s: core of heap_csizes.py" % label, False, e)
        print("%d passed, %d failed" % (results["passed"], results["failed"]))
        return 1

    types = {t["type"]: t for t in
             cli_json(binary, interp, core, "types", "--limit", "0")["types"]}
    for name, objs in sorted(truth["objects"].items()):
        try:
            got = cli_json(binary, interp, core, "list", name, "--limit", "0")
            size = {int(o["address"], 16): o["size"] for o in got["objects"]}
            wrong = ["0x%x: getsizeof %d, py-heap %s" % (i, s, size.get(i))
                     for i, s in objs if size.get(i) != s]
            marked = (types.get(name) or {}).get("size_exact") is False
            if name in MARKED:
                check("%s: %s: %d objects, the type marked inexact" %
                      (label, name, len(objs)), marked, "not marked")
            elif name in MODELLED or name.startswith("numpy."):
                check("%s: %s: %d objects, each of sys.getsizeof()'s size" %
                      (label, name, len(objs)), not wrong and not marked,
                      "; ".join(wrong[:6]) or "marked inexact")
            else:
                check("%s: %s: %d objects of sys.getsizeof()'s size, or the "
                      "type marked inexact%s" % (
                          label, name, len(objs),
                          " (marked%s)" % (", sizes right" if not wrong
                                           else "") if marked else ""),
                      not wrong or marked, "; ".join(wrong[:6]))
        except Exception as e:
            check("%s: %s" % (label, name), False, e)

    try:
        got = cli_json(binary, interp, core, "list", "type", "--limit", "0")
        size = {int(o["address"], 16): o["size"] for o in got["objects"]}
        wrong = ["%s: getsizeof %d, py-heap %s" % (n, s, size.get(i))
                 for n, i, s in truth["statics"] if size.get(i) != s]
        check("%s: %d types, each of sys.getsizeof()'s size" %
              (label, len(truth["statics"])), not wrong, "; ".join(wrong))
    except Exception as e:
        check("%s: types' sizes" % label, False, e)

    for arr in (truth.get("npobj") or {}).get("arrays", []):
        try:
            d = cli_json(binary, interp, core, "referents",
                         "0x%x" % arr["array"], "--limit", "0")
            via = {}
            for r in d["referents"]:
                via.setdefault(int(r["address"], 16), set()).add(r["via"])
            bad = ["[%d] 0x%x: %s" % (i, x, sorted(via.get(x, ())))
                   for i, x in enumerate(arr["items"])
                   if "[%d]" % i not in via.get(x, ())]
            check("%s: numpy array of objects 0x%x: its %d items are its "
                  "referents [i]" % (label, arr["array"], len(arr["items"])),
                  not bad, "; ".join(bad[:6]))
            # a str held by the array alone: the array is its referrer
            x = arr["items"][0]
            r = cli_json(binary, interp, core, "referrers", "0x%x" % x)
            addrs = {int(o["address"], 16) for o in r["referrers"]}
            check("%s: referrers of 0x%x, held by the array alone: the "
                  "array" % (label, x), addrs == {arr["array"]},
                  sorted(hex(v) for v in addrs))
        except Exception as e:
            check("%s: numpy array of objects" % label, False, e)

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
