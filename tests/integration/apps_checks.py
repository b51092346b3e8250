#!/usr/bin/env python3
"""Truth tests on the heaps of real applications (issue 16).

Runs each fixture of fixtures/apps/ (numpy and pandas, sympy, Django,
Flask with jinja2 and SQLAlchemy, networkx, an asyncio service with
threads, the standard library's C types with frozen objects and
finalizers) under the interpreter tested, takes its core once (cached in
--cores-dir like the other tests' cores, taken again when the fixture or
fixtures/apps/apptruth.py is newer), and checks py-heap against what the
process measured about itself in forked copies (apptruth.py):

  * types: every library type (a name with a module: not a builtin) exact
    in count, and in bytes unless py-heap marks the type "size_exact":
    false; builtin types at least as many as the process enumerated; the
    objects py-heap finds beyond the process's count must be ones only C
    data holds (CHeld: not enumerated, and no enumerated object refers to
    them);
  * referrers of every sampled object: every referrer the process found
    (gc.get_referents() over every object it can enumerate, numpy's
    untraversed references added) is found; py-heap finds no other,
    except the documented differences (DOCUMENTED below) and referrers
    only C data holds (CHeld); every object
    gc.get_referrers() returned is among them;
  * refcount of every sampled object equals its ob_refcnt;
  * cycles --unreachable: unreachable_objects equals what the collector
    finds before finalizers, collect_returns gc.collect()'s return
    value (every generation, in a forked copy) and the "unreachable" set
    less "finalizer_freed" equals gc.garbage under gc.DEBUG_SAVEALL;
  * refcheck: no deficit on these clean heaps;
  * Cython functions (numpy_pandas: cython.json, what each refers to by
    gc.get_referents() in a forked copy): those of Cython 0.29 and 3.1,
    whose layouts py-heap reads, have exactly these referents (less their
    __class__, and but their __annotations__, and 3.1's __name__,
    __qualname__ and __code__, which their tp_traverse leaves out), none
    guessed, and refcheck finds no deficit of their types; other
    Cythons' are noted.

A fixture whose libraries the interpreter cannot import is SKIPped.

    python3 tests/integration/apps_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY] [--only NAME]
        [--checks types,referrers,cycles,refcheck]

Prints PASS/FAIL/SKIP lines and ends with "N passed, N failed".
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
results = {"passed": 0, "failed": 0}
VERBOSE = False

# fixture -> the modules it needs
FIXTURES = [
    ("stdlib_mix", ()),
    ("asyncio_service", ()),
    ("numpy_pandas", ("numpy",)),     # pandas where it is there
    ("sympy_expr", ("sympy",)),
    ("web_django", ("django",)),
    ("web_flask", ("flask", "jinja2", "sqlalchemy")),
    ("graphs_networkx", ("networkx",)),
]

# Referrers py-heap finds that the process cannot see through
# gc.get_referents(), because the referrer's tp_traverse does not visit
# that reference: a code object (no GC type: its constants and names), a
# heap type's ht_name, ht_qualname and ht_slots, and its tp_subclasses
# ("no need to visit type->tp_subclasses", type_traverse says: a dict of
# weak references); an lru_cache's links (no GC objects), which its list
# owns: lru_cache_tp_traverse visits their keys and results, not them; a
# module definition's m_copy (a single-phase module's dict copied); a heap
# type's cached shared keys (ht_cached_keys: its instances' dicts' keys, a
# keys object, no Python object, whose entries own their key str), which
# type_traverse does not visit (the str 'level' <- three asyncio types on
# 3.11's asyncio_service, on samples that vary by run). These are real
# references (counted in ob_refcnt); gc.get_referrers() does not list
# them.
DOCUMENTED_TYPES = {"code"}
DOCUMENTED_VIAS = {"__name__", "__qualname__", "__slots__", "<lru link>",
                   "__subclasses__", "m_copy", "<cached key>"}

# Referrers the process sees that py-heap does not list: 3.14+'s interned
# strings dict (a tracked object; the truth writes its id as interned_dict;
# gc.get_referrers() lists it too unless gc.freeze() moved it to the
# permanent generation: numpy_pandas on 3.14).
# py-heap reads its edges as weak: the dict holds mortal interned strings
# borrowed (intern_common lowers their refcount by 2), immortal ones need
# no reference; and a weak edge is no referrer. Seen on sid's 3.14d and
# 3.15 (str 'keyrefs' <- the interned dict), on samples that vary by run.
DOCUMENTED_MISSING_REFERRERS = ("interned_dict",)


# A sampled str whose refcount py-heap reads higher than the truth by the
# words of the interpreter's own image that hold it: up to 3.11 the type
# attribute cache (_PyType_Lookup) holds a reference to the name of each
# entry, and the measuring child's own lookups replace entries, dropping
# the names the process's entries held ('isenabled' on 3.11's stdlib_mix:
# ob_refcnt 3 in the core, 2 in the child, the third reference a root
# "C data: python3.11+0x6689a8", inside _PyRuntime's type_cache at 0xa66bb8
# to 0xa7ebb8 by gdb; once in about ten runs, by which str is sampled).
# A name held by several entries may lose only some of them: the
# difference is then at most the number of such roots.
TYPE_CACHE_ROOT = re.compile(r"(?:interp \d+: )?C data: (?:lib)?python3\.\d+"
                             r"[^+ ]*\+0x[0-9a-f]+$")

# --checks: types (counts, bytes), referrers (and refcounts), cycles,
# refcheck
CHECK_GROUPS = ("types", "referrers", "cycles", "refcheck")

MODULE_STATE_ROOT = re.compile(r"(?:interp \d+: )?C data: module state "
                               r"(0x[0-9a-f]+)\+0x[0-9a-f]+$")

# C types of libraries whose tp_name has no module
LIBRARY_NO_MODULE = {"StgDict"}

# Cython 0.29's function types (kind_stdlib.c reads their fields), and the
# fields of theirs that their tp_traverse does not visit; the extra files
# of the fixtures that write them
CYTHON_TYPES = ("cython_function_or_method", "fused_cython_function")
CYTHON_UNTRAVERSED = {".__annotations__"}
FIXTURE_FILES = {"numpy_pandas": ("cython.json",)}
# Cython 3.1's (the same names, their module _cython_3_1_N), read at their
# fields too; their traverse leaves out their names and code as well
CYTHON3_MODULE = re.compile(r"_cython_3_1_\d+$")
CYTHON3_UNTRAVERSED = CYTHON_UNTRAVERSED | {".__name__", ".__qualname__",
                                           ".__code__"}


def cython_read(c):
    """Does py-heap read this function of cython.json at its fields?"""
    m = c.get("module", "builtins")
    return c["type"] in CYTHON_TYPES and (m == "builtins" or
                                          bool(CYTHON3_MODULE.match(m)))


class CHeld:
    """What py-heap finds beyond what the process enumerates, held by C
    data only: objects no enumerated object refers to (every referrer
    py-heap finds is outside the enumeration too, or refers to it by a
    documented reference the collector does not see, as a code object's
    co_localsplusnames, which 3.11+ does not show). gc.get_referents()
    cannot reach them: a single-phase module's copy of its dict (m_copy:
    datetime's), C statics (datetime's epoch, decimal's context variable),
    numpy's casting tables (dicts in its DType classes' C slots)."""

    def __init__(self):
        self.objects = set()
        self.by_type = {}


def glob_escape(name):
    return "".join("[%s]" % c if c in "*?[" else c for c in name)


def find_c_held(binary, interp, core, outdir, truth, types, outs):
    cheld = CHeld()
    if "known_ids" not in truth:
        return cheld
    known = set(truth["known_ids"])
    got = {t["type"]: t["count"] for t in types["types"]}
    over = [n for n, v in truth["types"].items()
            if ("." in n or n in LIBRARY_NO_MODULE) and
            got.get(n, 0) > v["count"]]
    cands = {}
    if over:
        listed, _ = run_batch(binary, interp, core, [
            "list %s --limit 0 --items 1 --nesting 1 --str-len 1" %
            glob_escape(n) for n in over], outdir)
        for o in listed:
            for x in o.get("objects", ()):
                a = int(x["address"], 16)
                if a not in known:
                    cands[a] = o["type"]
    for o in outs:
        if "referrers" in o and "address" in o:
            for x in o["referrers"]:
                a = int(x["address"], 16)
                if a not in known:
                    cands[a] = x["type"]
    if not cands:
        return cheld
    order = sorted(cands)
    res, _ = run_batch(binary, interp, core, [
        "referrers %#x --limit 0" % a for a in order], outdir)
    for o in res:
        if "referrers" not in o or "address" not in o:
            continue
        a = int(o["address"], 16)
        if a in cands and not o.get("truncated") and all(
                int(x["address"], 16) not in known or
                x["via"].lstrip(".") in DOCUMENTED_VIAS or
                x["type"] in DOCUMENTED_TYPES
                for x in o["referrers"]):
            cheld.objects.add(a)
            cheld.by_type.setdefault(cands[a], []).append(a)
    return cheld


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    sys.stdout.flush()


def skip(name, why):
    print("SKIP %s: %s" % (name, why))
    sys.stdout.flush()


def some(items, n=8):
    items = list(items)
    out = "; ".join(str(x) for x in items[:n])
    return out + ("; ... (%d in all)" % len(items) if len(items) > n else "")


def run_batch(binary, interp, core, commands, workdir):
    path = os.path.join(workdir, "checks.batch")
    with open(path, "w") as f:
        f.write("\n".join(commands) + "\n")
    cmd = shlex.split(os.environ.get("PYHEAP_WRAPPER", "")) + \
        [binary, "--core", core, "--json"] + interp.py_heap_args() + \
        ["--batch", path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                       stdin=subprocess.DEVNULL)
    if "ERROR: AddressSanitizer" in r.stderr or "runtime error:" in r.stderr \
            or r.returncode < 0:
        raise RuntimeError("crash: rc %d %s" % (r.returncode, r.stderr[-2000:]))
    dec, outs, rest = json.JSONDecoder(), [], r.stdout.strip()
    while rest:
        obj, end = dec.raw_decode(rest)
        outs.append(obj)
        rest = rest[end:].strip()
    return outs, r.stderr


def can_import(interp, mods):
    if not mods:
        return True
    r = subprocess.run(interp.command(["-c", "import " + ", ".join(mods)]),
                       capture_output=True, text=True)
    return r.returncode == 0


def type_checks(label, truth, types, cheld):
    got = {t["type"]: t for t in types["types"]}
    lib = {n: v for n, v in truth["types"].items()
           if "." in n or n in LIBRARY_NO_MODULE}
    count_bad, size_bad, marked, c_only = {}, {}, 0, {}
    for n, v in lib.items():
        g = got.get(n)
        if g and g["count"] > v["count"] and \
                len(cheld.by_type.get(n, ())) == g["count"] - v["count"]:
            # the objects beyond the process's are those only C data holds
            c_only[n] = g["count"] - v["count"]
            continue
        if not g or g["count"] != v["count"]:
            count_bad[n] = (v["count"], g["count"] if g else 0)
            continue
        if g["bytes"] != v["bytes"]:
            if g.get("size_exact") is False:
                marked += 1
            else:
                size_bad[n] = (v["count"], v["bytes"], g["bytes"],
                               v["sizeof"])
    if c_only:
        print("NOTE %s: objects only C data holds (no object the process "
              "enumerates refers to them): %s" % (label, some(
                  "%s %d" % kv for kv in sorted(c_only.items()))))
    check("%s: %d library types: count exact" % (label, len(lib)),
          not count_bad, "%d types differ (name: truth, py-heap): %s" % (
              len(count_bad), some("%s: %d, %d" % (n, a, b) for n, (a, b) in
                                   sorted(count_bad.items()))))
    check("%s: library types: bytes exact or marked inexact (%d marked)" %
          (label, marked), not size_bad,
          "%d types (name: count, truth bytes, py-heap bytes, __sizeof__): %s"
          % (len(size_bad), some("%s: %d, %d, %d, %s" % ((n,) + v) for n, v in
                                 sorted(size_bad.items(), key=lambda kv:
                                        kv[1][2] - kv[1][1]))))
    fewer = {n: (v["count"], (got.get(n) or {}).get("count", 0))
             for n, v in truth["types"].items() if "." not in n and
             (got.get(n) or {}).get("count", 0) < v["count"]}
    check("%s: builtin types at least the process's count" % label,
          not fewer, some("%s: %d, %d" % (n, a, b) for n, (a, b) in
                          sorted(fewer.items())))
    return {"count": len(count_bad), "bytes": len(size_bad)}


def referrer_checks(label, truth, outs, cheld):
    by_addr = {}
    counts = {}
    for o in outs:
        if "referrers" in o and "address" in o:
            by_addr[int(o["address"], 16)] = o
        elif "referrers_found" in o:
            counts[int(o["address"], 16)] = o
    missing, extra, conservative, documented, api_missing, absent = \
        [], [], [], 0, [], []
    c_only = 0
    interned_missing = 0
    rc_bad, truncated = [], []
    type_cache = 0
    for s in truth["samples"]:
        i = s["id"]
        r = by_addr.get(i)
        if r is None:
            absent.append("%#x %s" % (i, s["type"]))
            continue
        got = {}
        for x in r["referrers"]:
            got.setdefault(int(x["address"], 16), x)
        # an extension module's state (PEP 3121) is C memory py-heap has
        # no layout for: its words are roots named after their module
        # ("C data: module state 0xMODULE+0x78"), where the collector sees
        # the module's m_traverse visit them: that module is found
        for root in r.get("roots", ()):
            m = MODULE_STATE_ROOT.match(root)
            if m:
                got.setdefault(int(m.group(1), 16), {
                    "type": "module", "via": "(module state)"})
        want = {x[0]: x for x in s["referrers"]}
        # py-heap lists at most 10,000 referrers (the builtins dict has
        # tens of thousands): then only what it lists is compared
        if r.get("truncated"):
            truncated.append("%#x %s (%d referrers)" % (i, s["type"],
                                                        len(want)))
        for a in want:
            if a not in got and any(a == truth.get(k) for k in
                                    DOCUMENTED_MISSING_REFERRERS):
                interned_missing += 1
                continue
            if a not in got and not r.get("truncated"):
                missing.append("%#x %s <- %#x %s" % (i, s["type"], a,
                                                     want[a][1]))
        for a, x in got.items():
            if a in want:
                continue
            if "(conservative)" in x["via"]:
                conservative.append("%#x %s <- %s %s" % (i, s["type"],
                                                         x["type"], x["via"]))
            elif x["type"] in DOCUMENTED_TYPES or \
                    x["via"].lstrip(".") in DOCUMENTED_VIAS:
                documented += 1
            elif a in cheld.objects:
                c_only += 1
            else:
                extra.append("%#x %s <- %s %s" % (i, s["type"], x["type"],
                                                  x["via"]))
        for a in s["gc_get_referrers"]:
            if a not in got and any(a == truth.get(k) for k in
                                    DOCUMENTED_MISSING_REFERRERS):
                continue   # (counted above)
            if a not in got and not r.get("truncated"):
                api_missing.append("%#x %s <- %#x" % (i, s["type"], a))
        c = counts.get(i)
        tc = 0 if c is None else sum(1 for x in c.get("roots", ())
                                     if TYPE_CACHE_ROOT.match(x))
        if c is not None and not c.get("immortal") and \
                s["type"] == "str" and \
                0 < c["refcount"] - s["refcount"] <= tc:
            type_cache += 1
        elif c is not None and not c.get("immortal") and \
                c["refcount"] != s["refcount"]:
            rc_bad.append("%#x %s: ob_refcnt %d, py-heap %d (%d type cache "
                          "roots)" % (i, s["type"], s["refcount"],
                                      c["refcount"], tc))
    n = len(truth["samples"])
    check("%s: %d sampled objects all found" % (label, n), not absent,
          some(absent))
    if truncated:
        print("NOTE %s: referrers cut at 10,000, compared only for what "
              "py-heap lists: %s" % (label, some(truncated)))
    check("%s: referrers: every referrer the process sees (%d documented: "
          "the interned dict's weak edges)" % (label, interned_missing),
          not missing, "%d missing: %s" % (len(missing), some(missing)))
    check("%s: referrers: every gc.get_referrers() object" % label,
          not api_missing, "%d missing: %s" % (len(api_missing),
                                               some(api_missing)))
    check("%s: referrers: none but the process's (%d documented: code, "
          "type names, lru links; %d only C data holds)" % (
              label, documented, c_only), not extra,
          "%d extra: %s" % (len(extra), some(extra)))
    check("%s: referrers: no conservative guess" % label, not conservative,
          "%d: %s" % (len(conservative), some(conservative)))
    check("%s: refcounts equal ob_refcnt (%d documented: names the type "
          "cache held)" % (label, type_cache), not rc_bad,
          "%d differ: %s" % (len(rc_bad), some(rc_bad)))
    return {"referrers missing": len(missing), "referrers extra": len(extra),
            "conservative": len(conservative),
            "gc.get_referrers missing": len(api_missing),
            "refcounts": len(rc_bad)}


def cycle_checks(label, truth, collect, cyc, free_threaded=False):
    """unreachable_objects is what the collector finds before finalizers
    (the truth deduces it); collect_returns what gc.collect() returns once
    generators' finalizers have freed what their frames held; the set less
    finalizer_freed is gc.garbage under DEBUG_SAVEALL."""
    n = collect["collected"]
    garbage = {g[0] for g in collect["garbage"]}
    got = {int(a, 16) for a in cyc["unreachable"]}
    freed = {int(a, 16) for a in cyc.get("finalizer_freed", [])}
    deduced = truth["deduced"]["count"]
    if free_threaded:
        # free-threaded 3.13: gc.collect() counts, and DEBUG_SAVEALL keeps,
        # what the finalizers free too: the whole set
        deduced = n
        freed = set()
    check("%s: cycles --unreachable: unreachable_objects %d == what the "
          "collector finds before finalizers %d" % (
              label, cyc["unreachable_objects"], deduced),
          cyc["unreachable_objects"] == deduced,
          "%d frozen" % collect["freeze_count"])
    got_n = cyc.get("collect_returns", cyc["unreachable_objects"])
    wcb = cyc.get("weakref_callbacks", 0)
    ok = got_n <= n <= got_n + wcb
    check("%s: cycles --unreachable: collect_returns %d == gc.collect() %d"
          % (label, got_n, n), ok,
          "freed by finalizers %d, weakref callbacks %d" % (
              cyc.get("freed_by_finalizers", 0), wcb))
    left = got - freed
    check("%s: cycles --unreachable: the set less finalizer_freed == "
          "gc.garbage (DEBUG_SAVEALL)" % label, left == garbage,
          "%d extra, %d missing" % (len(left - garbage), len(garbage - left)))
    return {"cycles count": int(not ok), "cycles set": int(left != garbage)}


def refcheck_checks(label, rc):
    check("%s: refcheck: no deficit on a clean heap" % label,
          rc["deficit_objects"] == 0, "%d objects: %s" % (
              rc["deficit_objects"], some("%s %d objects %+d" % (
                  g["type"], g["objects"], g["total"]) for g in rc["deficit"])))
    return {"refcheck deficits": rc["deficit_objects"]}


def cython_commands(outdir):
    """The batch's commands for the Cython functions of cython.json, and
    those functions (none when the fixture wrote no such file)."""
    path = os.path.join(outdir, "cython.json")
    if not os.path.exists(path):
        return [], []
    with open(path) as f:
        funcs = json.load(f)
    cmds = ["referents %#x --limit 0" % c["id"] for c in funcs]
    for t in sorted({c["type"] for c in funcs if cython_read(c)}):
        cmds.append("refcheck --type %s" % t)
    return cmds, funcs


def cython_checks(label, funcs, outs, groups):
    """Each Cython function's referents against gc.get_referents(); no
    deficit of the Cython types in refcheck."""
    if not funcs:
        return {}
    got = {int(o["address"], 16): o for o in outs
           if "referents" in o and "address" in o}
    other = sorted({"%s.%s" % (c.get("module"), c["type"]) for c in funcs
                    if not cython_read(c)})
    if other:
        print("NOTE %s: Cython functions of a layout py-heap does not read "
              "(scanned as C data): %s" % (label, ", ".join(other)))
    mine = [c for c in funcs if cython_read(c)]
    fails = {}
    if "referrers" in groups and mine:
        missing, extra, guessed, absent, untraversed = [], [], [], [], 0
        for c in mine:
            o = got.get(c["id"])
            if o is None:
                absent.append("%#x" % c["id"])
                continue
            want = {}
            for a in c["referents"]:
                want[a] = want.get(a, 0) + 1
            for r in o["referents"]:
                if "(conservative)" in r["via"]:
                    guessed.append("%#x %s" % (c["id"], r["via"]))
                if not r["strong"] or r["via"] == ".__class__":
                    continue
                a = int(r["address"], 16)
                if want.get(a):
                    want[a] -= 1
                elif r["via"] in (CYTHON3_UNTRAVERSED if c.get("module",
                                  "").startswith("_cython_3") else
                                  CYTHON_UNTRAVERSED):
                    untraversed += 1
                else:
                    extra.append("%#x %s %s" % (c["id"], r["via"],
                                                r["type"]))
            missing += ["%#x <- %#x" % (a, c["id"]) for a, n in want.items()
                        for _ in range(n)]
        check("%s: %d Cython functions: referents equal gc.get_referents() "
              "(%d untraversed: __annotations__, 3.1's names, code)" % (label, len(mine),
                                                    untraversed),
              not (missing or extra or absent),
              "%d missing: %s; %d extra: %s; %d not found: %s" % (
                  len(missing), some(missing), len(extra), some(extra),
                  len(absent), some(absent)))
        check("%s: Cython functions: no conservative guess" % label,
              not guessed, "%d: %s" % (len(guessed), some(guessed)))
        fails.update({"cython referents": len(missing) + len(extra) +
                      len(absent), "cython conservative": len(guessed)})
    if "refcheck" in groups:
        rcs = [o for o in outs if "deficit_objects" in o][1:]
        ntypes = len({c["type"] for c in mine})
        bad = sum(o["deficit_objects"] for o in rcs)
        check("%s: refcheck: no deficit of the Cython function types" % label,
              len(rcs) == ntypes and not bad,
              "%d of %d answers, %d objects: %s" % (
                  len(rcs), ntypes, bad, some(
                      "%s %d objects %+d" % (g["type"], g["objects"],
                                             g["total"])
                      for o in rcs for g in o["deficit"])))
        fails["cython deficits"] = bad
    return fails


def main():
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--only", action="append",
                    help="run this fixture only (repeatable)")
    ap.add_argument("--summary", help="write the failure counts here (JSON)")
    ap.add_argument("--checks", default=",".join(CHECK_GROUPS),
                    help="the groups of checks to run, comma-separated "
                    "(default: all of %s)" % ",".join(CHECK_GROUPS))
    a = ap.parse_args()
    groups = set(a.checks.split(","))
    if groups - set(CHECK_GROUPS):
        ap.error("--checks: unknown %s" % ",".join(groups - set(CHECK_GROUPS)))
    interp = Interp(a.python)
    binary = os.path.abspath(a.bin)
    os.environ.setdefault("TAKE_CORE_TIMEOUT", "600")
    summary = {}
    for name, mods in FIXTURES:
        if a.only and name not in a.only:
            continue
        label = "%s (%s)" % (name, interp.version)
        if not can_import(interp, mods):
            skip(label, "%s cannot import %s" % (a.python, ", ".join(mods)))
            continue
        outdir = os.path.join(os.path.abspath(a.cores_dir),
                              "apps-%s-%s" % (name, interp.tag))
        try:
            core = interp.take_core(
                "apps/%s.py" % name, outdir,
                need=("ready", "truth.json", "collect.json") +
                FIXTURE_FILES.get(name, ()),
                helpers=("apptruth.py",))
            with open(os.path.join(outdir, "truth.json")) as f:
                truth = json.load(f)
            with open(os.path.join(outdir, "collect.json")) as f:
                collect = json.load(f)
        except Exception as e:
            check("%s: core and truth" % label, False, e)
            continue
        cmds = ["types --limit 0", "cycles --unreachable", "refcheck"]
        for s in truth["samples"]:
            cmds.append("referrers %#x --limit 0" % s["id"])
            cmds.append("refcount %#x" % s["id"])
        cy_cmds, cy_funcs = cython_commands(outdir)
        cmds += cy_cmds
        try:
            outs, err = run_batch(binary, interp, core, cmds, outdir)
            types = next(o for o in outs if "types" in o and "objects" in o)
            cyc = next(o for o in outs if "unreachable_objects" in o)
            rc = next(o for o in outs if "deficit_objects" in o)
        except Exception as e:
            check("%s: py-heap" % label, False, e)
            continue
        fails = {}
        cheld = CHeld()
        if groups & {"types", "referrers"}:
            try:
                cheld = find_c_held(binary, interp, core, outdir, truth,
                                    types, outs)
            except Exception as e:
                check("%s: py-heap (objects only C data holds)" % label,
                      False, e)
        if "types" in groups:
            fails.update(type_checks(label, truth, types, cheld))
        if "referrers" in groups:
            fails.update(referrer_checks(label, truth, outs, cheld))
        if "cycles" in groups:
            fails.update(cycle_checks(label, truth, collect, cyc,
                                      interp.free_threaded))
        if "refcheck" in groups:
            fails.update(refcheck_checks(label, rc))
        fails.update(cython_checks(label, cy_funcs, outs, groups))
        summary[label] = fails
    if a.summary:
        with open(a.summary, "w") as f:
            json.dump(summary, f, indent=1)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
