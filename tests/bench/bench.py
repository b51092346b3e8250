#!/usr/bin/python3.11
"""bench.py - time py-heap on large cores against the in-process tools.

For each size N (objects) in --sizes:

  1. run tests/bench/heap.py N DIR under /usr/bin/python3.11: it builds the
     heap and times the in-process tools on it (objgraph-style typestats,
     gc.get_objects(), gc.get_referrers()), then writes DIR/ready;
  2. take its core with gcore, touch DIR/core-taken; heap.py then counts the
     objects it can reach from gc.get_objects() and times gc.collect();
  3. run py-heap on the core (wall clock; CPU, peak RSS and page faults
     from wait4's rusage), with PYHEAP_TIMING=1 (the stages of the object enumeration):
       types, summary, referrers ADDR, path ADDR, cycles --unreachable,
       refcheck, dominators, leaks
  4. print one table per size, and write WORK/bench-results.md and
     WORK/bench-results.json.

Cores are cached in WORK/size-N, keyed by N, heap.py's mtime and the Python
executable; --force rebuilds them. --callgrind also runs `py-heap types` on
the smallest core under valgrind's callgrind and reports the instructions
executed (Ir).

Every CLI run of py-heap enumerates the heap again and the graph commands
build the whole reference graph again: there is no way to ask a second
question of the same process. So "index build" below is an estimate:
referrers' time minus types' time (types enumerates objects but builds no
graph; referrers does both and the query itself is cheap).

Standard library only.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from interp import cache_writers_wait  # noqa: E402

HEAP_PY = os.path.join(HERE, "heap.py")
PYTHON = "/usr/bin/python3.11"
MiB = 1024.0 * 1024.0


class BenchError(Exception):
    pass


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# ---- processes -------------------------------------------------------------

def kill_group(p):
    """End p and what it started (it runs in its own session we made)."""
    if p is None or p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


class RssSampler(threading.Thread):
    """Peak RssAnon / RssFile of pid (or of its child: the program a
    wrapper runs), sampled every few ms from /proc: rusage reports only the
    peak of both together, and py-heap maps the core, so its RSS includes
    the core's pages it touched."""

    def __init__(self, pid, direct=False):
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.anon = self.file = 0
        self.direct = direct

    def run(self):
        child = self.pid if self.direct else None
        while not self.stop.wait(0.005):
            try:
                if child is None:
                    with open("/proc/%d/task/%d/children"
                              % (self.pid, self.pid)) as f:
                        kids = f.read().split()
                    if not kids:
                        continue
                    child = int(kids[0])
                with open("/proc/%d/status" % child) as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            self.anon = max(self.anon, int(line.split()[1]))
                        elif line.startswith("RssFile:"):
                            self.file = max(self.file, int(line.split()[1]))
            except (OSError, ValueError):
                if child is not None:
                    return


def run(cmd, timeout, env=None, stdout=None, stderr=None, sampler=False):
    """Run cmd in its own session; kill it (and its children) on timeout."""
    p = subprocess.Popen(cmd, env=env, stdout=stdout or subprocess.PIPE,
                         stderr=stderr or subprocess.PIPE,
                         start_new_session=True)
    if sampler:
        sampler = RssSampler(p.pid)
        sampler.start()
    try:
        out, err = p.communicate(timeout=timeout)
        if sampler:
            sampler.stop.set()
            sampler.join()
            run.sampled = (sampler.anon, sampler.file)
    except subprocess.TimeoutExpired:
        kill_group(p)
        raise BenchError("timed out after %ds: %s" % (timeout, " ".join(cmd)))
    except BaseException:
        kill_group(p)
        raise
    return p.returncode, out, err


# ---- the core --------------------------------------------------------------

def core_key(size):
    st = os.stat(HEAP_PY)
    return {"size": size, "heap_py_mtime": st.st_mtime_ns, "python": PYTHON}


