#!/usr/bin/env python3
"""Damage tests: py-heap on cores that are cut, zeroed and overwritten.

Runs fixtures/heap_damage.py under Debian's /usr/bin/python3.11 (three
heaps: plain, big, mro), takes their cores with gcore, damages copies of
them, and runs every command on each (one --batch session, text and --json)
with the sanitizer build. On every damaged core each run must:

  - finish within a time bound (no hang);
  - end with exit status 0 or 2, never a signal or a sanitizer's exit;
  - leave no AddressSanitizer, UndefinedBehaviorSanitizer or LeakSanitizer
    report on stderr;
  - print in --json mode only lines that are JSON;
  - say what it skipped: a "py-heap: " line on stderr that names the loss
    (truncated, missing, damaged, ...), with exit status 2.

The damages:
  trunc-P[-exe]   the core cut at P% (10, 50, 90), with and without --exe
  zero-writable   the biggest writable PT_LOAD segment zeroed
  zero-gc         every PT_LOAD segment holding a GC-tracked object
                  (gc.get_objects() in the fixture) zeroed
  zero-runtime    the segment of _PyRuntime zeroed
  headers, gc-links, dict-keys, list-items, mixed-S
                  random bytes (fixed seeds) over object headers (refcount
                  and type), the 16 bytes of GC links before GC objects, the
                  first 64 bytes of dict keys tables, list item pointers
  loops           crafted: GC links and types that point back at
                  themselves, a list of 2**60 items whose array is itself,
                  a dict keys table that claims 2**62 slots
  sizes           crafted: str, bytes, tuple, int, set sizes of 2**40 to
                  2**62 or negative
  big             a list holding itself 1,000,000 times and a chain of
                  1,000,000 nested lists: path, referrers --depth 16,
                  cycles, refcount and refcheck, quickly and right
  mro             heap types whose tp_base and __mro__ point back at
                  themselves (or at each other)
  gcwalk          one GC link (next or prev) of the long list zeroed,
                  pointed further on, back, into another list or at an odd
                  address: each fast walk of the lists (py-heap's
                  choice, from many splitters, from both ends at once;
                  undone when anything is wrong) must give the same output
                  as the careful walk alone (PYHEAP_GC_WALK=careful)

and a run of the whole command set under valgrind's memcheck on the
undamaged core. A failing case's core is kept under --repro-dir with the
command that reproduces it.

    python3 tests/integration/damage_checks.py \\
        --bin build/san/bin/py-heap --cores-dir build/cores [--no-valgrind]

Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import argparse
import ast
import json
import os
import random
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

from interp import Interp, copy_core, file_offset, segments

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = os.environ.get("PYHEAP_TEST_PYTHON", "/usr/bin/python3.11")
TIME_BOUND = 30.0
results = {"passed": 0, "failed": 0}
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                   "UndefinedBehaviorSanitizer")
# words a note uses for what it could not read
LOSS_WORDS = ("truncated", "missing", "not saved", "damaged", "skipped",
              "could not", "cannot", "unreadable", "lost", "zero", "partial",
              "corrupt", "implausible", "invalid")


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    sys.stdout.flush()
    return ok


# ---- the core's program headers ----------------------------------------------
PF_W = 2


def segment_of(segs, addr):
    for s in segs:
        if s[0] <= addr < s[0] + s[1]:
            return s
    return None


# ---- damaging a copy ------------------------------------------------------------
def cut(core, dst, percent):
    size = os.path.getsize(core)
    with open(core, "rb") as f, open(dst, "wb") as g:
        g.write(f.read(size * percent // 100))
    return dst


def zero_segments(core, dst, segs):
    copy_core(core, dst)
    with open(dst, "r+b") as f:
        for _vaddr, filesz, _memsz, offset, _flags in segs:
            f.seek(offset)
            left = filesz
            while left:
                n = min(left, 1 << 20)
                f.write(b"\0" * n)
                left -= n
    return dst


def patch(core, dst, writes):
    """writes: (virtual address, bytes). Those outside the file are
    dropped; returns how many were made."""
    copy_core(core, dst)
    segs = segments(dst)
    done = 0
    with open(dst, "r+b") as f:
        for addr, data in writes:
            off = file_offset(segs, addr, len(data))
            if off is None:
                continue
            f.seek(off)
            f.write(data)
            done += 1
    return done


def q(v):
    return struct.pack("<Q", v & (2**64 - 1))


class Damager:
    """Writes of the damage variants, from the plain heap's truth."""

    def __init__(self, truth, seed):
        self.t = truth
        self.rng = random.Random(seed)
        self.known = ([d["id"] for d in truth["dicts"]] +
                      [l["id"] for l in truth["lists"]] +
                      [o["id"] for o in truth["insts"]] +
                      [o["id"] for o in truth["slots"]] + [truth["holder"]])

    def word(self, here):
        """One word of damage: random bits, or a plausible pointer (another
        object, a GC head, this very place), or zero, or all ones."""
        r = self.rng.random()
        if r < 0.4:
            return q(self.rng.getrandbits(64))
        if r < 0.6:
            return q(self.rng.choice(self.known))
        if r < 0.7:
            return q(self.rng.choice(self.known) - 16)
        if r < 0.8:
            return q(here)
        if r < 0.9:
            return q(0)
        return q(2**64 - 1)

    def words(self, addr, n, pure_random):
        if pure_random:
            return [(addr, self.rng.randbytes(8 * n))]
        return [(addr + 8 * i, self.word(addr + 8 * i)) for i in range(n)]

    def pick(self, seq, k):
        return self.rng.sample(seq, min(k, len(seq)))

    def headers(self, pure_random=True):
        w = []
        for o in (self.pick(self.t["dicts"], 2) + self.pick(self.t["lists"], 2)
                  + self.pick(self.t["insts"], 3) +
                  self.pick(self.t["slots"], 1)):
            w += self.words(o["id"], 2, pure_random)
        return w

    def gc_links(self, pure_random=True):
        tracked = [o["id"] for o in self.t["dicts"] + self.t["lists"] +
                   self.t["insts"] + self.t["slots"] if o["tracked"]]
        pool = self.pick(tracked, 6) + self.pick(self.t["gc_objects"], 24)
        w = []
        for a in pool:
            w += self.words(a - 16, 2, pure_random)
        return w

    def dict_keys(self, pure_random=True):
        w = []
        for d in self.pick(self.t["dicts"], 5):
            w += self.words(d["keys"], 8, pure_random)
        return w

    def list_items(self, pure_random=True):
        return [(l["id"] + 24, self.word(l["id"] + 24) if not pure_random
                 else self.rng.randbytes(8)) for l in self.t["lists"]]

    def mixed(self):
        return (self.headers(False) + self.gc_links(False) +
                self.dict_keys(False) + self.list_items(False))

    def sizes(self):
        """Crafted: lengths and sizes far beyond the memory there is."""
        sc = self.t["scalars"]
        return [(sc["str"] + 16, q(2**62)),          # PyASCIIObject.length
                (sc["ustr"] + 16, q(-1)),
                (sc["bytes"] + 16, q(2**61)),        # ob_size
                (sc["tuple"] + 16, q(2**40)),
                (sc["int"] + 16, q(2**60)),          # digits
                (self.t["dicts"][5]["id"] + 16, q(-7)),   # ma_used
                (sc["set"] + 24, q(2**50)),          # used
                (sc["set"] + 32, q(2**50 - 1)),      # mask
                (sc["frozenset"] + 40, q(sc["frozenset"]))]  # table: itself

    def type_sizes(self):
        """Crafted: a type object's tp_basicsize (offset 32) and
        tp_itemsize (40) negative or huge (issue #24, item 11: a negative
        tp_basicsize of object grew memory without bound)."""
        t = self.t["type_objects"]
        return [(t["object"] + 32, q(-8)),
                (t["Victim"] + 32, q(2**62)),
                (t["Slotted"] + 32, q(-2**63)),
                (t["str"] + 40, q(-1))]

    def loops(self):
        t = self.t
        w = []
        # GC links that point at their own head: a list that never ends
        for a in t["gc_objects"][::500] + [t["lists"][0]["id"]]:
            w += [(a - 16, q(a - 16)), (a - 8, q(a - 16))]
        # an instance that is its own type
        w.append((t["insts"][0]["id"] + 8, q(t["insts"][0]["id"])))
        # an instance whose type is a dict
        w.append((t["insts"][1]["id"] + 8, q(t["dicts"][0]["id"])))
        # a list of 2**60 items, its item array itself
        l = t["lists"][1]["id"]
        w += [(l + 16, q(2**60)), (l + 24, q(l))]
        # a list of -1 items
        w.append((t["lists"][2]["id"] + 16, q(-1)))
        # a dict keys table of 2**62 slots and entries
        k = t["dicts"][3]["keys"]
        w += [(k + 8, bytes([62, 3, 0, 0, 0, 0, 0, 0])),
              (k + 24, q(2**62)), (k + 32, q(2**62))]
        # a dict whose keys table is the dict itself, with 2**40 items
        d = t["dicts"][4]["id"]
        w += [(d + 16, q(2**40)), (d + 32, q(d))]
        # the holder dict: refcount negative
        w.append((t["holder"], q(-5)))
        return w


