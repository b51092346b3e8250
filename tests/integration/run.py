#!/usr/bin/env python3
"""Integration tests of py-heap against real cores of Debian's python3.11.

Each fixture program builds a known heap and measures the truth itself
(gc.get_objects() with sys.getsizeof, id() of marker objects) into
truth.json; its core is taken with fixtures/take-core.sh (gcore), once, and
taken again only when the fixture is newer than its core. Every check
compares py-heap's CLI (and GDB's py-heap) output with that truth:

  * types, as JSON, on two programs (fixtures/heap_basic.py and
    fixtures/heap_other.py): user classes (__main__.*, and
    collections.OrderedDict) exactly, count and bytes; builtin types at
    least as many as gc.get_objects() lists; totals, sorting, --limit;
  * types as text: header, one row per type, the Session row, the totals;
  * markers: strings in no GC list ("mk-str-") and strings nothing refers
    to ("leak-str-"), every one found by list str, with its size;
  * bad input: exit status 2, one line on stderr, within 20 s, no crash;
  * GDB: gdb/py-heap.py's types --json equal to the CLI's, its help
    (SKIP when gdb/py-heap.py is not there);
  * live processes (--no-live to leave them out).

    python3 tests/integration/run.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--no-gdb] [--no-live] [--python PY]

PYHEAP_WRAPPER (e.g. "valgrind -q --error-exitcode=99") prefixes every run
of the CLI. Prints PASS/FAIL/SKIP lines and ends with "N passed, N failed";
exits 1 if any check failed.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = os.environ.get("PYHEAP_TEST_PYTHON", "/usr/bin/python3.11")
results = {"passed": 0, "failed": 0}
CRASH_SIGNS = ("ERROR: AddressSanitizer", "runtime error:",
               "ERROR: LeakSanitizer", "Segmentation fault", "core dumped",
               "==ERROR", "Invalid read", "Invalid write")


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    sys.stdout.flush()


def skip(name, why):
    print("SKIP %s: %s" % (name, why))
    sys.stdout.flush()


INTERP = None


def take_core(fixture, outdir, *args):
    return INTERP.take_core(fixture, outdir, *args,
                            need=("ready", "truth.json"))


def wrapper():
    return shlex.split(os.environ.get("PYHEAP_WRAPPER", ""))


def cli(binary, args, timeout=300, env=None, stdin=None):
    r = subprocess.run(wrapper() + [binary] + args, capture_output=True,
                       text=True, timeout=timeout, input=stdin,
                       stdin=subprocess.DEVNULL if stdin is None else None,
                       env=None if env is None else dict(os.environ, **env))
    for bad in CRASH_SIGNS:
        if bad in r.stderr:
            raise RuntimeError("sanitizer/crash: " + r.stderr[-3000:])
    if r.returncode < 0:
        raise RuntimeError("killed by signal %d: %s" % (-r.returncode,
                                                        r.stderr[-1000:]))
    return r


def cli_json(binary, core, *args):
    r = cli(binary, ["--core", core, "--json"] + INTERP.py_heap_args() +
            list(args))
    if r.returncode != 0:
        raise RuntimeError("exit %d: %s" % (r.returncode, r.stderr))
    return json.loads(r.stdout)


def is_user(name):
    return name.startswith("__main__.") or name == "collections.OrderedDict"


def some(d, n=12):
    """The first n items of a dict of differences, for a FAIL line."""
    items = sorted(d.items())
    out = "; ".join("%s %s" % kv for kv in items[:n])
    return out + ("; ... (%d in all)" % len(items) if len(items) > n else "")


def pair(v):
    return "count %d bytes %d" % (v["count"], v["bytes"]) if v else "absent"


def truth_checks(truth, label):
    """The truth itself: what the program made is what it measured."""
    bad = {k: "made %d, gc.get_objects() %s" % (n, pair(truth["types"].get(k)))
           for k, n in truth.get("created", {}).items()
           if (truth["types"].get(k) or {}).get("count") != n}
    check("%s: truth.json agrees with what the program made" % label,
          not bad and truth["types"].get("__main__.Session" if label ==
                                         "basic" else "__main__.User"),
          some(bad))


def types_checks(binary, core, truth, label):
    d = cli_json(binary, core, "types", "--limit", "0")
    # the fields of old, in their order, then every answer's own
    check("%s: JSON keys" % label,
          list(d) == ["python", "objects", "bytes", "types", "interpreters", "partial",
                      "notes"], list(d))
    check("%s: python version" % label, d["python"] == truth["python"],
          "%r, truth %r" % (d["python"], truth["python"]))
    # (and "size_exact": false where __sizeof__ is not modelled)
    keys = (["type", "count", "bytes"], ["type", "count", "bytes",
                                          "size_exact"])
    check("%s: each type's keys" % label,
          all(list(t) in keys and t.get("size_exact", False) is False
              for t in d["types"]),
          [t for t in d["types"] if list(t) not in keys][:3])
    names = [t["type"] for t in d["types"]]
    check("%s: one entry per type" % label, len(names) == len(set(names)),
          sorted(n for n in set(names) if names.count(n) > 1)[:10])
    got = {t["type"]: t for t in d["types"]}
    bad = {k: "truth %s, py-heap %s" % (pair(v), pair(got.get(k)))
           for k, v in truth["types"].items()
           if is_user(k) and (got.get(k) or {}).get("count") != v["count"]
           or is_user(k) and (got.get(k) or {}).get("bytes") != v["bytes"]}
    n_user = sum(1 for k in truth["types"] if is_user(k))
    check("%s: %d user classes exactly (count and sys.getsizeof)" %
          (label, n_user), not bad, some(bad))
    extra = {k: pair(v) for k, v in got.items()
             if is_user(k) and k not in truth["types"]}
    check("%s: no user class the program does not have" % label, not extra,
          some(extra))
    fewer = {k: "truth count %d, py-heap %s" % (v["count"], pair(got.get(k)))
             for k, v in truth["types"].items()
             if not is_user(k) and (got.get(k) or {}).get("count", 0) <
             v["count"]}
    check("%s: builtin types at least gc.get_objects()'s" % label,
          not fewer, some(fewer))
    so = sum(t["count"] for t in d["types"])
    sb = sum(t["bytes"] for t in d["types"])
    check("%s: totals are sums" % label,
          d["objects"] == so and d["bytes"] == sb,
          "objects %d, sum %d; bytes %d, sum %d" % (d["objects"], so,
                                                    d["bytes"], sb))
    b = [t["bytes"] for t in d["types"]]
    check("%s: sorted by bytes" % label, b == sorted(b, reverse=True),
          next(("%s after %s" % (d["types"][i + 1], d["types"][i])
                for i in range(len(b) - 1) if b[i] < b[i + 1]), ""))
    c = cli_json(binary, core, "types", "--limit", "0", "--sort", "count")
    n = [t["count"] for t in c["types"]]
    check("%s: --sort count" % label, n == sorted(n, reverse=True) and
          sorted(c["types"], key=lambda t: t["type"]) ==
          sorted(d["types"], key=lambda t: t["type"]))
    l3 = cli_json(binary, core, "types", "--limit", "3")
    check("%s: --limit 3" % label, len(l3["types"]) == 3 and
          l3["types"] == d["types"][:3] and l3["objects"] == d["objects"] and
          l3["bytes"] == d["bytes"],
          "%d entries; totals %d/%d" % (len(l3["types"]), l3["objects"],
                                        l3["bytes"]))
    return d


def num(s):
    return int(s.replace(",", ""))


def text_checks(binary, core, truth, full):
    r = cli(binary, ["--core", core] + INTERP.py_heap_args() +
            ["types", "--limit", "0"])
    check("text: exit status 0", r.returncode == 0, r.stderr)
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    check("text: header", lines[0].split() == ["COUNT", "BYTES", "TYPE"],
          lines[0])
    # the footnote of the types marked inexact ("~": their bytes)
    inexact = sum(1 for t in full["types"] if t.get("size_exact") is False)
    if inexact:
        check("text: the footnote of %d types marked ~" % inexact,
              lines[-1].startswith("~: %d type" % inexact), lines[-1])
        lines = lines[:-1]
    rows = lines[1:-1]
    check("text: one row per type", len(rows) == len(full["types"]),
          "%d rows, %d types in the JSON" % (len(rows), len(full["types"])))
    parsed = []
    for l in rows:
        f = l.split(None, 2)
        row = {"type": f[2], "count": num(f[0]), "bytes": num(f[1].lstrip("~"))}
        if f[1].startswith("~"):
            row["size_exact"] = False
        parsed.append(row)
    check("text: rows equal the JSON's", parsed == full["types"],
          next(("%r vs %r" % (a, b) for a, b in zip(parsed, full["types"])
                if a != b), ""))
    want = truth["types"]["__main__.Session"]
    row = [p for p in parsed if p["type"] == "__main__.Session"]
    check("text: Session row", row and row[0]["count"] == want["count"] and
          row[0]["bytes"] == want["bytes"],
          "truth %s, row %r" % (pair(want), row))
    t = lines[-1].split()
    check("text: totals line", len(t) >= 3 and t[2] == "total" and
          num(t[0]) == full["objects"] and num(t[1]) == full["bytes"],
          lines[-1])


def marker_checks(binary, core, truth, label):
    l = cli_json(binary, core, "list", "str", "--limit", "0")
    check("%s: list str keys" % label,
          list(l)[:3] == ["type", "count", "objects"] and l["type"] == "str"
          and l["count"] == len(l["objects"]),
          "%r count %r, %d objects" % (list(l), l.get("count"),
                                       len(l.get("objects", []))))
    # (--limit K keeps the first K without sorting every object: the same
    # rows, in the same order, as the first K of the whole list)
    keyed = [(-o["size"], int(o["address"], 16)) for o in l["objects"]]
    for k in (1, 7, 100):
        lk = cli_json(binary, core, "list", "str", "--limit", str(k))
        check("%s: list str --limit %d: the whole list's first %d, its "
              "count the whole's" % (label, k, k),
              lk["objects"] == l["objects"][:k] and
              lk["count"] == l["count"],
              [(o["address"], o["size"]) for o in lk["objects"][:3]])
    check("%s: list str: the largest first, then by address" % label,
          keyed == sorted(keyed), keyed[:3])
    addr = {int(o["address"], 16): o for o in l["objects"]}
    for prefix, m in truth["markers"].items():
        name = "%s: markers %s" % (label, prefix)
        found = [(i, addr[i]) for i in m["ids"] if i in addr]
        missing = [hex(i) for i in m["ids"] if i not in addr]
        check("%s: all %d found" % (name, m["count"]),
              len(found) == m["count"] == len(m["ids"]),
              "%d of %d found; missing e.g. %s" % (len(found), m["count"],
                                                    missing[:5]))
        sizes = dict(zip(m["ids"], m["sizes"]))
        wrong = [(hex(i), sizes[i], o["size"]) for i, o in found
                 if o["size"] != sizes[i]]
        total = sum(o["size"] for _, o in found)
        check("%s: sizes" % name, not wrong and total == m["bytes"],
              "total %d, truth %d; (address, truth, py-heap) e.g. %s" %
              (total, m["bytes"], wrong[:5]))
        bad = [o["repr"] for _, o in found
               if not o["repr"].startswith("'" + prefix)]
        check("%s: values" % name, not bad, bad[:5])


def pages_checks(binary, core):
    """The big tables in huge pages or small ones (PYHEAP_HUGE_PAGES, else
    a first touch timed): the same answers; PYHEAP_TIMING says which."""
    args = ["--core", core, "--no-cache", "--json"] + INTERP.py_heap_args()
    outs = {}
    for huge in ("0", "1", None):
        env = {"PYHEAP_TIMING": "1"}
        if huge is not None:
            env["PYHEAP_HUGE_PAGES"] = huge
        r = cli(binary, args + ["--batch", "-"], env=env,
                stdin="summary\ncycles\ndominators --limit 5\n")
        check("pages (PYHEAP_HUGE_PAGES=%s): exit 0" % huge,
              r.returncode == 0, r.stderr[-2000:])
        said = re.findall(r"^py-heap: pages: (huge|small) \((?:a first "
                          r"touch [0-9.]+ us|PYHEAP_HUGE_PAGES)\) +"
                          r"[0-9.]+ ms$", r.stderr, re.M)
        want = {"0": ["small"], "1": ["huge"]}.get(huge)
        check("pages (PYHEAP_HUGE_PAGES=%s): PYHEAP_TIMING says which, once"
              % huge, len(said) == 1 and (want is None or said == want),
              r.stderr[-2000:])
        outs[huge] = r.stdout
    check("pages: huge and small pages, the same answers",
          outs["0"] == outs["1"] == outs[None] and outs["0"])


def core_pages_checks(binary, core):
    """The core's mapping asked for in huge pages before it is read whole
    (the heap's scan; the graph's building, also after a cached index), its
    page cache dropped first so that it is read through that mapping; or
    not (PYHEAP_CORE_HUGE=0): the same answers; PYHEAP_TIMING says which,
    once a run; a run from the index and graph caches reads the core
    sparsely and does not ask."""
    args = ["--core", core, "--json"] + INTERP.py_heap_args()
    stage = re.compile(r"^py-heap: core pages: (huge asked|small "
                       r"\((?:PYHEAP_CORE_HUGE|refused)\)) +[0-9.]+ ms$",
                       re.M)
    batch = "summary\ncycles\ndominators --limit 5\n"
    outs = {}
    cache = tempfile.mkdtemp(prefix="pyheap-pages-")
    # (label, options, stdin, PYHEAP_CORE_HUGE, what PYHEAP_TIMING says)
    runs = (("small", ["--no-cache"], batch, "0",
             ["small (PYHEAP_CORE_HUGE)"]),
            ("huge", ["--no-cache"], batch, None, ["huge asked"]),
            ("index written", [], "types\n", None, ["huge asked"]),
            ("graph after a cached index", [], batch, None, ["huge asked"]),
            ("cached", [], batch, None, []))
    try:
        for label, opts, stdin, huge, want in runs:
            env = {"PYHEAP_TIMING": "1", "PYHEAP_CACHE_DIR": cache}
            if huge is not None:
                env["PYHEAP_CORE_HUGE"] = huge
            fd = os.open(core, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            r = cli(binary, args + opts + ["--batch", "-"], env=env,
                    stdin=stdin)
            check("core pages (%s): exit 0" % label, r.returncode == 0,
                  r.stderr[-2000:])
            said = stage.findall(r.stderr)
            if want == ["huge asked"] and said == ["small (refused)"]:
                print("NOTE core pages: madvise(MADV_HUGEPAGE) refused "
                      "here")
                want = said
            check("core pages (%s): PYHEAP_TIMING says %s" % (label, want),
                  said == want, r.stderr[-2000:])
            if stdin == batch:
                outs[label] = r.stdout
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    first = outs["small"]
    check("core pages: huge asked or not, from the caches or not: the "
          "same answers", first and all(o == first for o in outs.values()),
          [k for k, o in outs.items() if o != first])


def bad_input_checks(binary, basic):
    work = tempfile.mkdtemp(prefix="pyheap-bad-")
    try:
        trunc = os.path.join(work, "trunc")
        with open(basic, "rb") as f, open(trunc, "wb") as g:
            g.write(f.read(os.path.getsize(basic) // 10))
        sleeper = subprocess.Popen(["sleep", "1000"])
        nonpy = os.path.join(work, "sleep.core")
        try:
            subprocess.run(["gcore", "-o", nonpy, str(sleeper.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, timeout=120,
                           env=dict(os.environ, DEBUGINFOD_URLS=""))
        finally:
            sleeper.kill()
            sleeper.wait()
        os.rename("%s.%d" % (nonpy, sleeper.pid), nonpy)
        # (name, args, strict): strict: exactly one line on stderr; the
        # others run on a good core, where a note that comes with any run
        # (no debug information) may precede the error.
        ph = INTERP.py_heap_args()
        cases = [
            ("not a core", ["--core", "/etc/passwd", "types"], True),
            ("truncated core", ["--core", trunc] + ph + ["types"], True),
            ("not a Python process", ["--core", nonpy, "types"], True),
            ("no such file", ["--core", os.path.join(work, "nope"), "types"],
             True),
            ("build-id mismatch", ["--core", basic, "--exe", "/bin/ls",
                                   "types"], True),
            ("unknown command", ["--core", basic] + ph + ["frobnicate"], False),
            ("bad option", ["--core", basic] + ph + ["types", "--limit", "x"],
             False),
            ("no such object", ["--core", basic] + ph + ["show", "0x10"],
             False),
        ]
        for name, args, strict in cases:
            t0 = time.time()
            try:
                r = subprocess.run(wrapper() + [binary] + args,
                                   capture_output=True, text=True,
                                   timeout=20, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                check("bad input: %s" % name, False, "still running after 20 s")
                continue
            took = time.time() - t0
            lines = [l for l in r.stderr.splitlines() if l.strip() and
                     (strict or "no debug information" not in l)]
            crash = [b for b in CRASH_SIGNS if b in r.stderr]
            check("bad input: %s" % name,
                  r.returncode == 2 and len(lines) == 1 and took < 20 and
                  lines[0].startswith("py-heap: ") and not crash and
                  not r.stdout,
                  "rc=%d stderr=%r stdout=%r %.1fs" % (
                      r.returncode, r.stderr[-600:], r.stdout[:200], took))
    except Exception as e:
        check("bad input", False, e)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def gdb_checks(binary, cores):
    script = os.path.join(ROOT, "gdb/py-heap.py")
    names = ["gdb: %s types --json equals the CLI's" % l for l, _ in cores] + [
        "gdb: help py-heap", "gdb: help py-heap types",
        "gdb: no Python traceback", "gdb: errors are GdbError lines"]
    if not os.path.exists(script):
        for n in names:
            skip(n, "no gdb/py-heap.py yet")
        return
    env = dict(os.environ, DEBUGINFOD_URLS="", PYHEAP_LIB=os.path.join(
        os.path.dirname(os.path.dirname(binary)), "lib", "libpyheap.so"))
    for i, (label, core) in enumerate(cores):
        try:
            help_cmds = ["-ex", "help py-heap", "-ex", "help py-heap types"] \
                if i == 0 else []
            out = subprocess.run(
                ["gdb", "-batch", "-nx"] + INTERP.gdb_args() +
                ["-ex", "source %s" % script,
                 "-ex", "py-heap types --json --limit 0"] + help_cmds +
                [INTERP.exe, core], capture_output=True, text=True,
                timeout=300, env=env, stdin=subprocess.DEVNULL)
            line = [l for l in out.stdout.splitlines() if l.startswith("{")]
            cli_out = cli_json(binary, core, "types", "--limit", "0")
            got = json.loads(line[0]) if line else None
            diff = ""
            if got and got != cli_out:
                g = {t["type"]: t for t in got["types"]}
                c = {t["type"]: t for t in cli_out["types"]}
                diff = "gdb %d/%d, CLI %d/%d; e.g. %s" % (
                    got["objects"], got["bytes"], cli_out["objects"],
                    cli_out["bytes"],
                    [(k, g.get(k), c.get(k)) for k in sorted(set(g) | set(c))
                     if g.get(k) != c.get(k)][:5])
            check(names[i], got == cli_out,
                  diff or "no JSON line; stderr: %s" % out.stderr[-800:])
            if i == 0:
                check("gdb: help py-heap", "Subcommands:" in out.stdout and
                      "types" in out.stdout, out.stdout[-800:])
                check("gdb: help py-heap types",
                      "Usage: py-heap types" in out.stdout, out.stdout[-800:])
                check("gdb: no Python traceback",
                      "Traceback" not in out.stderr, out.stderr[-800:])
        except Exception as e:
            check(names[i], False, e)
    try:
        out = subprocess.run(
            ["gdb", "-batch", "-nx"] + INTERP.gdb_args() + ["-ex",
             "source %s" % script, "-ex", "py-heap show 0x10",
             INTERP.exe, cores[0][1]],
            capture_output=True, text=True, timeout=300, env=env,
            stdin=subprocess.DEVNULL)
        check("gdb: errors are GdbError lines",
              "py-heap: show: no Python object at 0x10" in out.stderr and
              "Traceback" not in out.stderr, out.stderr[-800:])
    except Exception as e:
        check("gdb: errors are GdbError lines", False, e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--no-gdb", action="store_true")
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--python", help="the interpreter to test (default: "
                    "Debian's /usr/bin/python3.11)")
    a = ap.parse_args()
    global PYTHON, INTERP
    if a.python:
        PYTHON = a.python
    INTERP = Interp(PYTHON)
    binary = os.path.abspath(a.bin)
    cores_dir = os.path.abspath(a.cores_dir)

    fixtures = []
    for label in ("basic", "other"):
        fixture = "heap_%s.py" % label
        outdir = os.path.join(cores_dir, "heap_%s-%s" % (label, INTERP.tag))
        try:
            core = take_core(fixture, outdir)
            with open(os.path.join(outdir, "truth.json")) as f:
                truth = json.load(f)
            fixtures.append((label, core, truth))
            truth_checks(truth, label)
        except Exception as e:
            check("%s: core of %s" % (label, fixture), False, e)
    if not os.access(binary, os.X_OK):
        check("binary", False, "%s: no such executable" % binary)
        print("%d passed, %d failed" % (results["passed"], results["failed"]))
        return 1

    # ---- types, exactly ------------------------------------------------
    full = {}
    for label, core, truth in fixtures:
        try:
            full[label] = types_checks(binary, core, truth, label)
        except Exception as e:
            check("%s: types" % label, False, e)

    # ---- the build: release or debug (Py_DEBUG), as the process says ----
    for label, core, truth in fixtures:
        if label == "basic" and "build" in truth:
            try:
                d = cli_json(binary, core, "info")
                check("info: %s build" % truth["build"],
                      d.get("build") == truth["build"],
                      "py-heap says %r" % d.get("build"))
                # free-threaded as the interpreter's sysconfig says
                check("info: free_threaded %s" % INTERP.free_threaded,
                      d.get("free_threaded") == INTERP.free_threaded,
                      "py-heap says %r" % d.get("free_threaded"))
            except Exception as e:
                check("info", False, e)

    # ---- text output -----------------------------------------------------
    for label, core, truth in fixtures:
        if label == "basic" and label in full:
            try:
                text_checks(binary, core, truth, full[label])
            except Exception as e:
                check("text output", False, e)

    # ---- huge pages or small ones: the same answers ----------------------
    for label, core, truth in fixtures:
        if label == "basic":
            try:
                pages_checks(binary, core)
            except Exception as e:
                check("pages", False, e)
            try:
                core_pages_checks(binary, core)
            except Exception as e:
                check("core pages", False, e)

    # ---- objects nothing in the GC lists reaches ------------------------
    for label, core, truth in fixtures:
        try:
            marker_checks(binary, core, truth, label)
        except Exception as e:
            check("%s: markers" % label, False, e)

    # ---- bad input -------------------------------------------------------
    basic = [core for label, core, _ in fixtures if label == "basic"]
    if basic:
        bad_input_checks(binary, basic[0])

    # ---- GDB: the same answers --------------------------------------------
    if not a.no_gdb and fixtures:
        gdb_checks(binary, [(label, core) for label, core, _ in fixtures])

    if not a.no_live:
        live_checks(binary, a.no_gdb)

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


# ---- live processes -------------------------------------------------------
TICKER = r'''
import os, signal, sys, threading, time
class Ticket:
    def __init__(self, i): self.i = i
tickets = [Ticket(i) for i in range(4321)]
# grown by appends: its items in memory mremap grew, the spare capacity's
# pages never touched (read as zeros, copied apart from the rest)
grown = []
for k in range(30000):
    grown.append(k)
got_signals = []
for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT, signal.SIGCHLD):
    signal.signal(s, lambda n, f: got_signals.append(n))
def worker(n, ready):
    private_list = [Ticket(-k) for k in range(n)]
    ready.set()
    while True:
        time.sleep(0.02)
readies = []
for n in (11, 22, 33):
    ev = threading.Event(); readies.append(ev)
    threading.Thread(target=worker, args=(n, ev), daemon=True).start()
for ev in readies: ev.wait()
out = open(os.path.join(sys.argv[1], "ticks"), "w", buffering=1)
out.write("ready %d\n" % os.getpid())
i = 0
while True:
    i += 1
    out.write("tick %d signals %r\n" % (i, got_signals))
    time.sleep(0.01)
'''


def last_tick(path):
    with open(path) as f:
        lines = [l for l in f.read().splitlines() if l.startswith("tick")]
    return lines[-1] if lines else ""


def start_program(src, name):
    """Writes src to a fresh directory and starts it under the interpreter
    tested: (process, where it writes, the directory)."""
    work = tempfile.mkdtemp(prefix="pyheap-%s-" % name)
    prog = os.path.join(work, name + ".py")
    with open(prog, "w") as f:
        f.write(src)
    proc, where = INTERP.start(prog, os.path.join(work, "out"))
    return proc, where, work


def stop_program(proc, work):
    proc.kill()
    proc.wait()
    shutil.rmtree(work, ignore_errors=True)


def live_checks(binary, no_gdb):
    proc, where, work = start_program(TICKER, "ticker")
    ticks = os.path.join(where, "ticks")
    try:
        deadline = time.time() + 30
        while not (os.path.exists(ticks) and "tick" in open(ticks).read()):
            if time.time() > deadline:
                raise RuntimeError("ticker did not start")
            time.sleep(0.05)
        r = cli(binary, ["--pid", str(proc.pid), "--json", "types", "--limit", "0"])
        d = json.loads(r.stdout)
        got = {t["type"]: t["count"] for t in d["types"]}
        check("live: counts of the running program",
              got.get("__main__.Ticket") == 4321 + 11 + 22 + 33,
              got.get("__main__.Ticket"))
        check("live: the pause is reported",
              "paused process %d for" % proc.pid in r.stderr, r.stderr)
        check("live: whole (exit 0, no damage), a list's items partly "
              "never touched", r.returncode == 0 and
              "damaged" not in r.stderr, r.stderr)
        t1 = last_tick(ticks)
        time.sleep(0.3)
        t2 = last_tick(ticks)
        check("live: it keeps ticking", t1 != t2 and proc.poll() is None,
              (t1, t2))
        for _ in range(100):
            r = cli(binary, ["--pid", str(proc.pid), "types", "--limit", "1"],
                    timeout=60)
            if r.returncode != 0:
                break
        check("live: 100 inspections in a row", r.returncode == 0, r.stderr)
        t3 = last_tick(ticks)
        time.sleep(0.3)
        t4 = last_tick(ticks)
        check("live: unharmed after 100 inspections",
              proc.poll() is None and t3 != t4, (t3, t4))
        check("live: it saw no signal", t4.endswith("signals []"), t4)
        # Threads: every frame's locals are roots.
        lst = cli(binary, ["--pid", str(proc.pid), "--json", "list",
                           "__main__.Ticket", "--limit", "0"])
        objs = json.loads(lst.stdout)["objects"]
        first = cli(binary, ["--pid", str(proc.pid), "--json", "path",
                             objs[-1]["address"]])
        check("live: list and path work", first.returncode == 0, first.stderr)
        # the private lists: each held by a worker thread's local
        r = cli(binary, ["--pid", str(proc.pid), "--json", "list", "list",
                         "--limit", "0"])
        lists = json.loads(r.stdout)["objects"]
        locals_found = 0
        for l in lists:
            if l["repr"] in ("<list of 11 items>", "<list of 22 items>",
                             "<list of 33 items>"):
                p = json.loads(cli(binary, ["--pid", str(proc.pid), "--json",
                                            "path", l["address"]]).stdout)
                if p["root"] and "local 'private_list'" in p["root"]:
                    locals_found += 1
        check("live: each thread's local is a root", locals_found == 3,
              locals_found)
        r = cli(binary, ["--pid", str(proc.pid), "--no-stop", "types"])
        check("live: --no-stop warns", r.returncode == 0 and
              "without stopping" in r.stderr, r.stderr)
        r = cli(binary, ["--pid", "999999999", "types"])
        check("live: no such pid", r.returncode == 2 and
              len(r.stderr.strip().splitlines()) == 1, r.stderr)
        sl = subprocess.Popen(["sleep", "100"])
        r = cli(binary, ["--pid", str(sl.pid), "types"])
        sl.kill()
        sl.wait()
        check("live: not a Python process", r.returncode == 2 and
              "not a Python process" in r.stderr, r.stderr)
        if not no_gdb:
            out = subprocess.run(
                ["gdb", "-batch", "-nx", "-p", str(proc.pid), "-ex",
                 "source %s" % os.path.join(ROOT, "gdb/py-heap.py"),
                 "-ex", "py-heap types --json --limit 0"],
                capture_output=True, text=True, timeout=300)
            line = [l for l in out.stdout.splitlines() if l.startswith("{")]
            got = {t["type"]: t["count"]
                   for t in json.loads(line[0])["types"]} if line else {}
            check("live: gdb -p sees the same counts",
                  got.get("__main__.Ticket") == 4321 + 66, out.stderr[-800:])
            t5 = last_tick(ticks)
            time.sleep(0.3)
            check("live: runs on after gdb detached",
                  proc.poll() is None and last_tick(ticks) != t5)
    except Exception as e:
        check("live", False, e)
    finally:
        stop_program(proc, work)
    busy_checks(binary)


# A program that allocates and frees all the time: stopped at any
# instruction, it may be in the middle of changing a pool or a GC list.
BUSY = r'''
import os, sys
keep = []
open(os.path.join(sys.argv[1], "ready"), "w").close()
i = 0
while True:
    keep.append({"a": [i, str(i)], "b": (i, i + 1.5)})
    if len(keep) > 20000:
        del keep[:10000]
    i += 1
'''


def busy_checks(binary):
    proc, where, work = start_program(BUSY, "busy")
    try:
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(where, "ready")):
            if time.time() > deadline:
                raise RuntimeError("busy program did not start")
            time.sleep(0.05)
        bad, again = [], 0
        for _ in range(30):
            r = cli(binary, ["--pid", str(proc.pid), "types", "--limit",
                             "1"], timeout=60)
            if r.returncode != 0:
                bad.append(r.stderr)
            again += "read again" in r.stderr
        # a snapshot caught mid-change is taken again, not reported as
        # damage
        check("live: a process allocating all the time, 30 inspections: "
              "each whole (exit 0)", not bad,
              "%d failed (%d read again): %s" % (len(bad), again,
                                                 bad[:1]))
        check("live: the allocating process runs on", proc.poll() is None)
    except Exception as e:
        check("live: allocating process", False, e)
    finally:
        stop_program(proc, work)


if __name__ == "__main__":
    sys.exit(main())
