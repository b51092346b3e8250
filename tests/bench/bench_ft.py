#!/usr/bin/python3.11
"""bench_ft.py - py-heap on a large free-threaded heap (issue #19).

Runs tests/bench/heap.py N DIR (the benchmark's heap, the same as
bench.py's) under a free-threaded CPython (3.13t, built in the trixie root
by fixtures/provision.sh trixie-ft, run there under chroot), takes its core
with gcore (sparse: mimalloc's arena is mostly holes), lets heap.py count
in-process what gc.get_objects() returns, what it reaches through untracked
objects, and what gc.collect() frees; then times, run directly (wall clock
around it, peak RSS from wait4's rusage: /usr/bin/time's own start added
~6 ms to a run):

  types                 objects and bytes: against the in-process closure
                        (every object reachable from gc.get_objects())
  summary               its tracked objects: against gc.get_objects()
  cycles --unreachable  the unreachable objects: against gc.collect()'s
                        count (the heap's cycles, freed by it)

with --no-cache (the index cache is off for free-threaded builds anyway)
and PYHEAP_TIMING=1 (the stages), each --repeat times (the median), the
core read whole just before each command's runs: warm, as bench.py's warm
condition (a core left alone for about a minute leaves the page cache on
the machines of docs/performance.md, and the first command then timed the
disk). Prints one table, and writes WORK/bench-ft-results.md and
WORK/bench-ft-results.json.

    tests/bench/bench_ft.py --bin build/bin/py-heap --work-dir build/bench \\
        [--size 3000000] [--python ROOT::PYTHON]

Without --python: the first free-threaded interpreter
scripts/interpreters.sh finds (PYHEAP_FT_ONLY=1); none: it says so and
exits 0. The core is kept in WORK/ft-size-N and reused while newer than
heap.py and the interpreter (--force takes it again).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from interp import Interp  # noqa: E402
from bench import warm_up  # noqa: E402

HEAP_PY = os.path.join(HERE, "heap.py")


def log(msg):
    print("bench_ft: " + msg, file=sys.stderr, flush=True)


def ft_interpreter():
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "interpreters.sh")],
                         capture_output=True, text=True,
                         env=dict(os.environ, PYHEAP_FT_ONLY="1")).stdout.split()
    return out[0] if out else None


def wait_for(path, proc, timeout):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise RuntimeError("heap.py ended (exit %s) before %s" %
                               (proc.returncode, os.path.basename(path)))
        if time.time() > deadline:
            raise RuntimeError("no %s after %d s" % (os.path.basename(path),
                                                     timeout))
        time.sleep(0.1)


def take_core(it, n, workdir, force):
    """The core of heap.py N under it, and the in-process counts."""
    d = os.path.join(workdir, "ft-size-%d" % n)
    core = os.path.join(d, "core")
    newest = max(os.path.getmtime(HEAP_PY), os.path.getmtime(it.exe))
    done = [os.path.join(d, f) for f in ("core", "inproc.json",
                                         "inproc-gc.json")]
    if not force and all(os.path.exists(f) for f in done) and \
            os.path.getmtime(core) > newest:
        log("reusing %s" % core)
    else:
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        # heap.py runs in the root: its directory is the root's
        inside = "/tmp/pyheap-bench-ft"
        shutil.rmtree(it.root + inside, ignore_errors=True)
        os.makedirs(it.root + inside + "/out")
        shutil.copy(HEAP_PY, it.root + inside)
        out = it.root + inside + "/out"
        log("building %d objects under %s" % (n, it.spec))
        t0 = time.time()
        proc = subprocess.Popen(
            it.command([inside + "/heap.py", str(n), inside + "/out"]),
            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            env=dict(os.environ, PYTHON_GIL="0"))
        try:
            wait_for(os.path.join(out, "ready"), proc, 3600)
            log("heap built in %.0f s; gcore" % (time.time() - t0))
            subprocess.run(["gcore", "-o", core, str(proc.pid)], check=True,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=1800)
            os.rename("%s.%d" % (core, proc.pid), core)
            subprocess.run(["fallocate", "--dig-holes", core],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            open(os.path.join(out, "core-taken"), "w").close()
            wait_for(os.path.join(out, "inproc-gc.json"), proc, 3600)
        finally:
            proc.kill()
            proc.wait()
        for f in ("inproc.json", "inproc-gc.json"):
            shutil.copy(os.path.join(out, f), d)
        shutil.rmtree(it.root + inside, ignore_errors=True)
    with open(os.path.join(d, "inproc.json")) as f:
        ip = json.load(f)
    with open(os.path.join(d, "inproc-gc.json")) as f:
        ig = json.load(f)
    return core, ip, ig


def run(binary, it, core, args):
    """py-heap ARGS --json, run directly and reaped by wait4: (answer,
    seconds, peak RSS in MB, stages, exit status)."""
    argv = [binary, "--core", core, "--json", "--no-cache"] + \
        it.py_heap_args() + list(args)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL,
                             env=dict(os.environ, PYHEAP_TIMING="1"))
        timer = threading.Timer(3600, p.kill)  # bounded, as every run
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            p.kill()
            p.wait()
            raise
        finally:
            timer.cancel()
        took = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    rss = ru.ru_maxrss / 1024.0
    stages = [l[len("py-heap: "):].strip() for l in stderr.splitlines()
              if re.match(r"py-heap: .* [0-9.]+ ms$", l)]
    try:
        ans = json.loads(stdout.splitlines()[0])
    except (ValueError, IndexError):
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                                stderr[-600:]))
    return ans, took, rss, stages, p.returncode


def fmt(n):
    return "{:,}".format(n) if isinstance(n, int) else str(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--work-dir", default=os.path.join(ROOT, "build/bench"))
    ap.add_argument("--size", type=int, default=3000000)
    ap.add_argument("--python", help="a free-threaded interpreter, "
                    "ROOT::PYTHON (default: the first one "
                    "scripts/interpreters.sh finds)")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each command (the median)")
    a = ap.parse_args()
    spec = a.python or ft_interpreter()
    if not spec:
        print("bench_ft: SKIP: no free-threaded interpreter "
              "(fixtures/provision.sh trixie-ft)")
        return 0
    it = Interp(spec)
    if not it.free_threaded:
        print("bench_ft: SKIP: %s is not a free-threaded build" % spec)
        return 0
    if not it.root:
        sys.exit("bench_ft: %s: a ROOT::PYTHON spec is expected" % spec)
    os.makedirs(a.work_dir, exist_ok=True)
    binary = os.path.abspath(a.bin)
    core, ip, ig = take_core(it, a.size, os.path.abspath(a.work_dir), a.force)
    rows = []

    def timed(args):
        # warm (the core read whole), then the median run of --repeat by
        # its wall time; its answer, peak RSS and stages with it
        warm_up(core)
        runs = sorted((run(binary, it, core, args)
                       for _ in range(max(1, a.repeat))),
                      key=lambda r: r[1])
        return runs[len(runs) // 2]

    ty, t_ty, rss_ty, st_ty, rc_ty = timed(["types", "--limit", "0"])
    sm, t_sm, rss_sm, st_sm, rc_sm = timed(["summary"])
    cy, t_cy, rss_cy, st_cy, rc_cy = timed(["cycles", "--unreachable",
                                            "--limit", "0"])
    gcs = sm.get("gc", {})
    tracked = sum(v for k, v in gcs.items() if k != "untracked_or_not_gc")
    closure = ig.get("closure_objects")
    rows.append(("types", t_ty, rss_ty, "objects %s (in-process closure %s)"
                 % (fmt(ty["objects"]), fmt(closure)),
                 ty["objects"] - (closure or 0), rc_ty))
    rows.append(("summary", t_sm, rss_sm, "tracked %s (gc.get_objects() %s)"
                 % (fmt(tracked), fmt(ip["gc_get_objects"])),
                 tracked - ip["gc_get_objects"], rc_sm))
    rows.append(("cycles --unreachable", t_cy, rss_cy,
                 "unreachable %s (gc.collect() freed %s)" %
                 (fmt(cy["unreachable_objects"]), fmt(ig["gc_collect_freed"])),
                 cy["unreachable_objects"] - ig["gc_collect_freed"], rc_cy))
    title = ("py-heap on a free-threaded heap: Python %s (%s), heap.py %s: "
             "%s objects built, gc.get_objects() %s" %
             (ip["python"], spec, fmt(a.size), fmt(ip["objects_built"]),
              fmt(ip["gc_get_objects"])))
    lines = [title, "", "| command | wall s | peak RSS MB | against the "
             "process | py-heap less the process | exit |", "|---|---|---|---|---|---|"]
    for name, t, rss, what, eq, rc in rows:
        lines.append("| %s | %.2f | %.0f | %s | %s | %d |" %
                     (name, t, rss, what, "%+d" % eq, rc))
    lines += ["", "In-process: gc.get_objects() %.2f s, typestats %.2f s "
              "(median of 3). py-heap: the median of %d runs each, the "
              "core read whole before them." % (
                  ip["get_objects_s"], ip["typestats_s"], max(1, a.repeat))]
    text = "\n".join(lines) + "\n"
    print(text)
    for label, st in (("types", st_ty), ("cycles", st_cy)):
        if st:
            print("%s stages:\n  %s" % (label, "\n  ".join(st[:20])))
    with open(os.path.join(a.work_dir, "bench-ft-results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.work_dir, "bench-ft-results.json"), "w") as f:
        json.dump({"python": ip["python"], "spec": spec, "size": a.size,
                   "inproc": ip, "inproc_gc": ig,
                   "repeat": max(1, a.repeat),
                   "rows": [{"command": r[0], "seconds": r[1],
                             "peak_rss_mb": r[2], "against": r[3],
                             "difference": r[4], "exit": r[5],
                             "stages": st} for r, st in zip(
                                 rows, (st_ty, st_sm, st_cy))]},
                  f, indent=1, sort_keys=True)
    return 0 if all(r[5] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