# ---- running py-heap ----------------------------------------------------------
def wrapper():
    return shlex.split(os.environ.get("PYHEAP_WRAPPER", ""))


class Run:
    """One run of a command: stdout kept up to OUT_CAP bytes (the rest
    counted), killed at the time bound."""
    OUT_CAP = 1 << 30  # (a million-deep path, several times: 360 MB)

    def __init__(self, argv, timeout=TIME_BOUND, env=None):
        self.argv = argv
        self.timeout = timeout
        t0 = time.time()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        out, err = [], []
        self.out_bytes = 0

        def read_out():
            while True:
                chunk = p.stdout.read(1 << 16)
                if not chunk:
                    return
                if self.out_bytes < self.OUT_CAP:
                    out.append(chunk)
                self.out_bytes += len(chunk)

        def read_err():
            for chunk in iter(lambda: p.stderr.read(1 << 16), b""):
                if sum(map(len, err)) < (16 << 20):
                    err.append(chunk)

        threads = [threading.Thread(target=read_out),
                   threading.Thread(target=read_err)]
        for t in threads:
            t.start()
        try:
            self.rc = p.wait(timeout=timeout)
            self.timed_out = False
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.rc = None
            self.timed_out = True
        for t in threads:
            t.join()
        self.took = time.time() - t0
        self.out = b"".join(out).decode("utf-8", "replace")
        self.err = b"".join(err).decode("utf-8", "replace")

    def notes(self):
        return [l for l in self.err.splitlines() if l.startswith("py-heap: ")]

    def loss_notes(self):
        return [l for l in self.notes()
                if any(w in l.lower() for w in LOSS_WORDS) and
                "no debug information" not in l]

    def sanitizer(self):
        return [l for l in self.err.splitlines()
                if any(m in l for m in SANITIZER_MARKS)]

    def cmdline(self):
        return " ".join(shlex.quote(a) for a in self.argv)