def wait_for(path, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise BenchError("heap.py exited (%d) before %s: %s"
                             % (proc.returncode, what, err.strip()[-2000:]))
        if time.monotonic() > deadline:
            raise BenchError("no %s after %ds" % (what, timeout))
        time.sleep(0.05)


def make_core(size, d, force):
    """Build (or reuse) the core for size in directory d; return its info."""
    meta_path = os.path.join(d, "meta.json")
    core = os.path.join(d, "core")
    key = core_key(size)
    if not force and os.path.exists(meta_path) and os.path.exists(core):
        try:
            with open(meta_path) as f:
                meta = json.load(f)
        except ValueError:
            meta = None
        if meta and meta.get("key") == key:
            log("size %s: reusing %s" % (fmt_n(size), core))
            return meta
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)

    # A rough bound: about 110 bytes of core per object, plus the image.
    need = size * 110 + 200 * 1024 * 1024
    free = shutil.disk_usage(d).free
    if free < need * 1.2:
        raise BenchError("size %d: %.1f GiB free in %s, the core needs about "
                         "%.1f GiB" % (size, free / 2**30, d, need / 2**30))

    t_build = max(120, size // 1000000 * 60 + 60)
    log("size %s: building the heap (heap.py)" % fmt_n(size))
    proc = subprocess.Popen([PYTHON, HEAP_PY, str(size), d],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_for(os.path.join(d, "ready"), proc, t_build, "ready")
        with open(os.path.join(d, "inproc.json")) as f:
            inproc = json.load(f)
        log("size %s: gcore %d" % (fmt_n(size), proc.pid))
        t0 = time.monotonic()
        rc, out, err = run(["gcore", "-o", os.path.join(d, "core"),
                            str(proc.pid)], timeout=max(300, size // 10000))
        gcore_s = time.monotonic() - t0
        produced = os.path.join(d, "core.%d" % proc.pid)
        if rc != 0 or not os.path.exists(produced):
            raise BenchError("gcore failed (%d): %s"
                             % (rc, (err or b"").decode(errors="replace")[-2000:]))
        os.rename(produced, core)
        open(os.path.join(d, "core-taken"), "w").close()
        log("size %s: core taken (%.1f s, %.0f MiB); heap.py times "
            "gc.collect()" % (fmt_n(size), gcore_s,
                              os.path.getsize(core) / MiB))
        # the second core, of the grown heap (diff)
        wait_for(os.path.join(d, "ready2"), proc, t_build * 3, "ready2")
        core2 = os.path.join(d, "core2")
        rc, out, err = run(["gcore", "-o", core2, str(proc.pid)],
                           timeout=max(300, size // 10000))
        produced = os.path.join(d, "core2.%d" % proc.pid)
        if rc != 0 or not os.path.exists(produced):
            raise BenchError("gcore failed (%d): %s"
                             % (rc, (err or b"").decode(errors="replace")[-2000:]))
        os.rename(produced, core2)
        open(os.path.join(d, "core2-taken"), "w").close()
        log("size %s: second core taken (%.0f MiB)"
            % (fmt_n(size), os.path.getsize(core2) / MiB))
        try:
            proc.wait(timeout=t_build * 3)
        except subprocess.TimeoutExpired:
            raise BenchError("heap.py did not finish after the core")
        if proc.returncode != 0:
            err = proc.stderr.read().decode(errors="replace")
            raise BenchError("heap.py failed (%d): %s"
                             % (proc.returncode, err.strip()[-2000:]))
        with open(os.path.join(d, "inproc-gc.json")) as f:
            inproc_gc = json.load(f)
    except BaseException:
        kill_group(proc)
        raise
    finally:
        if proc.stderr:
            proc.stderr.close()
    with open(os.path.join(d, "inproc-grow.json")) as f:
        grow = json.load(f)
    meta = {"key": key, "core": core, "core_bytes": os.path.getsize(core),
            "core2": core2, "grow": grow,
            "gcore_s": gcore_s, "inproc": inproc, "inproc_gc": inproc_gc}
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return meta


# ---- py-heap, timed --------------------------------------------------------

STAGE_RE = re.compile(r"^py-heap: (.+?)\s+([0-9.]+) ms$")


def spawn_timed(cmd, timeout, env, out, err):
    """cmd run directly (no /usr/bin/time: its own start took ~6 ms, 40% of
    a cached run), stdout and stderr to files; (exit status, wall s,
    rusage, the sampler's (anon, file) KiB). Killed on timeout."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err,
                         start_new_session=True)
    sampler = RssSampler(p.pid, direct=True)
    sampler.start()
    timed_out = []

    def kill():                         # (the main thread reaps it)
        timed_out.append(True)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    except BaseException:
        timer.cancel()
        kill_group(p)
        raise
    timer.cancel()
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop.set()
    sampler.join()
    if timed_out:
        raise BenchError("timed out after %ds: %s" % (timeout, " ".join(cmd)))
    return p.returncode, wall, ru, (sampler.anon, sampler.file)


# ["--no-cache"] when py-heap has an index cache: every run goes without
# it but the "cached" condition's
NO_CACHE = []


def writers_wait(cache_dir, timeout):
    """Seconds until py-heap's detached writers of the cache files in
    cache_dir are done, after the run that forked them has exited: the
    next run, ours or the in-process count, starts on a machine where
    none writes."""
    t0 = time.monotonic()
    if not cache_writers_wait(cache_dir, timeout):
        raise BenchError("a detached writer in %s still writes after %d s"
                         % (cache_dir, timeout))
    return time.monotonic() - t0


def py_heap(binary, core, args, timeout, out_path, json_out=True,
            env_extra=None, cache=False):
    """Run py-heap [--json] ARGS; return timings, peak RSS, stages, and
    how long its detached writers wrote after it exited (writer_after)."""
    env = dict(os.environ, PYHEAP_TIMING="1", LC_ALL="C")
    env.update(env_extra or {})
    cmd = ([binary, "--core", core] +
           ([] if cache else NO_CACHE) +
           (["--json"] if json_out else []) + args)
    with open(out_path, "wb") as out, tempfile.TemporaryFile() as ef:
        rc, wall, ru, (anon_kb, file_kb) = spawn_timed(cmd, timeout, env,
                                                       out, ef)
        after = writers_wait(os.path.join(env["XDG_CACHE_HOME"], "py-heap"),
                             timeout) if env.get("XDG_CACHE_HOME") else 0.0
        ef.seek(0)
        err = ef.read().decode(errors="replace")
    r = {"args": args, "rc": rc, "wall": wall, "writer_after": after,
         "user": ru.ru_utime, "sys": ru.ru_stime, "rss_kb": ru.ru_maxrss,
         "major_faults": ru.ru_majflt, "minor_faults": ru.ru_minflt}
    r["rss_mib"] = r.pop("rss_kb") / 1024.0
    r["anon_mib"] = anon_kb / 1024.0     # sampled: a lower bound
    r["file_mib"] = file_kb / 1024.0
    stages = []
    for line in err.splitlines():
        m = STAGE_RE.match(line)
        if m:
            stages.append((m.group(1), float(m.group(2)) / 1e3))
    r["stages"] = stages
    if rc != 0:
        msgs = [l for l in err.splitlines()
                if l.startswith("py-heap:") and not STAGE_RE.match(l)]
        raise BenchError("py-heap %s failed (%d): %s"
                         % (" ".join(args), rc, "; ".join(msgs)[-2000:]))
    r["output_bytes"] = os.path.getsize(out_path)
    return r


def summarize_result(name, path):
    """The few numbers of a command's JSON output worth reporting."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (ValueError, OSError) as e:
        return {"parse_error": str(e)}
    s = {}
    if name in ("types", "summary"):
        s["objects"] = data.get("objects")
        s["bytes"] = data.get("bytes")
        s["types"] = len(data.get("types", []))
    elif name == "referrers":
        s["referrers"] = len(data.get("referrers", []))
        s["roots"] = len(data.get("roots", []))
    elif name == "path":
        s["keys"] = sorted(data)[:8]
        for k in ("path", "steps", "chain"):
            if isinstance(data.get(k), list):
                s["length"] = len(data[k])
    elif name == "cycles":
        cyc = data.get("cycles", [])
        s["cycles"] = len(cyc)
        s["objects"] = sum(c.get("objects", 0) for c in cyc)
        s["unreachable_objects"] = sum(c.get("objects", 0) for c in cyc
                                       if c.get("unreachable"))
        for k, v in data.items():
            if k != "cycles" and isinstance(v, (int, float)):
                s[k] = v
    elif name == "refcheck":
        for k in ("checked", "excess_objects", "deficit_objects"):
            s[k] = data.get(k)
    elif name == "dominators":
        rows = data.get("dominators", [])
        s["objects"] = data.get("objects")
        s["top"] = [(r["type"], r["share"]) for r in rows[:3]]
    elif name == "leaks":
        sus = data.get("suspects", [])
        s["suspects"] = len(sus)
        s["top"] = [(x["type"], x["share"],
                     x["accumulation"]["children_type"],
                     x["accumulation"]["children"]) for x in sus[:3]]
    return s


def median_of(runs):
    runs = sorted(runs, key=lambda r: r["wall"])
    best = dict(runs[len(runs) // 2])
    best["walls"] = [r["wall"] for r in runs]
    return best


def median_run(binary, core, args, timeout, out_path, repeat, json_out):
    return median_of([py_heap(binary, core, args, timeout, out_path,
                              json_out) for _ in range(repeat)])


def turns(binary, items, timeout, repeat):
    """items: (name, core, args, out_path), run in turn, repeat rounds:
    a ratio of two of them (diff over the two cold types) is then of runs
    the machine's state moved alike, as the conditions' pairs are. Each
    name's median run."""
    runs = {}
    for _ in range(repeat):
        for name, core, cargs, out_path in items:
            runs.setdefault(name, []).append(
                py_heap(binary, core, cargs, timeout, out_path, True))
    return {name: median_of(r) for name, r in runs.items()}


# ---- the conditions users meet: busy, cold, warm, cached ---------------------

class InProc:
    """heap.py N --serve: the same heap as the core's, in a process of its
    own, which times the in-process tools when asked; asked between
    py-heap's runs, so that both are measured under the same load."""

    def __init__(self, size):
        self.p = subprocess.Popen([PYTHON, HEAP_PY, str(size), "--serve"],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True,
                                  start_new_session=True)
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            kill_group(self.p)
            raise BenchError("heap.py --serve: %r" % line)

    def ask(self, what):
        self.p.stdin.write(what + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        try:
            return float(line)
        except ValueError:
            raise BenchError("heap.py --serve %s: %r" % (what, line))

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
            self.p.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        kill_group(self.p)


# The other process of "busy": a CPU- and memory-bound loop over 64 MiB
# (a cache line further each step, as a program walking its data), bounded
# by time, stopped by the bench.
BUSY_LOOP = """
import time
b = bytearray(64 << 20)
n = len(b)
end = time.monotonic() + %d
i = 0
while time.monotonic() < end:
    for _ in range(10000):
        b[i] = (b[i] + 1) & 255
        i = (i + 4160) %% n
"""


class Busy:
    def __init__(self, seconds=1800):
        self.p = subprocess.Popen([PYTHON, "-c", BUSY_LOOP % seconds],
                                  start_new_session=True)
        time.sleep(0.5)     # its 64 MiB touched: it runs

    def close(self):
        kill_group(self.p)


def drop_cached(path):
    """Drops the file's pages from the page cache (its clean pages: any user
    may, no root needed, and nothing else is evicted). A page still mapped
    stays: the last py-heap's memory (its mapping of the core) is freed by
    a child after its exit (PYHEAP_DETACH_EXIT), milliseconds later, so the
    drop is asked again until the file is out (at most 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd) if os.access(path, os.W_OK) else None
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        share = cached_share(path)
        if share is None or share < 0.01 or time.monotonic() > deadline:
            return
        time.sleep(0.01)


def warm_up(path):
    """Reads the file whole, so that its pages are in the page cache: a
    core idle about a minute may have left it (DAMON's pageout on the
    machines of docs/performance.md), and a "warm" run would be a cold
    one."""
    with open(path, "rb") as f:
        while f.readinto(WARM_BUF):
            pass


WARM_BUF = bytearray(1 << 22)


def cached_share(path):
    """The share of the file's pages in the page cache (fincore), or None."""
    if not shutil.which("fincore"):
        return None
    r = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw",
                        "--output", "RES,SIZE", path],
                       capture_output=True, text=True)
    try:
        res, size = (int(x) for x in r.stdout.split())
        return res / size if size else None
    except ValueError:
        return None


def load():
    return os.getloadavg()[0]


PAUSE = 3.0


def every_cached(addr):
    """Every command the cached conditions run with the outputs' cache off
    (docs/performance.md, "Every command on a cached core")."""
    return [["summary"], ["types"], ["types", "--retained"],
            ["list", "__main__.Node", "--limit", "20"], ["show", addr],
            ["referents", addr], ["referrers", addr], ["path", addr],
            ["roots", "--limit", "20"], ["retained", addr],
            ["dominators"], ["dominators", "--tree", addr], ["leaks"],
            ["cycles"], ["cycles", "--unreachable"], ["refcount", addr],
            ["refcheck"], ["info"]]


def conditions_run(args, size, meta, d):
    """types (and snapshot and diff) against the in-process tools on the
    same heap, interleaved, in turn: warm and quiet (the page cache holds
    the core, nothing of ours runs beside; a run about a second after the
    last), paused (warm, but PAUSE s after the last run), busy (warm, while BUSY_LOOP
    keeps a core busy), cold (the core's pages dropped before each run),
    first (warm, but no cache of any kind: a first look on a machine that
    never saw this Python build, which checks its layouts against DWARF),
    and cached (the index cache written by a first run, where py-heap has
    one). Every figure with the load average just before it."""
    core = meta["core"]
    timeout = max(600, size // 1000000 * 300)
    out_path = os.path.join(d, "out-cond.json")
    cache_dir = os.path.join(d, "index-cache")
    env_extra = {"XDG_CACHE_HOME": cache_dir}
    res = {"repeat": args.repeat, "conditions": {}}
    inproc = InProc(size)
    busy = None
    try:
        inproc.ask("typestats")         # its first run warms its caches
        # and py-heap's: the DWARF check's outcome and the symbols, kept
        # in the cache directory as a user's second run finds them (else
        # the first warm run is a first look, DWARF check and all)
        py_heap(args.bin, core, ["info"], timeout, out_path,
                env_extra=env_extra)
        conds = ["warm", "paused", "busy", "cold"] + (
            ["first", "cached"] if args.has_cache else [])
        for cond in conds:
            log("size %s: %s: types and the in-process count, in turn"
                % (fmt_n(size), cond))
            if cond == "busy":
                busy = Busy()
            if cond == "cached":
                shutil.rmtree(cache_dir, ignore_errors=True)
                w = py_heap(args.bin, core, ["types"], timeout, out_path,
                            env_extra=env_extra, cache=True)  # writes it
                files = [os.path.join(cache_dir, "py-heap", f)
                         for f in os.listdir(os.path.join(cache_dir,
                                                          "py-heap"))
                         if f.startswith("index-")]
                res["cache_write"] = {
                    "wall": w["wall"], "cpu": w["user"] + w["sys"],
                    "writer_after": w["writer_after"],
                    "stage": dict(w["stages"]).get("index cache written"),
                    "bytes": os.path.getsize(files[0]) if files else None}
                # A file 2 s old that a run sums whole is sealed
                # (heapcache.c): the first read after the pause sums it,
                # those after it do not. The first is measured apart.
                time.sleep(2.2)
                w = py_heap(args.bin, core, ["types"], timeout, out_path,
                            env_extra=env_extra, cache=True)
                res["cache_first_read"] = {
                    "wall": w["wall"], "cpu": w["user"] + w["sys"],
                    "stage": dict(w["stages"]).get("index cache read")}
            runs = []
            for _ in range(args.repeat):
                if cond == "cold":
                    drop_cached(core)
                elif cond in ("warm", "paused", "busy", "first"):
                    warm_up(core)
                la = load()
                share = cached_share(core)
                ip = inproc.ask("typestats")
                if cond == "paused":
                    # as a user's first look comes: the memory the last
                    # run freed handed back to the host by now (the
                    # guest's page_reporting, 2 s; docs/performance.md)
                    time.sleep(PAUSE)
                run_env, cache = env_extra, cond == "cached"
                if cond == "first":
                    # a user's first look on a machine that has seen
                    # neither this core nor this Python build: no cache of
                    # any kind (the DWARF check's outcome, the symbols, the
                    # index), each written as a plain run writes them
                    first_dir = os.path.join(d, "first-cache")
                    shutil.rmtree(first_dir, ignore_errors=True)
                    run_env, cache = {"XDG_CACHE_HOME": first_dir}, True
                r = py_heap(args.bin, core, ["types"], timeout, out_path,
                            env_extra=run_env, cache=cache)
                runs.append({"wall": r["wall"], "cpu": r["user"] + r["sys"],
                             "writer_after": r["writer_after"],
                             "major_faults": r["major_faults"],
                             "minor_faults": r["minor_faults"],
                             "stages": r["stages"], "inproc": ip,
                             "load": la, "core_cached": share})
            if busy:
                busy.close()
                busy = None
            res["conditions"][cond] = runs
            if cond == "cached":
                # other commands on the cached index; the first graph
                # command writes the graph's cache (graph-HASH), the
                # others read it
                addr = meta["inproc"]["target_address"]
                w = py_heap(args.bin, core, ["referrers", addr], timeout,
                            out_path, env_extra=env_extra, cache=True)
                gfiles = [os.path.join(cache_dir, "py-heap", f)
                          for f in os.listdir(os.path.join(cache_dir,
                                                           "py-heap"))
                          if f.startswith("graph-") and "." not in f]
                res["graph_cache_write"] = {
                    "wall": w["wall"], "cpu": w["user"] + w["sys"],
                    "stage": dict(w["stages"]).get("graph cache written"),
                    "writer_after": w["writer_after"],
                    "bytes": os.path.getsize(gfiles[0]) if gfiles else None}
                # (each command's first run below sums the graph's
                # sections it reads and seals them; the median of three
                # is of the runs after it)
                time.sleep(2.2)
                extra = {}
                for name, cargs in (("summary", ["summary"]),
                                    ("referrers", ["referrers", addr]),
                                    ("path", ["path", addr]),
                                    ("cycles --unreachable",
                                     ["cycles", "--unreachable"]),
                                    ("refcheck", ["refcheck"]),
                                    ("dominators", ["dominators"])):
                    rs = [py_heap(args.bin, core, cargs, timeout, out_path,
                                  env_extra=env_extra, cache=True)
                          for _ in range(args.repeat)]
                    extra[name] = {
                        "wall": median([r["wall"] for r in rs]),
                        "cpu": median([r["user"] + r["sys"] for r in rs]),
                        "graph_read": median(
                            [dict(r["stages"]).get("graph cache read")
                             for r in rs]),
                        "load": load()}
                res["cached_extra"] = extra
                # The same second look with nothing in the page cache:
                # the core's pages and the cache files' dropped before
                # each run, as a user meets them after the machine (or,
                # on the machines of docs/performance.md, DAMON's
                # reclaim after about a minute idle) took them
                cold = {}
                cdir = os.path.join(cache_dir, "py-heap")
                for name, cargs in (("types", ["types"]),
                                    ("referrers", ["referrers", addr]),
                                    ("path", ["path", addr])):
                    rs = []
                    for _ in range(args.repeat):
                        drop_cached(core)
                        for f in os.listdir(cdir):
                            drop_cached(os.path.join(cdir, f))
                        rs.append(py_heap(args.bin, core, cargs, timeout,
                                          out_path, env_extra=env_extra,
                                          cache=True))
                    cold[name] = {
                        "wall": median([r["wall"] for r in rs]),
                        "cpu": median([r["user"] + r["sys"] for r in rs]),
                        "major_faults": median(
                            [r["major_faults"] for r in rs]),
                        "load": load()}
                res["cached_cold"] = cold
                # Every command on the cached index, graph and answers,
                # the outputs' cache off: the runs above repeat one
                # invocation, which the outputs' cache answers after the
                # first; a user's next question has other options
                every = {}
                env_every = dict(env_extra, PYHEAP_NO_OUTPUT_CACHE="1")
                for cargs in every_cached(addr):
                    py_heap(args.bin, core, cargs, timeout, out_path,
                            env_extra=env_every, cache=True)  # writes
                time.sleep(2.2)
                for cargs in every_cached(addr):
                    py_heap(args.bin, core, cargs, timeout, out_path,
                            env_extra=env_every, cache=True)  # seals
                for cargs in every_cached(addr):
                    rs = [py_heap(args.bin, core, cargs, timeout, out_path,
                                  env_extra=env_every, cache=True)
                          for _ in range(args.repeat)]
                    every[" ".join(a if a != addr else "ADDR"
                                   for a in cargs)] = {
                        "wall": median([r["wall"] for r in rs]),
                        "cpu": median([r["user"] + r["sys"] for r in rs]),
                        "load": load()}
                res["cached_every"] = every
                # diff of the two cores on their cached indexes: the first
                # keeps every object's fingerprint (both cores), the after
                # core's graph without referrers, its result and its
                # output; the later read the output (the same diff again),
                # the result (another --limit), or, the outputs' cache off,
                # the rest
                core2 = meta["core2"]
                py_heap(args.bin, core2, ["types"], timeout, out_path,
                        env_extra=env_extra, cache=True)  # its index
                dout = os.path.join(d, "out-cached-diff.json")
                env_no_out = dict(env_extra, PYHEAP_NO_OUTPUT_CACHE="1")
                first = py_heap(args.bin, core2, ["diff", core], timeout,
                                dout, env_extra=env_extra, cache=True)
                time.sleep(2.2)
                for env in (env_no_out, env_extra):  # seal
                    py_heap(args.bin, core2, ["diff", core], timeout, dout,
                            env_extra=env, cache=True)

                def cached_diff(env, limits=False):
                    # (limits: each run a --limit of its own, of no output
                    # kept yet)
                    rs = sorted((py_heap(args.bin, core2,
                                         ["diff"] + (["--limit", str(10 + i)]
                                                     if limits else []) +
                                         [core], timeout, dout,
                                         env_extra=env, cache=True)
                                 for i in range(args.repeat)),
                                key=lambda r: r["wall"])
                    mid = rs[len(rs) // 2]
                    return {"wall": mid["wall"],
                            "cpu": mid["user"] + mid["sys"],
                            "stages": mid["stages"], "load": load()}
                res["cached_diff"] = dict(
                    cached_diff(env_extra),
                    first={"wall": first["wall"],
                           "cpu": first["user"] + first["sys"],
                           "stages": first["stages"]},
                    no_output=cached_diff(env_no_out),
                    # another option of the output: the result kept
                    other=cached_diff(env_extra, limits=True))
                # the same second looks while BUSY_LOOP keeps a core busy,
                # each beside the in-process count, in turn
                busy = Busy()
                looks = (("types", ["types"], env_extra),
                         ("types, outputs' cache off", ["types"],
                          env_no_out),
                         ("diff CORE", ["diff", core], env_extra),
                         ("diff --limit N CORE (its result read)",
                          ["diff", "--limit", "N", core], env_extra),
                         ("diff CORE, outputs' cache off", ["diff", core],
                          env_no_out))
                runs = {name: [] for name, _, _ in looks}
                ips, las = [], []
                for i in range(args.repeat):
                    las.append(load())
                    ips.append(inproc.ask("typestats"))
                    for name, cargs, env in looks:
                        # (N: one of no output kept yet)
                        cargs = [str(30 + i) if x == "N" else x
                                 for x in cargs]
                        c = core2 if cargs[0] == "diff" else core
                        r = py_heap(args.bin, c, cargs, timeout,
                                    dout if c == core2 else out_path,
                                    env_extra=env, cache=True)
                        runs[name].append(r)
                busy.close()
                busy = None
                res["cached_busy"] = {
                    "inproc": median(ips), "load": median(las),
                    "looks": {name: {
                        "wall": median([r["wall"] for r in rs]),
                        "cpu": median([r["user"] + r["sys"] for r in rs])}
                        for name, rs in runs.items()}}
            if "objects" not in res:
                with open(out_path) as f:
                    res["objects"] = json.load(f).get("objects")
        # snapshot and diff against a gc-based in-process snapshot and
        # diff (ids and types of gc.get_objects()), quiet and warm
        log("size %s: snapshot and diff against the in-process ones"
            % fmt_n(size))
        la = load()
        snap = os.path.join(d, "core.snap")
        ip_snap = inproc.ask("snapshot")
        r_snap = py_heap(args.bin, core, ["snapshot", "--output", snap],
                         timeout, out_path)
        inproc.ask("grow")
        ip_diff = inproc.ask("diff")
        r_diff = py_heap(args.bin, meta["core2"], ["diff", snap], timeout,
                         out_path)
        res["snapshot"] = {"wall": r_snap["wall"], "inproc": ip_snap,
                           "load": la, "bytes": os.path.getsize(snap)}
        res["diff"] = {"wall": r_diff["wall"], "inproc": ip_diff,
                       "load": load()}
        # dominators against networkx's on the same heap's graph, built
        # in-process (minutes and gigabytes past a few million objects)
        if size <= args.networkx_max and subprocess.run(
                [PYTHON, "-c", "import networkx"],
                capture_output=True).returncode == 0:
            log("size %s: dominators against networkx's in-process"
                % fmt_n(size))
            la = load()
            ip_dom = inproc.ask("nx_dominators")
            r_dom = py_heap(args.bin, core, ["dominators"], timeout,
                            out_path)
            res["dominators"] = {"wall": r_dom["wall"],
                                 "cpu": r_dom["user"] + r_dom["sys"],
                                 "inproc": ip_dom, "load": la}
    finally:
        if busy:
            busy.close()
        inproc.close()
    return res


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def conditions_lines(c, objs):
    """The conditions' table (markdown)."""
    if not c:
        return []
    L = ["", "Conditions (`types` and the in-process count of the same heap "
         "in another process, run in turn, %d times each; medians; the "
         "load average of the last minute before each pair):" % c["repeat"],
         "",
         "| condition | py-heap `types` s | user+sys s | faults (minor) | "
         "in-process s | ratio | load | core in page cache |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for cond, runs in c["conditions"].items():
        if not runs:
            continue
        w = median([r["wall"] for r in runs])
        ip = median([r["inproc"] for r in runs])
        ratios = [r["wall"] / r["inproc"] for r in runs if r["inproc"]]
        L.append("| %s | %s | %s | %d | %s | %s (%s) | %.1f–%.1f | %s |" % (
            cond, fmt_s(w), fmt_s(median([r["cpu"] for r in runs])),
            median([r["minor_faults"] for r in runs]), fmt_s(ip),
            fmt_ratio(median(ratios)),
            "–".join(fmt_ratio(x) for x in (min(ratios), max(ratios))),
            min(r["load"] for r in runs), max(r["load"] for r in runs),
            "/".join("%.0f%%" % (100 * r["core_cached"]) if
                     r["core_cached"] is not None else "-" for r in runs)))
    cw, cx = c.get("cache_write"), c.get("cached_extra")
    cr = c["conditions"].get("cached")
    if cw and objs:
        stage = median([dict(r["stages"]).get("index cache read")
                        for r in cr or []])
        L.append("")
        L.append("- index cache: %s, %.1f bytes per object; writing it "
                 "added %s s to the first run (its stage; that run "
                 "%s s, user+sys %s s); reading it (its stage, median) "
                 "%s s." % (fmt_bytes(cw["bytes"] or 0),
                            (cw["bytes"] or 0) / objs, fmt_s(cw["stage"]),
                            fmt_s(cw["wall"]), fmt_s(cw["cpu"]),
                            fmt_s(stage)))
        after = [r.get("writer_after") for r in
                 c["conditions"].get("first") or []] + [
                     cw.get("writer_after")]
        after = [x for x in after if x is not None]
        if after and max(after) > 0.001:
            L.append("- a first run's files of 4 MiB and more (the index) "
                     "are written by a child it forks, which its answer "
                     "does not wait for: that child was done %s s (median; "
                     "%s–%s) after the run's exit, which the wall times "
                     "above do not count, nor its CPU the user+sys (the "
                     "bench waits for it before the next run)." % (
                         fmt_s(median(after)), fmt_s(min(after)),
                         fmt_s(max(after))))
        fr = c.get("cache_first_read")
        if fr:
            L.append("- the first `types` on the cached index after it was "
                     "2 s old (its sections summed, then sealed): %s s "
                     "(user+sys %s s; its stage %s s); the runs above read "
                     "it sealed (sums not read again)." % (
                         fmt_s(fr["wall"]), fmt_s(fr["cpu"]),
                         fmt_s(fr["stage"])))
    gw = c.get("graph_cache_write")
    if gw and objs:
        L.append("- graph cache: %s, %.1f bytes per object; written by the "
                 "first graph command on the cached index (referrers: "
                 "%s s, user+sys %s s; its stage %s s%s)." % (
                     fmt_bytes(gw["bytes"] or 0), (gw["bytes"] or 0) / objs,
                     fmt_s(gw["wall"]), fmt_s(gw["cpu"]),
                     fmt_s(gw["stage"]),
                     "; the file written by a child it forked, done %s s "
                     "after the run's exit" % fmt_s(gw["writer_after"])
                     if gw.get("writer_after", 0) > 0.001 else ""))
    if cx:
        ip = median([r["inproc"] for r in cr or []])
        for name, v in cx.items():
            L.append("- `%s` on the cached index%s: %s s (user+sys %s s), "
                     "%s the in-process count; load %.1f." % (
                         name, (" and graph (its stage `graph cache read` "
                                "%s s)" % fmt_s(v["graph_read"]))
                         if v.get("graph_read") is not None else "",
                         fmt_s(v["wall"]), fmt_s(v["cpu"]),
                         fmt_ratio(ratio(v["wall"], ip)), v["load"]))
    ce = c.get("cached_every")
    if ce:
        ip = median([r["inproc"] for r in cr or []])
        within = [n for n, v in ce.items()
                  if ratio(v["wall"], ip) is not None and
                  ratio(v["wall"], ip) <= 0.1]
        L.append("- every command on the cached index, graph and answers, "
                 "the outputs' cache off (`PYHEAP_NO_OUTPUT_CACHE=1`; "
                 "%d of %d within 0.1x the in-process count): %s." % (
                     len(within), len(ce), "; ".join(
                         "`%s` %s s (%s)" % (n, fmt_s(v["wall"]),
                                             fmt_ratio(ratio(v["wall"], ip)))
                         for n, v in ce.items())))
    cc = c.get("cached_cold")
    if cc:
        ip = median([r["inproc"] for r in cr or []])
        for name, v in cc.items():
            L.append("- `%s` on the cached index%s, the core and the cache "
                     "files dropped from the page cache before each run: "
                     "%s s (user+sys %s s, %d major faults), %s the "
                     "in-process count; load %.1f." % (
                         name, " and graph" if name != "types" else "",
                         fmt_s(v["wall"]), fmt_s(v["cpu"]),
                         v["major_faults"] or 0,
                         fmt_ratio(ratio(v["wall"], ip)), v["load"]))
    cd = c.get("cached_diff")
    if cd:
        ip = median([r["inproc"] for r in cr or []])

        def stages(st):
            return ", ".join("%s %s s" % (n, fmt_s(v)) for n, v in st
                             if not n.startswith(("core pages", "pages:",
                                                  "snapshot: identity")))
        no = cd.get("no_output")
        L.append("- `diff CORE` of the two cores on their cached indexes: "
                 "the first %s s (user+sys %s s; it keeps every object's "
                 "fingerprint, the after core's graph without referrers"
                 "%s: %s); the same diff again%s %s s (user+sys %s s), %s "
                 "the in-process count; load %.1f; stages of the median "
                 "run: %s." % (
                     fmt_s(cd["first"]["wall"]), fmt_s(cd["first"]["cpu"]),
                     " and its output" if no else "",
                     stages(cd["first"]["stages"]),
                     " (its output read)" if no else "", fmt_s(cd["wall"]),
                     fmt_s(cd["cpu"]), fmt_ratio(ratio(cd["wall"], ip)),
                     cd["load"], stages(cd["stages"])))
        for key, what in (
                ("other", "`diff --limit N CORE` after it (another option "
                 "of the output, N from 10: the diff's result read, "
                 "rendered again, that output kept)"),
                ("no_output", "`diff CORE` on the cached indexes, the "
                 "outputs' cache off (the diff computed from the "
                 "indexes)")):
            v = cd.get(key)
            if v:
                L.append("- %s: %s s (user+sys %s s), %s the in-process "
                         "count; load %.1f; stages of the median run: %s."
                         % (what, fmt_s(v["wall"]), fmt_s(v["cpu"]),
                            fmt_ratio(ratio(v["wall"], ip)), v["load"],
                            stages(v["stages"])))
    cb = c.get("cached_busy")
    if cb:
        L.append("- the cached second looks with the other core busy "
                 "(BUSY_LOOP), each beside the in-process count (%s s, "
                 "median, as busy), in turn, load %.1f: %s." % (
                     fmt_s(cb["inproc"]), cb["load"], "; ".join(
                         "%s %s s (user+sys %s s), %s" % (
                             n, fmt_s(v["wall"]), fmt_s(v["cpu"]),
                             fmt_ratio(ratio(v["wall"], cb["inproc"])))
                         for n, v in cb["looks"].items())))
    sn, df = c.get("snapshot"), c.get("diff")
    if sn and objs:
        L.append("")
        L.append("- `snapshot`: %s s (%.1f bytes per object, %s) against "
                 "%s s for a gc-based in-process snapshot (ids and type "
                 "names of gc.get_objects()): %s; load %.1f." % (
                     fmt_s(sn["wall"]), sn["bytes"] / objs,
                     fmt_bytes(sn["bytes"]), fmt_s(sn["inproc"]),
                     fmt_ratio(ratio(sn["wall"], sn["inproc"])), sn["load"]))
    dm = c.get("dominators")
    if dm:
        L.append("- `dominators` (a CLI run: heap, graph, tree): %s s "
                 "(user+sys %s s) against %s s for networkx's "
                 "immediate_dominators on the graph of the same heap "
                 "built in-process (gc.get_referents from sys.modules and "
                 "builtins, the graph's building included): %s; load "
                 "%.1f." % (fmt_s(dm["wall"]), fmt_s(dm["cpu"]),
                            fmt_s(dm["inproc"]),
                            fmt_ratio(ratio(dm["wall"], dm["inproc"])),
                            dm["load"]))
    if df:
        L.append("- `diff SNAPSHOT` on the grown core: %s s against %s s "
                 "for the in-process diff of two such snapshots (its second "
                 "snapshot included): %s; load %.1f." % (
                     fmt_s(df["wall"]), fmt_s(df["inproc"]),
                     fmt_ratio(ratio(df["wall"], df["inproc"])), df["load"]))
    return L


# ---- the benchmark ----------------------------------------------------------

def fmt_n(n):
    if n >= 1000000 and n % 1000000 == 0:
        return "%dM" % (n // 1000000)
    if n >= 1000 and n % 1000 == 0:
        return "%dk" % (n // 1000)
    return str(n)


def bench_size(args, size):
    d = os.path.join(args.work_dir, "size-%d" % size)
    meta = make_core(size, d, args.force)
    core = meta["core"]
    inproc, igc = meta["inproc"], meta["inproc_gc"]
    addr = inproc["target_address"]
    conds = conditions_run(args, size, meta, d)
    if args.conditions_only:
        return {"size": size, "core_bytes": meta["core_bytes"],
                "grow": meta.get("grow"), "gcore_s": meta["gcore_s"],
                "inproc": inproc, "inproc_gc": igc, "conditions": conds,
                "py_heap": {}, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                "bin_mtime": os.stat(args.bin).st_mtime,
                "repeat": args.repeat}
    # All with --json (to check the answers), but cycles also in text:
    # --json lists every cycle, text only the 20 largest.
    commands = [
        ("types", ["types"], True),
        ("summary", ["summary"], True),
        ("referrers", ["referrers", addr], True),
        ("path", ["path", addr], True),
        ("cycles", ["cycles", "--unreachable"], True),
        ("cycles_text", ["cycles", "--unreachable"], False),
        ("refcheck", ["refcheck"], True),
        ("dominators", ["dominators"], True),
        ("leaks", ["leaks"], True),
    ]
    timeout = max(600, size // 1000000 * 300)
    results = {}
    for name, cargs, json_out in commands:
        log("size %s: py-heap %s%s" % (fmt_n(size), "--json " if json_out
                                       else "", " ".join(cargs)))
        out_path = os.path.join(d, "out-%s.%s" % (name, "json" if json_out
                                                  else "txt"))
        r = median_run(args.bin, core, cargs, timeout, out_path,
                       args.repeat, json_out)
        r["result"] = summarize_result(name, out_path) if json_out else {}
        results[name] = r
        log("  %.2f s, %.0f MiB" % (r["wall"], r["rss_mib"]))
    # snapshot and diff: the second core is the grown heap; its cold
    # types is the other half of diff's baseline
    core2 = meta["core2"]
    snap = os.path.join(d, "core.snap")
    log("size %s: py-heap snapshot --output" % fmt_n(size))
    results["snapshot"] = median_run(
        args.bin, core, ["snapshot", "--output", snap], timeout,
        os.path.join(d, "out-snapshot.json"), args.repeat, True)
    # diff and its baseline (types on each core) in turn; types' row above
    # becomes these runs' median
    log("size %s: types on each core, diff CORE, diff SNAPSHOT, in turn" %
        fmt_n(size))
    inturn = turns(args.bin, [
        ("types", core, ["types"], os.path.join(d, "out-types.json")),
        ("types2", core2, ["types"], os.path.join(d, "out-types2.json")),
        ("diff", core2, ["diff", core], os.path.join(d, "out-diff.json")),
        ("diff_snap", core2, ["diff", snap],
         os.path.join(d, "out-diff_snap.json"))], timeout, args.repeat)
    results["types"] = dict(inturn.pop("types"),
                            result=results["types"].get("result"))
    for name in ("types2", "snapshot", "diff", "diff_snap"):
        r = results[name] if name == "snapshot" else inturn[name]
        out_path = os.path.join(d, "out-%s.json" % name)
        with open(out_path) as f:
            o = json.load(f)
        if name == "snapshot":
            r["result"] = {"objects": o["objects"],
                           "file_bytes": o["file_bytes"]}
        elif name.startswith("diff"):
            r["result"] = {k: o.get(k) for k in (
                "new_objects", "freed_objects", "kept_objects",
                "reused_addresses")}
            r["result"]["grew_in"] = o.get("grew_in", [])[:3]
        else:
            r["result"] = summarize_result("types", out_path)
        r["load"] = load()
        results[name] = r
        log("  %.2f s, %.0f MiB" % (r["wall"], r["rss_mib"]))
    results["session"] = session_run(args.bin, core, addr, d, timeout)
    log("  session: index %.2f s, referrers %.4f s, path %.4f s" % (
        results["session"]["index_s"], results["session"]["referrers_s"],
        results["session"]["path_s"]))
    return {"size": size, "core_bytes": meta["core_bytes"],
            "grow": meta.get("grow"),
            "gcore_s": meta["gcore_s"], "inproc": inproc, "inproc_gc": igc,
            "conditions": conds, "py_heap": results, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "bin_mtime": os.stat(args.bin).st_mtime, "repeat": args.repeat}


# ---- snapshot and diff alone, at more sizes ---------------------------------

SNAPDIFF = (
    # (name, which core, arguments): the ratio's baseline first
    ("types", "core", ["types"]),
    ("types2", "core2", ["types"]),
    ("snapshot", "core", ["snapshot", "--output", "SNAP"]),
    ("diff", "core2", ["diff", "CORE"]),
    ("diff_snap", "core2", ["diff", "SNAP"]),
)


def snapdiff_size(args, size):
    """The light step (--snapdiff-sizes): the two cores of one heap.py run,
    snapshot --output, then types on each, diff CORE and diff SNAPSHOT in
    turn, each the median of --repeat runs; nothing else is timed on these
    cores."""
    d = os.path.join(args.work_dir, "size-%d" % size)
    meta = make_core(size, d, args.force)
    snap = os.path.join(d, "core.snap")
    timeout = max(600, size // 1000000 * 300)
    res = {"size": size, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
           "load_before": load(), "repeat": args.repeat,
           "grow": meta.get("grow"), "py_heap": {}}
    items = []
    for name, on, cargs in SNAPDIFF:
        cargs = [{"SNAP": snap, "CORE": meta["core"]}.get(a, a)
                 for a in cargs]
        items.append((name, meta[on], cargs,
                      os.path.join(d, "out-sd-%s.json" % name)))
    # the snapshot first (diff SNAPSHOT reads it), then the rest in turn
    log("size %s: py-heap snapshot --output" % fmt_n(size))
    _, on, cargs, out_path = [x for x in items if x[0] == "snapshot"][0]
    done = {"snapshot": median_run(args.bin, on, cargs, timeout, out_path,
                                   args.repeat, True)}
    log("size %s: types on each core, diff CORE, diff SNAPSHOT, in turn" %
        fmt_n(size))
    done.update(turns(args.bin, [x for x in items if x[0] != "snapshot"],
                      timeout, args.repeat))
    for name, _, _, out_path in items:
        r = done[name]
        with open(out_path) as f:
            o = json.load(f)
        r["result"] = {k: o.get(k) for k in (
            "objects", "file_bytes", "new_objects", "freed_objects",
            "kept_objects")}
        r["load"] = load()
        res["py_heap"][name] = r
        log("  %.2f s, %.0f MiB" % (r["wall"], r["rss_mib"]))
    return res


def snapdiff_rows(allres):
    """Each size's snapshot and diff: from the light step, or from a full
    step's runs of the same commands (the same cores, the same flags)."""
    rows = {}
    for k, res in (allres.get("sizes") or {}).items():
        ph = res.get("py_heap") or {}
        if all(name in ph for name, _, _ in SNAPDIFF):
            rows[int(k)] = dict(res, step="full")
    for k, res in (allres.get("snapdiff") or {}).items():
        rows[int(k)] = dict(res, step="snapdiff")
    return [rows[k] for k in sorted(rows)]


def snapdiff_lines(allres):
    rows = snapdiff_rows(allres)
    if not rows:
        return []
    L = ["", "### snapshot and diff at %s" % "/".join(
        fmt_n(r["size"]) for r in rows), "",
        "Wall seconds of one CLI run (the median of the runs), --no-cache; "
        "`types` on each core and the two diffs run in turn, round after "
        "round; "
        "the ratio is diff's over the two cold `types` (one on each core); "
        "the issue's bound is 2x. CPU ratios: the same of user+sys "
        "(diff CORE / diff SNAPSHOT), which a loaded machine moves less.",
        "",
        "| size | objects | types core | types core2 | snapshot --output | "
        "diff CORE | ratio | diff SNAPSHOT | ratio | CPU ratios | load | "
        "step |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    cpu = lambda x: x["user"] + x["sys"]
    for r in rows:
        ph = r["py_heap"]
        t1, t2 = ph["types"]["wall"], ph["types2"]["wall"]
        objs = (ph["snapshot"].get("result") or {}).get("objects")
        loads = [x.get("load") for x in ph.values() if x.get("load")]
        ld = max(loads) if loads else None
        c12 = cpu(ph["types"]) + cpu(ph["types2"])
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | "
                 "%s | %s |"
                 % (fmt_n(r["size"]), fmtc(objs), fmt_s(t1), fmt_s(t2),
                    fmt_s(ph["snapshot"]["wall"]), fmt_s(ph["diff"]["wall"]),
                    fmt_ratio(ratio(ph["diff"]["wall"], t1 + t2)),
                    fmt_s(ph["diff_snap"]["wall"]),
                    fmt_ratio(ratio(ph["diff_snap"]["wall"], t1 + t2)),
                    fmt_ratio(ratio(cpu(ph["diff"]), c12)),
                    fmt_ratio(ratio(cpu(ph["diff_snap"]), c12)),
                    "-" if ld is None else "%.1f" % ld,
                    "%s, %s" % (r["step"], r.get("when", "?"))))
    L.append("")
    return L


def session_run(binary, core, addr, d, timeout):
    """One session (--batch), as in GDB: the heap and the index are built
    once; PYHEAP_TIMING=1 gives each stage and each command's own time."""
    cmds = os.path.join(d, "session.txt")
    with open(cmds, "w") as f:
        f.write("types\nreferrers %s\npath %s\nreferrers %s\npath %s\n"
                "cycles --unreachable --limit 20\nrefcheck\ndominators\n"
                "leaks\nretained %s\n" % (addr, addr, addr, addr, addr))
    env = dict(os.environ, PYHEAP_TIMING="1")
    t0 = time.time()
    r = subprocess.run([binary, "--core", core] + NO_CACHE +
                       ["--batch", cmds],
                       capture_output=True, text=True, env=env,
                       timeout=timeout)
    wall = time.time() - t0
    stages = []
    for line in r.stderr.splitlines():
        m = re.match(r"py-heap: (.*?)\s+([0-9.]+) ms$", line)
        if m:
            stages.append((m.group(1).strip(), float(m.group(2)) / 1000))
    heap = sum(t for n, t in stages if not n.startswith(
        ("graph:", "command", "dominators:")))
    graph = sum(t for n, t in stages if n.startswith("graph:"))
    # the dominator tree, built once, inside the first command that needs
    # it (dominators): its own stages
    dom = sum(t for n, t in stages if n.startswith("dominators:"))
    cmds_t = [(n[len("command "):], t) for n, t in stages
              if n.startswith("command ")]
    def nth(name, k):
        ts = [t for n, t in cmds_t if n == name]
        return ts[k] if len(ts) > k else None
    return {"wall": wall, "heap_s": heap, "graph_s": graph,
            "index_s": heap + graph, "stages": stages,
            # the second referrers and path: after the index
            "referrers_s": nth("referrers", 1), "path_s": nth("path", 1),
            "cycles_s": nth("cycles", 0), "refcheck_s": nth("refcheck", 0),
            "dom_tree_s": dom,
            "dom_stages": [(n, t) for n, t in stages
                           if n.startswith("dominators:")],
            # (a command's stage is its time after the last stage inside
            # it: dominators' is the query, after the tree it built)
            "dominators_s": nth("dominators", 0),
            "leaks_s": nth("leaks", 0), "retained_s": nth("retained", 0)}


def callgrind(args, size):
    d = os.path.join(args.work_dir, "size-%d" % size)
    core = os.path.join(d, "core")
    out = os.path.join(d, "callgrind.out")
    log("size %s: callgrind py-heap types" % fmt_n(size))
    t0 = time.monotonic()
    rc, _, err = run(["valgrind", "--tool=callgrind",
                      "--callgrind-out-file=" + out, args.bin, "--core", core]
                     + NO_CACHE + ["types"], timeout=args.callgrind_timeout,
                     stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    if rc != 0:
        raise BenchError("callgrind failed (%d): %s"
                         % (rc, err.decode(errors="replace")[-2000:]))
    ir = None
    with open(out) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                ir = int(line.split()[1])
                if line.startswith("summary:"):
                    break
    top = []
    if shutil.which("callgrind_annotate"):
        rc, o, _ = run(["callgrind_annotate", "--inclusive=no", out],
                       timeout=300)
        lines = o.decode(errors="replace").splitlines()
        for line in lines:
            m = re.match(r"^\s*([0-9,]+) \(\s*([0-9.]+)%\)\s+(\S.*)$", line)
            if m and "PROGRAM TOTALS" not in line:
                top.append((int(m.group(1).replace(",", "")),
                            float(m.group(2)), m.group(3).strip()))
            if len(top) >= 10:
                break
    return {"size": size, "ir": ir, "wall": wall, "file": out, "top": top}


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def fmt_s(v):
    if v is None:
        return "-"
    if v < 0.0001:
        return "%.6f" % v
    if v < 0.01:
        return "%.4f" % v
    if v < 10:
        return "%.3f" % v
    return "%.1f" % v


def fmt_ratio(v):
    """py-heap's time over the in-process one: below 1, py-heap is faster
    (shown as 1/N for N times faster)."""
    if v is None:
        return "-"
    if v <= 0:
        return "-"
    if v < 0.1:
        return "1/%.0fx" % (1 / v)
    return "%.1fx" % v if v < 100 else "%.0fx" % v


def table(res):
    """One size's results as markdown lines."""
    size = res["size"]
    ip, ig, ph = res["inproc"], res["inproc_gc"], res["py_heap"]
    conds = res.get("conditions") or {}
    objs = (ph["types"]["result"].get("objects") if "types" in ph
            else conds.get("objects"))
    rows = [
        ("types", "types", "typestats (objgraph)", ip["typestats_s"]),
        ("summary", "summary", "-", None),
        ("referrers ADDR", "referrers", "gc.get_referrers(obj)",
         ip["get_referrers_s"]),
        ("path ADDR", "path", "-", None),
        ("cycles --unreachable (--json: all cycles)", "cycles",
         "gc.collect()", ig.get("gc_collect_s")),
        ("cycles --unreachable (text: 20 cycles)", "cycles_text",
         "gc.collect()", ig.get("gc_collect_s")),
        ("refcheck", "refcheck", "-", None),
        ("dominators", "dominators", "-", None),
        ("leaks", "leaks", "-", None),
    ]
    L = []
    L.append("### %s objects (heap.py %d)" % (fmt_n(size), size))
    ml = machine_line(res.get("machine"))
    if ml:
        L += ["", "%s Measured at %s, the machine's time."
              % (ml, res.get("when", "-"))]
    L += conditions_lines(conds, objs)
    if not ph:
        return L + [""]
    L.append("")
    L.append("| measurement | py-heap s | user+sys s | peak RSS MiB | "
             "RSS B/object | anon MiB | anon B/object | in-process | "
             "in-process s | ratio |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for label, key, what, ips in rows:
        r = ph.get(key)
        if r is None:
            continue
        per = r["rss_mib"] * MiB / objs if objs else None
        anon = r.get("anon_mib")
        aper = anon * MiB / objs if objs and anon else None
        L.append("| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s |" % (
            label, fmt_s(r["wall"]), fmt_s(r["user"] + r["sys"]),
            r["rss_mib"], "%.0f" % per if per else "-",
            "%.0f" % anon if anon else "-", "%.0f" % aper if aper else "-",
            what, fmt_s(ips), fmt_ratio(ratio(r["wall"], ips))))
    idx = ph["referrers"]["wall"] - ph["types"]["wall"]
    L.append("| index build (est.) | %s | | | | | | | | |" % fmt_s(idx))
    se = ph.get("session")
    if se:
        L.append("")
        L.append("One session (`--batch`, as in GDB): the heap and the index "
                 "are built once, then each command runs on them.")
        L.append("")
        L.append("| in one session | py-heap s | in-process | in-process s "
                 "| ratio |")
        L.append("|---|---:|---|---:|---:|")
        for label, v, what, ips in (
                ("objects (heap enumeration)", se["heap_s"], "-", None),
                ("index (graph, referrers, roots, paths)", se["graph_s"],
                 "-", None),
                ("heap + index", se["index_s"], "-", None),
                ("referrers ADDR after the index", se["referrers_s"],
                 "gc.get_referrers(obj)", ip["get_referrers_s"]),
                ("path ADDR after the index", se["path_s"], "-", None),
                ("cycles --unreachable after the index", se["cycles_s"],
                 "gc.collect()", ig.get("gc_collect_s")),
                ("refcheck after the index", se["refcheck_s"], "-", None),
                ("dominator tree after the index", se.get("dom_tree_s"),
                 "-", None),
                ("dominators after the tree", se.get("dominators_s"), "-",
                 None),
                ("leaks after the tree", se.get("leaks_s"), "-", None),
                ("retained ADDR after the tree", se.get("retained_s"), "-",
                 None)):
            L.append("| %s | %s | %s | %s | %s |" % (
                label, fmt_s(v), what, fmt_s(ips), fmt_ratio(ratio(v, ips))))
    dom, le, cy, pa = (ph.get("dominators"), ph.get("leaks"),
                       ph.get("cycles"), ph.get("path"))
    if se and se.get("dom_tree_s") is not None and objs:
        L.append("")
        L.append("- dominator tree (in one session, after the index): "
                 "%s s, %s s per million objects (%s)." % (
                     fmt_s(se["dom_tree_s"]),
                     fmt_s(se["dom_tree_s"] / (objs / 1e6)),
                     ", ".join("%s %s s" % (n[len("dominators: "):],
                                            fmt_s(t))
                               for n, t in se.get("dom_stages", []))))
    if dom and pa and objs:
        L.append("- dominators' memory: peak RSS %.1f MiB above path's "
                 "(the index alone), %.1f bytes per object; anon %.1f MiB "
                 "above, %.1f bytes per object." % (
                     dom["rss_mib"] - pa["rss_mib"],
                     (dom["rss_mib"] - pa["rss_mib"]) * MiB / objs,
                     dom["anon_mib"] - pa["anon_mib"],
                     (dom["anon_mib"] - pa["anon_mib"]) * MiB / objs))
    if le and cy:
        L.append("- cold leaks / cold cycles --unreachable: %.2f s / %.2f s "
                 "= %.2fx." % (le["wall"], cy["wall"],
                               le["wall"] / cy["wall"]))
    L += diff_lines(res, objs)
    L.append("")
    L.append("- index build (est.) = referrers - types: every py-heap run "
             "enumerates the heap again and graph commands rebuild the whole "
             "graph, so query time after the index cannot be measured "
             "separately; the referrers row is the full index build plus "
             "one cheap query.")
    L.append("- objects: py-heap %s (types \"objects\"); fixture built %s; "
             "gc.get_objects() %s (tracked containers only); reachable "
             "in-process from gc.get_objects() through untracked objects %s."
             % (fmtc(objs), fmtc(ip["objects_built"]),
                fmtc(ip["gc_get_objects"]), fmtc(ig.get("closure_objects"))))
    L.append("- core: %.0f MiB (%.0f bytes/object), gcore %.1f s; py-heap's "
             "peak RSS includes the core pages it touched (the core is "
             "mapped)." % (res["core_bytes"] / MiB,
                           res["core_bytes"] / objs if objs else 0,
                           res["gcore_s"]))
    L.append("- in-process: gc.get_objects() %s s; typestats %s s (%d types); "
             "gc.get_referrers %s s (%d referrers); gc.collect() %s s "
             "(freed %s), again %s s; heap build %s s."
             % (fmt_s(ip["get_objects_s"]), fmt_s(ip["typestats_s"]),
                ip["typestats_types"], fmt_s(ip["get_referrers_s"]),
                ip["target_referrers"], fmt_s(ig.get("gc_collect_s")),
                fmtc(ig.get("gc_collect_freed")),
                fmt_s(ig.get("gc_collect_again_s")), fmt_s(ip["build_s"])))
    rr, cy, rc = (ph["referrers"]["result"], ph["cycles"]["result"],
                  ph["refcheck"]["result"])
    L.append("- py-heap results: referrers %s (in-process %d); cycles %s, "
             "unreachable objects %s (gc.collect() freed %s); refcheck "
             "checked %s, excess %s, deficit %s."
             % (rr.get("referrers"), ip["target_referrers"],
                fmtc(cy.get("cycles")), fmtc(cy.get("unreachable_objects")),
                fmtc(ig.get("gc_collect_freed")), fmtc(rc.get("checked")),
                fmtc(rc.get("excess_objects")),
                fmtc(rc.get("deficit_objects"))))
    st = ph["types"]["stages"]
    if st:
        L.append("- enumeration stages (types, PYHEAP_TIMING): " + ", ".join(
            "%s %s s" % (n, fmt_s(s)) for n, s in st) +
            "; sum %s s of %s s wall." % (fmt_s(sum(s for _, s in st)),
                                         fmt_s(ph["types"]["wall"])))
    outs = ", ".join("%s %s" % (k, fmt_bytes(ph[k]["output_bytes"]))
                     for _, k, _, _ in rows if k in ph)
    L.append("- output sizes: " + outs + ".")
    L.append("- peak RSS is the process's (rusage; anonymous memory plus the "
             "core's pages py-heap touched: the core is mapped); anon is "
             "the peak RssAnon sampled every 5 ms from /proc (a lower bound, "
             "py-heap's own data).")
    L.append("- every command but cycles_text runs with --json; \"cycles "
             "--unreachable\" with --json lists every cycle (and runs "
             "find_loop and a scan of all objects for each), the text "
             "output only the 20 largest.")
    if res.get("repeat", 1) > 1:
        L.append("- py-heap times are the median of %d runs." % res["repeat"])
    L.append("")
    return L


def diff_lines(res, objs):
    """snapshot and diff: their times, the file's size, the ratios."""
    ph = res["py_heap"]
    if "diff" not in ph:
        return []
    t1, t2 = ph["types"], ph["types2"]
    sn, df, ds = ph["snapshot"], ph["diff"], ph["diff_snap"]
    n = sn["result"]["objects"]
    n2 = t2["result"].get("objects")
    snap_stages = sum(s for name, s in sn["stages"]
                      if name.startswith(("snapshot:", "fingerprints")))
    graph = sum(s for name, s in sn["stages"] if name.startswith("graph:"))
    L = ["", "snapshot and diff (the second core: the heap grown by %s "
         "nodes and %s chunks of 1,000 dropped; %s objects):" % (
             fmtc((res.get("grow") or {}).get("grown_nodes")),
             fmtc((res.get("grow") or {}).get("dropped_chunks")), fmtc(n2)),
         "",
         "| measurement | py-heap s | user+sys s | peak RSS MiB | per 1M "
         "objects s | ratio |",
         "|---|---:|---:|---:|---:|---|"]
    per_m = lambda v: v / (n / 1e6) if n else None
    L.append("| types (second core, cold) | %s | %s | %.0f | %s | - |" % (
        fmt_s(t2["wall"]), fmt_s(t2["user"] + t2["sys"]), t2["rss_mib"],
        fmt_s(per_m(t2["wall"]))))
    L.append("| snapshot --output FILE (heap, index, file) | %s | %s | %.0f | "
             "%s | - |" % (fmt_s(sn["wall"]), fmt_s(sn["user"] + sn["sys"]),
                           sn["rss_mib"], fmt_s(per_m(sn["wall"]))))
    L.append("| snapshot's own stages (objects, fingerprints, tree, names, "
             "encode, write) | %s | | | %s | - |" % (
                 fmt_s(snap_stages), fmt_s(per_m(snap_stages))))
    base = t1["wall"] + t2["wall"]
    for label, r in (("diff CORE (two cores)", df),
                     ("diff SNAPSHOT (a core and a file)", ds)):
        L.append("| %s | %s | %s | %.0f | %s | %s of types on each "
                 "(%s s + %s s) |" % (
                     label, fmt_s(r["wall"]), fmt_s(r["user"] + r["sys"]),
                     r["rss_mib"], fmt_s(per_m(r["wall"])),
                     fmt_ratio(ratio(r["wall"], base)), fmt_s(t1["wall"]),
                     fmt_s(t2["wall"])))
    res_d = df["result"]
    L.append("")
    L.append("- snapshot file: %s (%.1f bytes/object); the index (graph, "
             "paths) it needs took %s s of its run." % (
                 fmt_bytes(sn["result"]["file_bytes"]),
                 sn["result"]["file_bytes"] / n if n else 0, fmt_s(graph)))
    L.append("- diff: %s new, %s freed, %s kept (%s addresses reused); where "
             "it grew first: %s." % (
                 fmtc(res_d.get("new_objects")),
                 fmtc(res_d.get("freed_objects")),
                 fmtc(res_d.get("kept_objects")),
                 fmtc(res_d.get("reused_addresses")),
                 "; ".join("%s +%s in %s" % (
                     g["type"], fmtc(g["count_delta"]),
                     g["container"]["path"]) for g in res_d.get("grew_in",
                                                                [])[:2])))
    L.append("- diff stages (PYHEAP_TIMING): " + ", ".join(
        "%s %s s" % (nm, fmt_s(s)) for nm, s in df["stages"]) + ".")
    return L


def fmtc(v):
    return "-" if v is None else "{:,}".format(v)


def fmt_bytes(n):
    if n >= MiB:
        return "%.1f MiB" % (n / MiB)
    if n >= 1024:
        return "%.1f KiB" % (n / 1024)
    return "%d B" % n


def callgrind_lines(cg):
    L = ["### callgrind: py-heap types on the %s core" % fmt_n(cg["size"]), ""]
    L.append("- total instructions (Ir): %s (valgrind wall %.1f s)"
             % (fmtc(cg["ir"]), cg["wall"]))
    if cg["top"]:
        L.append("- top functions (self Ir):")
        for ir, pct, fn in cg["top"]:
            L.append("  - %s (%.1f%%) %s" % (fmtc(ir), pct, fn))
    L.append("")
    return L


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/bin/py-heap")
    ap.add_argument("--work-dir", default="build/bench")
    ap.add_argument("--sizes", default="1000000,10000000",
                    help="comma-separated object counts (default 1M,10M)")
    ap.add_argument("--force", action="store_true",
                    help="rebuild the cached cores")
    ap.add_argument("--repeat", type=int, default=1,
                    help="py-heap runs per command (median)")
    ap.add_argument("--callgrind", action="store_true",
                    help="callgrind py-heap types on the smallest core")
    ap.add_argument("--callgrind-timeout", type=int, default=3600)
    ap.add_argument("--networkx-max", type=int, default=2000000,
                    help="compare dominators with networkx's up to this "
                    "many objects (0: never)")
    ap.add_argument("--snapdiff-sizes", default="",
                    help="comma-separated object counts for the light "
                    "step: only types on both cores, snapshot and diff "
                    "(the issue's 1M/3M beside the full sizes' 10M)")
    ap.add_argument("--snapdiff-only", action="store_true",
                    help="only the light step (--snapdiff-sizes): no "
                    "--sizes, no callgrind")
    ap.add_argument("--conditions-only", action="store_true",
                    help="only types (busy, cold, warm, cached), snapshot "
                    "and diff against the in-process tools")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    args.work_dir = os.path.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    sd_sizes = [int(s.replace("_", "")) for s in
                args.snapdiff_sizes.split(",") if s]
    if args.snapdiff_only:
        if not sd_sizes:
            sys.exit("bench: --snapdiff-only needs --snapdiff-sizes")
        sizes = []
        args.callgrind = False
    for tool in (PYTHON,):
        if not os.access(tool, os.X_OK):
            sys.exit("bench: %s is needed" % tool)
    if not shutil.which("gcore"):
        sys.exit("bench: gcore (gdb) is needed")
    if not os.access(args.bin, os.X_OK):
        sys.exit("bench: no %s (make first)" % args.bin)
    # with an index cache, every run but the "cached" ones goes without
    helptext = subprocess.run([args.bin, "--help"], capture_output=True,
                              text=True).stdout
    args.has_cache = "--no-cache" in helptext
    NO_CACHE[:] = ["--no-cache"] if args.has_cache else []

    json_path = os.path.join(args.work_dir, "bench-results.json")
    md_path = os.path.join(args.work_dir, "bench-results.md")
    # Results of other sizes from earlier runs are kept.
    allres = {"sizes": {}, "callgrind": None}
    if os.path.exists(json_path):
        try:
            with open(json_path) as f:
                allres = json.load(f)
        except ValueError:
            pass
    status = 0
    started = time.time()
    machine = machine_info()
    for size in sizes:
        try:
            res = bench_size(args, size)
        except BenchError as e:
            log("size %s: %s" % (fmt_n(size), e))
            status = 1
            continue
        res["machine"] = machine
        allres["sizes"][str(size)] = res
        print("\n".join(table(res)), flush=True)
        save(allres, json_path, md_path)
    for size in sd_sizes:
        try:
            res = snapdiff_size(args, size)
        except BenchError as e:
            log("size %s (snapshot and diff): %s" % (fmt_n(size), e))
            status = 1
            continue
        res["machine"] = machine
        allres.setdefault("snapdiff", {})[str(size)] = res
        save(allres, json_path, md_path)
    if sd_sizes or sizes:
        print("\n".join(snapdiff_lines(allres)), flush=True)
    if args.callgrind:
        if not shutil.which("valgrind"):
            log("valgrind is not installed: no --callgrind")
        else:
            small = min(sizes)
            try:
                cg = callgrind(args, small)
                allres["callgrind"] = cg
                print("\n".join(callgrind_lines(cg)), flush=True)
            except BenchError as e:
                log("callgrind: %s" % e)
                status = 1
    allres["last_run"] = {
        "machine": machine,
        "sizes": sizes + sd_sizes, "seconds": time.time() - started,
        "started": time.strftime("%Y-%m-%d %H:%M UTC",
                                 time.gmtime(started))}
    log("bench: %.0f s in all (%s)" % (
        allres["last_run"]["seconds"],
        ",".join(str(x) for x in sizes + sd_sizes)))
    save(allres, json_path, md_path)
    log("results: %s, %s" % (md_path, json_path))
    return status


def machine_info():
    """What the figures depend on most besides py-heap (docs/performance.md,
    "Why the same work costs more on one machine than another"): the
    hypervisor, the processor, the kernel, transparent huge pages."""
    m = {"kernel": os.uname().release, "cpus": os.cpu_count(),
         "model": None, "virtual": None, "hypervisor": None, "thp": None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not m["model"]:
                    m["model"] = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and m["virtual"] is None:
                    m["virtual"] = "hypervisor" in line.split()
    except OSError:
        pass
    # (the kernel's log says which; a user may not read it, and a long
    # uptime may have rotated the line out: then unknown)
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True,
                             timeout=10).stdout
        for line in out.splitlines():
            if "Hypervisor detected:" in line:
                m["hypervisor"] = line.split("Hypervisor detected:",
                                             1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            t = f.read()
        m["thp"] = t[t.index("[") + 1:t.index("]")]
    except (OSError, ValueError):
        pass
    return m


def machine_line(m):
    """The machine of a run, in one line."""
    if not m:
        return None
    virtual = m.get("virtual")
    hv = m.get("hypervisor") or (
        "a virtual machine" if virtual else
        "no hypervisor" if virtual is False else "hypervisor unknown")
    return ("Machine: %s, %s, %s CPUs, kernel %s, transparent huge pages %s."
            % (hv, m.get("model") or "processor unknown",
               m.get("cpus") or "?", m.get("kernel") or "?",
               m.get("thp") or "unknown"))


def save(allres, json_path, md_path):
    with open(json_path + ".tmp", "w") as f:
        json.dump(allres, f, indent=1, sort_keys=True)
    os.replace(json_path + ".tmp", json_path)
    L = ["# py-heap benchmark", "",
         "py-heap seconds are the wall clock of one CLI run, "
         "peak RSS (its rusage's ru_maxrss) is its maximum resident set size.", ""]
    for k in sorted(allres["sizes"], key=int):
        L += table(allres["sizes"][k])
    L += snapdiff_lines(allres)
    if allres.get("callgrind"):
        L += callgrind_lines(allres["callgrind"])
    lr = allres.get("last_run")
    if lr:
        L += ["", "The last run (sizes %s) started at %s and took %.0f s "
              "(%.1f min)." % (",".join(str(s) for s in lr["sizes"]),
                               lr["started"], lr["seconds"],
                               lr["seconds"] / 60)]
        ml = machine_line(lr.get("machine"))
        if ml:
            L += ["", ml]
    with open(md_path, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
