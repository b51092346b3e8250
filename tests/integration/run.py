#!/usr/bin/env python3
"""Integration tests of py-heap against real cores of Debian's python3.11.

Each fixture program builds a known heap and measures the truth itself
(gc.get_objects() with sys.getsizeof, id() of marker objects); its core is
taken with gcore. Every check compares py-heap's CLI (and GDB's py-heap)
output with that truth, exactly. Also: bad input, live processes.

    python3 tests/integration/run.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--no-gdb] [--no-live]

Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import argparse
import ast
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = os.environ.get("PYHEAP_TEST_PYTHON", "/usr/bin/python3.11")
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    sys.stdout.flush()


INTERP = None


def take_core(fixture, outdir, *args):
    return INTERP.take_core(fixture, outdir, *args)


def wrapper():
    return shlex.split(os.environ.get("PYHEAP_WRAPPER", ""))


def cli(binary, args, timeout=300):
    r = subprocess.run(wrapper() + [binary] + args, capture_output=True,
                       text=True, timeout=timeout)
    for bad in ("ERROR: AddressSanitizer", "runtime error:",
                "ERROR: LeakSanitizer", "Segmentation fault"):
        if bad in r.stderr:
            raise RuntimeError("sanitizer/crash: " + r.stderr[-3000:])
    return r


def cli_json(binary, core, *args):
    r = cli(binary, ["--core", core, "--json"] + INTERP.py_heap_args() +
            list(args))
    if r.returncode != 0:
        raise RuntimeError("exit %d: %s" % (r.returncode, r.stderr))
    return json.loads(r.stdout)


def is_user(name):
    return name.startswith("__main__.") or name == "collections.OrderedDict"


def types_checks(binary, core, truth, label):
    d = cli_json(binary, core, "types", "--limit", "0")
    check("%s: JSON keys" % label,
          list(d) == ["python", "objects", "bytes", "types"], list(d))
    check("%s: python version" % label, d["python"] == truth["python"],
          d["python"])
    got = {t["type"]: (t["count"], t["bytes"]) for t in d["types"]}
    bad = {k: (v, got.get(k)) for k, v in truth["types"].items()
           if is_user(k) and got.get(k) != tuple(v)}
    check("%s: user classes exactly (count and sys.getsizeof)" % label,
          not bad, bad)
    fewer = {k: (v, got.get(k)) for k, v in truth["types"].items()
             if not is_user(k) and got.get(k, (0, 0))[0] < v[0]}
    check("%s: builtin types at least gc.get_objects()'s" % label,
          not fewer, fewer)
    check("%s: totals are sums" % label,
          d["objects"] == sum(t["count"] for t in d["types"]) and
          d["bytes"] == sum(t["bytes"] for t in d["types"]))
    b = [t["bytes"] for t in d["types"]]
    check("%s: sorted by bytes" % label, b == sorted(b, reverse=True))
    c = cli_json(binary, core, "types", "--limit", "0", "--sort", "count")
    n = [t["count"] for t in c["types"]]
    check("%s: --sort count" % label, n == sorted(n, reverse=True))
    l3 = cli_json(binary, core, "types", "--limit", "3")
    check("%s: --limit 3" % label, len(l3["types"]) == 3 and
          l3["types"] == d["types"][:3])
    return d


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
    cores = os.path.abspath(a.cores_dir)

    tag = INTERP.tag
    basic_dir = os.path.join(cores, "heap_basic-" + tag)
    basic = take_core("heap_basic.py", basic_dir)
    other_dir = os.path.join(cores, "heap_other-" + tag)
    other = take_core("heap_basic.py", other_dir, "--other")
    tb = ast.literal_eval(open(os.path.join(basic_dir, "truth.txt")).read())
    to = ast.literal_eval(open(os.path.join(other_dir, "truth.txt")).read())

    # ---- types, exactly ------------------------------------------------
    for core, truth, label in ((basic, tb, "basic"), (other, to, "other")):
        try:
            types_checks(binary, core, truth, label)
        except Exception as e:
            check("%s: types" % label, False, e)

    # ---- text output -----------------------------------------------------
    try:
        r = cli(binary, ["--core", basic] + INTERP.py_heap_args() +
                ["types", "--limit", "0"])
        lines = r.stdout.splitlines()
        check("text: header", lines[0].split() == ["COUNT", "BYTES", "TYPE"],
              lines[0])
        row = [l for l in lines if l.endswith(" __main__.Session")]
        want = tb["types"]["__main__.Session"]
        check("text: Session row",
              row and row[0].split()[:2] == ["{:,}".format(want[0]),
                                             "{:,}".format(want[1])], row)
        check("text: totals line", lines[-1].split()[2] == "total", lines[-1])
    except Exception as e:
        check("text output", False, e)

    # ---- objects nothing in the GC lists reaches ------------------------
    try:
        l = cli_json(binary, basic, "list", "str", "--limit", "0")
        addr = {int(o["address"], 16): o for o in l["objects"]}
        for prefix, m in tb["markers"].items():
            found = [addr[i] for i in m["ids"] if i in addr]
            check("markers %s: all found" % prefix, len(found) == m["count"],
                  "%d of %d" % (len(found), m["count"]))
            check("markers %s: sizes" % prefix,
                  sum(o["size"] for o in found) == m["bytes"])
            check("markers %s: values" % prefix,
                  all(o["repr"].startswith("'" + prefix) for o in found))
    except Exception as e:
        check("markers", False, e)

    # ---- bad input -------------------------------------------------------
    work = tempfile.mkdtemp(prefix="pyheap-bad-")
    try:
        trunc = os.path.join(work, "trunc")
        with open(basic, "rb") as f, open(trunc, "wb") as g:
            g.write(f.read(os.path.getsize(basic) // 10))
        sleeper = subprocess.Popen(["sleep", "1000"])
        nonpy = os.path.join(work, "sleep.core")
        subprocess.run(["gcore", "-o", nonpy, str(sleeper.pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sleeper.kill()
        sleeper.wait()
        os.rename("%s.%d" % (nonpy, sleeper.pid), nonpy)
        cases = [
            ("not a core", ["--core", "/etc/passwd", "types"]),
            ("truncated core", ["--core", trunc, "types"]),
            ("not a Python process", ["--core", nonpy, "types"]),
            ("no such file", ["--core", os.path.join(work, "nope"), "types"]),
            ("build-id mismatch", ["--core", basic, "--exe", "/bin/ls", "types"]),
            ("unknown command", ["--core", basic] + INTERP.py_heap_args() +
             ["frobnicate"]),
            ("bad option", ["--core", basic] + INTERP.py_heap_args() +
             ["types", "--limit", "x"]),
            ("no such object", ["--core", basic] + INTERP.py_heap_args() +
             ["show", "0x10"]),
        ]
        for name, args in cases:
            t0 = time.time()
            r = cli(binary, args, timeout=60)
            took = time.time() - t0
            # notes that come with any run (no debug information) aside
            lines = [l for l in r.stderr.splitlines() if l.strip() and
                     "no debug information" not in l]
            check("bad input: %s" % name,
                  r.returncode == 2 and len(lines) == 1 and took < 20 and
                  lines[0].startswith("py-heap: "),
                  "rc=%d stderr=%r %.1fs" % (r.returncode, r.stderr, took))
    except Exception as e:
        check("bad input", False, e)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # ---- GDB: the same answers --------------------------------------------
    if not a.no_gdb:
        try:
            env = dict(os.environ, PYHEAP_LIB=os.path.join(
                os.path.dirname(os.path.dirname(binary)), "lib", "libpyheap.so"))
            out = subprocess.run(
                ["gdb", "-batch", "-nx"] + INTERP.gdb_args() + ["-ex",
                 "source %s" % os.path.join(ROOT, "gdb/py-heap.py"),
                 "-ex", "py-heap types --json --limit 0",
                 "-ex", "help py-heap", "-ex", "help py-heap types",
                 INTERP.exe, basic], capture_output=True,
                text=True, timeout=300, env=env)
            line = [l for l in out.stdout.splitlines() if l.startswith("{")]
            cli_out = cli_json(binary, basic, "types", "--limit", "0")
            check("gdb: types --json equals the CLI's",
                  line and json.loads(line[0]) == cli_out, out.stderr[-800:])
            check("gdb: help py-heap", "Subcommands:" in out.stdout)
            check("gdb: help py-heap types",
                  "Usage: py-heap types" in out.stdout)
            check("gdb: no Python traceback", "Traceback" not in out.stderr,
                  out.stderr[-800:])
            out = subprocess.run(
                ["gdb", "-batch", "-nx"] + INTERP.gdb_args() + ["-ex",
                 "source %s" % os.path.join(ROOT, "gdb/py-heap.py"),
                 "-ex", "py-heap show 0x10", INTERP.exe, basic],
                capture_output=True, text=True, timeout=300, env=env)
            check("gdb: errors are GdbError lines",
                  "py-heap: show: no Python object at 0x10" in out.stderr and
                  "Traceback" not in out.stderr, out.stderr[-800:])
        except Exception as e:
            check("gdb", False, e)

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


def live_checks(binary, no_gdb):
    work = tempfile.mkdtemp(prefix="pyheap-live-")
    prog = os.path.join(work, "ticker.py")
    with open(prog, "w") as f:
        f.write(TICKER)
    proc, where = INTERP.start(prog, os.path.join(work, "out"))
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
        proc.kill()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