def batch_lines(addrs):
    lines = ["types --limit 0", "summary", "cycles --unreachable --limit 20",
             "cycles --limit 5", "refcheck --limit 20", "info",
             "list __main__.Victim --limit 5", "list dict --limit 5",
             "leaks", "dominators --limit 5", "types --retained --limit 5",
             "dominators --tree root --depth 2 --limit 3"]
    for a in addrs:
        a = hex(a)
        lines += ["show %s" % a, "referents %s" % a, "referrers %s" % a,
                  "referrers %s --depth 16 --limit 5" % a, "path %s" % a,
                  "refcount %s" % a, "retained %s" % a,
                  "dominators --tree %s --depth 3 --limit 3" % a]
    return lines


class Suite:
    def __init__(self, binary, work, repro):
        self.binary = binary
        self.work = work
        self.repro = repro
        self.env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:"
                        "abort_on_error=0:" + os.environ.get("ASAN_OPTIONS", ""),
                        UBSAN_OPTIONS="print_stacktrace=1")

    def keep(self, label, core, batch, runs):
        """Keeps a failing case's core (a damaged copy; an undamaged core is
        named where it is) and batch file, and the commands."""
        os.makedirs(self.repro, exist_ok=True)
        base = os.path.join(self.repro, label)
        kept = {}
        if core and core.startswith(self.work) and os.path.exists(core):
            shutil.copyfile(core, base + ".core")
            kept[core] = base + ".core"
        if batch:
            shutil.copyfile(batch, base + ".batch")
            kept[batch] = base + ".batch"
        with open(base + ".cmd", "w") as f:
            for r in runs:
                f.write(" ".join(shlex.quote(kept.get(a, a))
                                 for a in r.argv) + "\n")
        return base

    def run_case(self, label, core, addrs, exe=False, want_loss=True,
                 want_answer=False, loss_word=None, extra=(),
                 timeout=TIME_BOUND):
        """Runs the command set on core, text and --json; checks the
        properties every damaged core must keep."""
        batch = os.path.join(self.work, label + ".batch")
        with open(batch, "w") as f:
            f.write("\n".join(batch_lines(addrs) + list(extra)) + "\n")
        base = wrapper() + [self.binary, "--core", core]
        if exe:
            base += ["--exe", INTERP.exe]
        runs = []
        ok = True
        for mode in ("text", "json"):
            argv = base + (["--json"] if mode == "json" else []) + \
                ["--batch", batch]
            r = Run(argv, timeout=timeout, env=self.env)
            runs.append(r)
            name = "%s [%s]" % (label, mode)
            if mode == "text":
                for l in r.notes()[:6]:
                    print("    %s: %s" % (label, l[:300]))
            ok &= check(name + ": finishes in %ds" % r.timeout,
                        not r.timed_out, "still running after %.0fs" % r.took)
            print("    %s: %.1fs" % (name, r.took))
            ok &= check(name + ": no sanitizer report", not r.sanitizer(),
                        "\n    ".join(r.sanitizer()[:5]))
            ok &= check(name + ": exit 0 or 2", r.rc in (0, 2),
                        "exit %s%s" % (r.rc, " (signal %d)" % -r.rc
                                       if r.rc is not None and r.rc < 0 else ""))
            if r.rc is not None and r.rc not in (0, 2) and not r.sanitizer():
                print("    stderr tail: %r" % r.err[-600:])
            if mode == "json" and not r.timed_out:
                bad = []
                for line in r.out.splitlines():
                    try:
                        json.loads(line)
                    except ValueError:
                        bad.append(line[:120])
                ok &= check(name + ": stdout is JSON lines", not bad, bad[:3])
            if r.rc is not None:
                ok &= check(name + ": exit 2 comes with a 'py-heap: ' line, "
                            "notes with exit 2",
                            (r.rc == 2) == bool(r.notes()),
                            "exit %s, notes %r" % (r.rc, r.notes()[:3]))
            if want_loss and not r.timed_out:
                notes = r.loss_notes()
                if loss_word:
                    notes = [l for l in notes if loss_word in l.lower()]
                ok &= check(name + ": says what was lost%s" %
                            (" (%r)" % loss_word if loss_word else ""),
                            bool(notes), "notes %r" % r.notes()[:4])
            if want_answer and not r.timed_out:
                ok &= check(name + ": gives a partial answer",
                            len(r.out.strip()) > 0, "empty stdout; notes %r"
                            % r.notes()[:3])
        # One command alone: a partial answer is exit 2, with the note
        # (in a batch, a failing command's exit 2 would hide a missing one).
        argv = base + ["types", "--limit", "3"]
        r = Run(argv, timeout=timeout, env=self.env)
        runs.append(r)
        name = "%s [types alone]" % label
        ok &= check(name + ": in time, clean, exit 0 or 2",
                    not r.timed_out and not r.sanitizer() and r.rc in (0, 2),
                    "rc=%s %.1fs %r" % (r.rc, r.took, r.sanitizer()[:3]))
        if want_loss:
            notes = r.loss_notes()
            if loss_word:
                notes = [l for l in notes if loss_word in l.lower()]
            ok &= check(name + ": exit 2 with a note of what was lost%s" %
                        (" (%r)" % loss_word if loss_word else ""),
                        r.rc == 2 and bool(notes),
                        "exit %s, notes %r" % (r.rc, r.notes()[:4]))
        elif r.rc is not None:
            ok &= check(name + ": exit 0", r.rc == 0,
                        "exit %s, notes %r" % (r.rc, r.notes()[:4]))
        if not ok:
            base_path = self.keep(label, core, batch, runs)
            print("    kept: %s.cmd (and its core, batch)" % base_path)
        return runs


INTERP = None


def plain_cases(s, core, truth):
    segs = segments(core)
    addrs = [truth["holder"], truth["dicts"][0]["id"], truth["dicts"][7]["id"],
             truth["lists"][1]["id"], truth["insts"][0]["id"],
             truth["slots"][0]["id"]]

    # ---- undamaged: the baseline ---------------------------------------
    runs = s.run_case("undamaged", core, addrs, want_loss=False)
    for r in runs:
        if r.rc is not None:
            check("undamaged [%s]: exit 0, no notes" %
                  ("json" if "--json" in r.argv else "text"),
                  r.rc == 0 and not r.notes(), (r.rc, r.notes()[:3]))
    try:
        t = json.loads(runs[1].out.splitlines()[0])
        got = {x["type"]: x["count"] for x in t["types"]}
        check("undamaged: counts of __main__ classes",
              all(got.get(k) == v for k, v in truth["counts"].items()),
              {k: got.get(k) for k in truth["counts"]})
    except Exception as e:
        check("undamaged: counts of __main__ classes", False, e)

    sysroot_case(s, core)

    # ---- 1. cut at 10%, 50%, 90% ---------------------------------------
    for p in (10, 50, 90):
        dst = cut(core, os.path.join(s.work, "trunc-%d.core" % p), p)
        s.run_case("trunc-%d" % p, dst, addrs, loss_word="truncated")
        s.run_case("trunc-%d-exe" % p, dst, addrs, exe=True,
                   loss_word="truncated", want_answer=p >= 50)

    # ---- 2. segments zeroed ------------------------------------------------
    writable = [x for x in segs if x[4] & PF_W]
    biggest = max(writable, key=lambda x: x[1])
    dst = zero_segments(core, os.path.join(s.work, "zero-writable.core"),
                        [biggest])
    s.run_case("zero-writable", dst, addrs, loss_word="zero")
    known = [o["id"] for o in truth["dicts"] + truth["lists"] +
             truth["insts"] + truth["slots"] if o["tracked"]] + \
        [truth["holder"]] + truth["gc_objects"]
    held = []
    for a in known:
        g = segment_of(segs, a)
        if g and g not in held:
            held.append(g)
    dst = zero_segments(core, os.path.join(s.work, "zero-gc.core"), held)
    s.run_case("zero-gc", dst, addrs, loss_word="zero")
    # the segment of _PyRuntime (the interpreter's state, in python3.11's
    # own writable data)
    r = Run([s.plain_bin, "--core", core, "--json", "info"])
    try:
        rt = int(json.loads(r.out)["runtime_address"], 16)
        g = segment_of(segs, rt)
        dst = zero_segments(core, os.path.join(s.work, "zero-runtime.core"),
                            [g])
        s.run_case("zero-runtime", dst, addrs, loss_word="zero")
    except Exception as e:
        check("zero-runtime", False, "%r; info said %r" % (e, r.err[-300:]))

    # ---- 3. random bytes over headers, GC links, keys tables, items -----
    variants = [("headers", 1, lambda d: d.headers()),
                ("gc-links", 2, lambda d: d.gc_links()),
                ("dict-keys", 3, lambda d: d.dict_keys()),
                ("list-items", 4, lambda d: d.list_items()),
                ("mixed-5", 5, lambda d: d.mixed()),
                ("mixed-6", 6, lambda d: d.mixed()),
                ("mixed-7", 7, lambda d: d.mixed()),
                ("loops", 8, lambda d: d.loops()),
                ("sizes", 9, lambda d: d.sizes()),
                ("type-sizes", 10, lambda d: d.type_sizes())]
    for name, seed, make in variants:
        writes = make(Damager(truth, seed))
        dst = os.path.join(s.work, name + ".core")
        n = patch(core, dst, writes)
        if not check("%s: %d writes made" % (name, n), n > 0):
            continue
        s.run_case(name, dst, addrs + (list(truth["scalars"].values())
                                       if name == "sizes" else []))
        if name in ("mixed-5", "loops"):
            gdb_case(s, name, dst, truth["holder"])


# The GC walks that must end as the careful one does: py-heap's own choice,
# from splitters (one every 64 objects, so that a small heap has many) and
# from both ends of each list
GC_WALKS = {"fast": None, "split": "split", "ends": "ends"}


def gc_walk_cases(s, core, truth):
    """One GC link damaged: each fast walk (from splitters, from both ends
    at once; their claims taken back when anything is wrong) must end as
    the careful walk alone does (PYHEAP_GC_WALK=careful), output for
    output. gc_objects is gc.get_objects(): the lists in order, generation
    0's first."""
    g = truth["gc_objects"]
    n = len(g)
    # places in the long list (generation 2, the last), near its start,
    # middle and end; a link's new value: zero, a node further on (a list
    # that skips), one before (a loop), one of another list, an odd word
    at = [g[n - n // 2], g[n - n // 5], g[n - 3], g[-1]]
    cases = [("next-zero", at[1] - 16, 0),
             ("next-skip", at[0] - 16, at[1] - 16),
             ("next-loop", at[1] - 16, at[0] - 16),
             ("next-other-list", at[0] - 16, g[3] - 16),
             ("next-odd", at[2] - 16, 0x7ffe12345673),
             ("next-last", at[3] - 16, at[1] - 16),
             ("prev-zero", at[1] - 8, 0),
             ("prev-wrong", at[0] - 8, at[1] - 16),
             ("prev-other-list", at[2] - 8, g[5] - 16),
             ("both", at[0] - 16, at[2] - 16)]
    cmds = ["summary", "types --limit 0", "cycles --unreachable --limit 0",
            "refcheck --limit 0"]
    batch = os.path.join(s.work, "gc-walk.batch")
    with open(batch, "w") as f:
        f.write("\n".join(cmds) + "\n")
    for name, addr, value in cases:
        writes = [(addr, q(value))]
        if name == "both":   # and the prev link after it, another way
            writes.append((at[1] - 8, q(at[2] - 16)))
        dst = os.path.join(s.work, "gc-" + name + ".core")
        if not check("gc-walk %s: write made" % name,
                     patch(core, dst, writes) == len(writes)):
            continue
        outs = []
        for walk in list(GC_WALKS.values()) + ["careful"]:
            env = dict(s.env, PYHEAP_NO_CACHE="1")
            if walk:
                env["PYHEAP_GC_WALK"] = walk
            r = Run([s.binary, "--core", dst, "--json", "--batch", batch],
                    env=env)
            outs.append(r)
        careful = outs[-1]
        ok = check("gc-walk %s: every walk finishes, clean, exit 0 or 2"
                   % name,
                   all(not r.timed_out and not r.sanitizer() and
                       r.rc in (0, 2) for r in outs),
                   [(r.rc, r.timed_out, r.sanitizer()[:2]) for r in outs])
        for walk, fast in zip(GC_WALKS, outs):
            ok &= check("gc-walk %s: the %s walk's output is the careful "
                        "walk's" % (name, walk),
                        fast.out == careful.out and fast.rc == careful.rc,
                        "rc %s/%s; first difference: %r" % (
                            fast.rc, careful.rc, next(
                                ((a[:200], b[:200]) for a, b in zip(
                                    fast.out.splitlines() + [""],
                                    careful.out.splitlines() + [""])
                                 if a != b), None)))
            ok &= check("gc-walk %s: the %s walk's notes the careful "
                        "walk's" % (name, walk),
                        fast.notes() == careful.notes(),
                        (fast.notes()[:3], careful.notes()[:3]))
        if not ok:
            print("    kept: %s.cmd" % s.keep("gc-walk-" + name, dst, batch,
                                              outs))


def sysroot_case(s, core):
    """Untrusted file names: under --sysroot, a symbolic link in the root
    that points out of it (here at the very executable the core names) is
    resolved inside the root, so the file outside is never opened."""
    root = os.path.join(s.work, "escape-root")
    exe = INTERP.exe
    os.makedirs(os.path.dirname(root + exe), exist_ok=True)
    os.symlink(exe, root + exe)      # absolute: leads out of the root
    r = Run([s.binary, "--core", core, "--sysroot", root, "types",
             "--limit", "1"], env=s.env)
    check("sysroot: a link out of the root is not followed",
          r.rc == 2 and not r.sanitizer() and "COUNT" not in r.out,
          "rc=%s out=%r err=%r" % (r.rc, r.out[:200], r.err[-300:]))
    os.remove(root + exe)
    os.symlink("../../../.." + exe, root + exe)   # relative, ".." past /
    r = Run([s.binary, "--core", core, "--sysroot", root, "types",
             "--limit", "1"], env=s.env)
    check("sysroot: '..' in a link stays in the root",
          r.rc == 2 and not r.sanitizer() and "COUNT" not in r.out,
          "rc=%s out=%r err=%r" % (r.rc, r.out[:200], r.err[-300:]))


def gdb_case(s, label, core, addr):
    """GDB on a damaged core: the notes and answers as from the CLI, user
    errors as one 'py-heap: ' line (gdb.GdbError), never a traceback."""
    if not shutil.which("gdb"):
        check("gdb %s: installed" % label, False, "no gdb")
        return
    script = os.path.join(ROOT, "gdb", "py-heap.py")
    env = dict(os.environ, DEBUGINFOD_URLS="", PYHEAP_LIB=os.path.join(
        os.path.dirname(os.path.dirname(s.plain_bin)), "lib",
        "libpyheap.so"))
    cmds = ["py-heap types --limit 3", "py-heap show %s" % hex(addr),
            "py-heap referrers %s --depth 4" % hex(addr),
            "py-heap cycles --limit 3", "py-heap refcheck --limit 3",
            "py-heap show 0x10", "py-heap info"]
    argv = ["gdb", "-batch", "-nx", "-ex", "source %s" % script]
    for c in cmds:
        argv += ["-ex", c]
    argv += [INTERP.exe, core]
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=120, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        check("gdb %s: finishes" % label, False, "still running after 120s")
        return
    both = out.stdout + out.stderr
    check("gdb %s: no Python traceback" % label,
          "Traceback" not in both and "Python Exception" not in both,
          both[-1500:])
    check("gdb %s: says what was lost" % label,
          any(l.startswith("py-heap: ") and
              any(w in l.lower() for w in LOSS_WORDS)
              for l in both.splitlines()), both[-800:])
    check("gdb %s: a bad address is one py-heap: line" % label,
          "py-heap: show: no Python object at 0x10" in both, both[-800:])


def big_cases(s, core, truth):
    selfl = truth["self"]
    chain = truth["chain"]
    n = truth["chain_len"]
    tail, mid = chain[n - 1], chain[500_000]
    addrs = [selfl, tail, chain[16]]
    # Its whole command set under ASan writes two million-step paths and
    # takes 15-25 s on a loaded 2-core machine: the bound catches a hang,
    # not a slow run.
    s.run_case("big", core, addrs, want_loss=False,
               extra=["path %s" % hex(mid)], timeout=4 * TIME_BOUND)
    env = s.env

    def one(*args):
        r = Run(wrapper() + [s.binary, "--core", core, "--json"] +
                list(args), timeout=4 * TIME_BOUND, env=env)
        label = "big: %s" % " ".join(args)
        if not check(label + ": in time, exit 0, clean",
                     not r.timed_out and r.rc == 0 and not r.sanitizer(),
                     "rc=%s %.1fs %r" % (r.rc, r.took, r.err[-400:])):
            return None
        try:
            return json.loads(r.out)
        except ValueError as e:
            check(label + ": JSON", False, e)
            return None

    # the self-list: a cycle of one, its own referrer, refcount excess 0
    d = one("refcount", hex(selfl))
    if d is not None:
        check("big: refcount of the self-list: excess 0",
              d.get("excess") == 0, {k: v for k, v in d.items()
                                     if k != "references"})
        check("big: refcount of the self-list: ob_refcnt as measured",
              d.get("refcount", d.get("ob_refcnt")) == truth["self_refcount"],
              {k: v for k, v in d.items() if k != "references"})
    r = Run(wrapper() + [s.binary, "--core", core, "refcount", hex(selfl)],
            env=env)
    ex = [l.split(":", 1)[1].strip() for l in r.out.splitlines()
          if l.strip().startswith("excess:")]
    check("big: refcount of the self-list (text): excess 0",
          r.rc == 0 and ex == ["0"], "rc=%s excess %r %.1fs" % (r.rc, ex, r.took))
    d = one("referrers", hex(selfl))
    if d is not None:
        got = {int(x["address"], 16) for x in d["referrers"]}
        check("big: referrers of the self-list include itself",
              selfl in got, sorted(hex(x) for x in got))
    d = one("cycles", "--limit", "0")
    if d is not None:
        mine = [c for c in d["cycles"]
                if selfl in {int(m, 16) for m in c.get("members", [])} or
                c.get("first") and int(c["first"][0], 16) == selfl]
        check("big: the self-list is a cycle of 1",
              len(mine) == 1 and mine[0].get("objects",
                                              len(mine[0].get("members", [])))
              == 1, mine[:1] and {k: v for k, v in mine[0].items()
                                  if k != "members"})
        chain_ids = set(chain.values())
        in_cycle = [c for c in d["cycles"]
                    if chain_ids & {int(m, 16) for m in c.get("members", [])}]
        check("big: the chain is in no cycle", not in_cycle, len(in_cycle))
    # the chain: a path of a million steps, referrers 16 deep
    d = one("path", hex(tail))
    if d is not None:
        steps = d["path"]
        check("big: path to the chain's end: %d steps" % (n + 1),
              len(steps) == n + 1 and int(steps[-1]["address"], 16) == tail
              and int(steps[1]["address"], 16) == chain[0] and
              all(x["via"] == "[0]" for x in steps[2:]),
              "%d steps" % len(steps))
    d = one("referrers", hex(tail), "--depth", "16")
    if d is not None:
        depth, node, ok = 0, d, True
        while node.get("referrers"):
            ref = node["referrers"]
            ok &= len(ref) == 1 and ref[0]["via"] == "[0]"
            node = ref[0]
            depth += 1
        check("big: referrers --depth 16 of the chain's end: 16 levels",
              ok and depth == 16 and int(node["address"], 16) == chain[n - 17],
              "depth %d" % depth)
    d = one("refcount", hex(chain[500_000]))
    if d is not None:
        check("big: refcount of a chain link: 1, excess 0",
              d.get("excess") == 0, {k: v for k, v in d.items()
                                     if k != "references"})
    d = one("refcheck", "--type", "list", "--limit", "0")
    if d is not None:
        sus = {int(x["address"], 16) for g in d.get("excess", []) +
               d.get("deficit", []) for x in g.get("suspects", [])}
        check("big: refcheck: no list of the chain or the self-list suspect",
              not (sus & (set(chain.values()) | {selfl})),
              sorted(hex(x) for x in sus & (set(chain.values()) | {selfl})))


def mro_cases(s, core, truth):
    addrs = [truth["loopy"], truth["A"], truth["B"], truth["loopy_mro"],
             truth["instances"][0], truth["b_instances"][0]]
    extra = ["list __main__.Loopy", "list __main__.B", "list type --limit 0",
             "referents %s" % hex(truth["a_mro"])]
    s.run_case("mro", core, addrs, want_loss=False, extra=extra)
    # referrers 16 deep of a class, with no --limit: a bounded answer
    for t in ("loopy",):
        r = Run(wrapper() + [s.binary, "--core", core, "referrers",
                             hex(truth[t]), "--depth", "16"], env=s.env)
        if not check("mro: referrers --depth 16 of class %s (no --limit): in "
                     "time, exit 0, clean" % t,
                     not r.timed_out and r.rc == 0 and not r.sanitizer(),
                     "rc=%s %.1fs, %d bytes of output so far" %
                     (r.rc, r.took, len(r.out))):
            print("    kept: %s.cmd" % s.keep("mro-referrers-depth-" + t,
                                                 core, None, [r]))


def valgrind_case(s, core, truth):
    if not shutil.which("valgrind"):
        check("valgrind: installed", False, "no valgrind")
        return
    addrs = [truth["holder"], truth["dicts"][0]["id"],
             truth["lists"][1]["id"], truth["insts"][0]["id"]]
    batch = os.path.join(s.work, "valgrind.batch")
    with open(batch, "w") as f:
        f.write("\n".join(batch_lines(addrs)) + "\n")
    for mode in ("text", "json"):
        argv = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite", "-q", s.plain_bin,
                "--core", core] + (["--json"] if mode == "json" else []) + \
            ["--batch", batch]
        r = Run(argv, timeout=240)
        ok = check("valgrind [%s]: no errors, no leaks" % mode,
                   not r.timed_out and r.rc == 0,
                   "rc=%s %.0fs %s" % (r.rc, r.took, r.err[-1500:]))
        if not ok:
            s.keep("valgrind-" + mode, core, batch, [r])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/san/bin/py-heap"),
                    help="the binary under test (the sanitizer build)")
    ap.add_argument("--plain-bin", default=os.path.join(ROOT, "build/bin/py-heap"),
                    help="the binary run under valgrind")
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--repro-dir", default="/tmp/damage-repro",
                    help="where a failing case's core and command are kept")
    ap.add_argument("--python", help="the interpreter to test (default: "
                    "Debian's /usr/bin/python3.11)")
    ap.add_argument("--no-valgrind", action="store_true")
    ap.add_argument("--only", help="run only these groups: plain,big,mro,"
                    "gcwalk,valgrind")
    a = ap.parse_args()
    global PYTHON, INTERP
    if a.python:
        PYTHON = a.python
    INTERP = Interp(PYTHON)
    groups = set((a.only or "plain,big,mro,gcwalk,valgrind").split(","))
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="pyheap-damage-")
    s = Suite(os.path.abspath(a.bin), work, a.repro_dir)
    s.plain_bin = os.path.abspath(a.plain_bin)
    try:
        cores = {}
        for mode in ("plain", "big", "mro"):
            if mode not in groups and not (mode == "plain" and
                                           groups & {"valgrind", "gcwalk"}):
                continue
            outdir = os.path.join(a.cores_dir, "heap_damage-%s-%s" %
                                  (mode, INTERP.tag))
            core = INTERP.take_core("heap_damage.py", outdir, mode)
            with open(os.path.join(outdir, "truth.txt")) as f:
                cores[mode] = (core, ast.literal_eval(f.read()))
        for name, fn, mode in (("plain", plain_cases, "plain"),
                               ("gcwalk", gc_walk_cases, "plain"),
                               ("big", big_cases, "big"),
                               ("mro", mro_cases, "mro")):
            if name in groups:
                try:
                    fn(s, *cores[mode])
                except Exception as e:
                    check("%s cases" % name, False, repr(e))
        if "valgrind" in groups and not a.no_valgrind:
            valgrind_case(s, *cores["plain"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("(%.0fs)" % (time.time() - t0))
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
