#!/usr/bin/env python3
"""Tests of the index cache (issue 23).

On a core of fixtures/heap_basic.py (copied, so that it may be touched and
replaced), with XDG_CACHE_HOME in a directory of the test's own:

  * reuse: the first run writes the cache (info: index_cache "written"),
    the second reads it ("read", its stage instead of the pool scan's), and
    answers the same as a run without it (types, summary, refcheck,
    referrers, cycles), and as the process measured itself (every user
    class's count, truth.json); the file is at most 24 bytes per object,
    in a directory of mode 0700;
  * --no-cache: neither read nor written (the file untouched), "off";
  * staleness: the core touched, then replaced by a copy (a new inode):
    the cache is not used, said in info ("stale"), rewritten;
  * damage: a flipped byte in its table, a flipped byte in its header, the
    file cut short, a file of zeros, a file of format 3: ignored with a note
    (index-cache-ignored), the answer the same, exit 0; a planted link is
    not read and not written through; a directory others may write is not
    used;
  * bounds: runs on ten copies of the core leave at most 8 cache files.
  * the graph's cache (graph-HASH beside it): the first graph command on
    the cached index writes it, later ones read it instead of building the
    graph (their stages), and answer as without the cache (referrers, path,
    cycles --unreachable, dominators, refcheck); a flipped byte in its
    edges or header, the file cut short, an edge to an object past the
    last or an offset going back with the sums made again (what memory
    safety checks beyond the sums): built again, rewritten, the same
    answer; the core touched (the index rewritten): the graph of the
    old index is not read.
  * the answers' cache (ans-KIND-HASH beside them): the first cycles,
    refcheck and dominators on the cached index write what they computed
    (the components, the unreachable set and its fates; each object's
    excess and deficit; the dominator tree and retained sizes), later runs
    read it instead of computing (their stages) and answer as without any
    cache, options applied after (cycles --unreachable, refcheck, refcheck
    --type, dominators, dominators --type, leaks, retained); --no-cache
    computes and leaves the files untouched; each file with a flipped byte
    in its body or header, cut short, zeros, or a number the sums vouch for
    but memory safety refuses (an object past the last, objects out of
    order, positions that are not a permutation): ignored, computed again,
    rewritten, the same answer, then read; a file of another build of
    py-heap (its build-id in the header) is not read.
  * a diff's caches (on the cores diff_checks.py took of
    fixtures/heap_growth.py): the first diff on the cached cores keeps
    every object's fingerprint of both (ans-fp-HASH) and the after side's
    graph without its referrers; the next reads them instead of the cores'
    objects and the edges, and answers as --no-cache, which writes none;
    a flipped byte in either: made again, the same answer; referrers on
    such a graph builds only the referrers and writes the whole graph;
    a snapshot on kept fingerprints is the same file as without them.
  * free-threaded builds (3.13t, 3.13td): all of the above, their index
    keeping mimalloc's pages (each one's blocks, free blocks and objects);
  * subinterpreters (3.9+: fixtures/heap_subinterp.py's core of 2, the
    one subinterp_checks.py takes): the index keeps each object's
    interpreter; a batch of commands for each interpreter (types, list,
    summary, refcheck, cycles, dominators, leaks --interp K; referrers,
    show, path of K's marker) answers the same uncached, on the run that
    writes the cache and on the one that reads it (both caches), and K's
    user classes as K counted them; an interpreter number out of range
    (the sums made again) or a flipped byte of that section: ignored with
    a note, the same answer, rewritten.

    python3 tests/integration/cache_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY]

Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import argparse
import fcntl
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

from interp import Interp, cache_writers_wait, copy_core, sections

PYTHON = os.environ.get("PYHEAP_TEST_PYTHON", "/usr/bin/python3.11")
CRASH_SIGNS = ("ERROR: AddressSanitizer", "runtime error:",
               "ERROR: LeakSanitizer", "Segmentation fault", "==ERROR")
results = {"passed": 0, "failed": 0}
BIN = None
INTERP = None
ENV = None


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    sys.stdout.flush()


def settle(env):
    """The files a run's detached writers write, in place (the checks
    read and change them as soon as the run is done)."""
    ok = cache_writers_wait(os.path.join(env["XDG_CACHE_HOME"], "py-heap"))
    if not ok:
        raise RuntimeError("a detached writer still writes after 60 s")


def run(core, *args, cache=True, timing=False):
    env = dict(ENV)
    if timing:
        env["PYHEAP_TIMING"] = "1"
    cmd = ([BIN, "--core", core] + INTERP.py_heap_args() +
           ([] if cache else ["--no-cache"]) + ["--json"] + list(args))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env,
                       timeout=300)
    settle(env)
    for sign in CRASH_SIGNS:
        if sign in r.stderr:
            raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr[-2000:]))
    try:
        out = json.loads(r.stdout) if r.stdout.strip() else None
    except ValueError:
        out = None
    return r.returncode, out, r.stderr


def info(core, cache=True):
    rc, out, err = run(core, "info", cache=cache)
    return rc, out or {}, err


def answers(core, addr, cache=True):
    """What the commands answer, without what says where it came from."""
    got = {}
    for args in (["types"], ["summary"], ["refcheck"], ["referrers", addr],
                 ["cycles"], ["path", addr], ["cycles", "--unreachable"],
                 ["dominators"], ["leaks"], ["types", "--retained"],
                 LIST):
        rc, out, err = run(core, *args, cache=cache)
        if isinstance(out, dict):
            out.pop("notes", None)
        got[" ".join(args) if args is LIST else
            " ".join(args[:1] + [a for a in args[1:] if a[0] == "-"])] = (
            rc, out)
    return got


def files_of(xdg, prefix):
    """The cache files named prefix* (not a seal's, not a temporary)"""
    d = os.path.join(xdg, "py-heap")
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, f) for f in os.listdir(d)
                  if f.startswith(prefix) and "." not in f)


def graph_files(xdg):
    return files_of(xdg, "graph-")


M64 = (1 << 64) - 1


def fmix64(x):
    """heapcache.c's hc_mix (murmur3's fmix64)."""
    x ^= x >> 33
    x = (x * 0xff51afd7ed558ccd) & M64
    x ^= x >> 33
    x = (x * 0xc4ceb9fe1a85ec53) & M64
    return x ^ (x >> 33)


def file_sum(data):
    """heapcache.c's checksum (hc_sum, format 7): Fletcher's two sums over
    64-bit words in eight lanes, each folded in through fmix64, then the
    tail's bytes."""
    import array
    m = len(data) // 64
    w = array.array("Q", data[:m * 64])
    out = 0xcbf29ce484222325
    for lane in range(8):
        col = w[lane::8]
        a = (lane + 1 + sum(col)) & M64
        b = (m * (lane + 1) + sum((m - i) * x for i, x in enumerate(col))) \
            & M64
        out = fmix64(fmix64(out ^ a) ^ b)
    for byte in data[m * 64:]:
        out = ((out ^ byte) * 0x100000001b3) & M64
    return fmix64(out)


# graphcache.c's struct gc_head (format 2): its sections' sizes, then their
# sums, then the header's own sum; the sections follow it
GC_SIZES, GC_SUMS, GC_HEAD_SUM, GC_HEAD = 88, 168, 248, 256


def graph_plant(path, what):
    """A number the sums vouch for but memory safety refuses: an edge to
    an object past the last (what="edge") or an offset going back
    (what="offset"), the section's and the header's sums made again."""
    import struct
    with open(path, "rb") as f:
        data = bytearray(f.read())
    n, nedges = struct.unpack_from("<QQ", data, 24)
    sec = list(struct.unpack_from("<10Q", data, GC_SIZES))
    off = [GC_HEAD]
    for b in sec[:-1]:
        off.append(off[-1] + (b + 7) // 8 * 8)
    if what == "edge":
        k = 1
        struct.pack_into("<I", data, off[1] + 4 * (nedges // 2), n + 5)
    else:
        k = 0
        struct.pack_into("<I", data, off[0] + 4 * (n // 2), 0)
        struct.pack_into("<I", data, off[0] + 4 * (n // 2 + 1), 1)
    struct.pack_into("<Q", data, GC_SUMS + 8 * k,
                     file_sum(bytes(data[off[k]:off[k] + sec[k]])))
    struct.pack_into("<Q", data, GC_HEAD_SUM,
                     file_sum(bytes(data[:GC_HEAD_SUM])))
    with open(path, "wb") as f:
        f.write(data)


def drop_answer(kind):
    """The answers' file of kind gone, and its seal"""
    d = os.path.join(ENV["XDG_CACHE_HOME"], "py-heap")
    for f in os.listdir(d) if os.path.isdir(d) else []:
        if f.startswith(("ans-%s-" % kind, "sealed-ans-%s-" % kind)):
            os.unlink(os.path.join(d, f))


def graph_stages(core, addr, cmd="referrers"):
    """referrers (or cycles) on the cache: (the same answer, the graph read
    from its cache, built, written). A command sums and checks only the
    sections it reads (graphcache.c): referrers the referrers' arrays,
    cycles the referents' when it computes (its answers' file dropped
    first: with it, cycles reads no graph)."""
    args = [cmd, addr] if cmd == "referrers" else [cmd]
    if cmd == "cycles":
        drop_answer("cycles")
    rc, out, err = run(core, *args, timing=True)
    if isinstance(out, dict):
        out.pop("notes", None)
    return (out, "graph cache read" in err, "graph: edges" in err,
            "graph cache written" in err)


# list's rows of a type every heap has many of
LIST = ["list", "dict", "--limit", "20"]

ANSWERS = {
    # the file's kind: (its command, the stage of its read)
    "cycles": (["cycles", "--unreachable"], "cycles cache read"),
    "refcheck": (["refcheck"], "refcheck cache read"),
    "dom": (["dominators"], "dominators cache read"),
    "typeret": (["types", "--retained"], "types' retained read"),
    "leaks": (["leaks"], "leaks' suspects read"),
    "listtop": (LIST, "list's largest read"),
}
# answercache.c's struct ac_head: PH_ANSWER_VALS numbers, then each of
# PH_ANSWER_SECS sections' size and sum, then the header's sum
AC_VALS, AC_SECS = 16, 12
AC_SIZES = 56 + 8 * AC_VALS
AC_SUMS = AC_SIZES + 8 * AC_SECS
AC_HEAD_SUM = AC_SUMS + 8 * AC_SECS
AC_HEAD = AC_HEAD_SUM + 8


def answer_file(xdg, kind):
    fs = files_of(xdg, "ans-%s-" % kind)
    return fs[0] if len(fs) == 1 else None


def answer_stages(core, args, kind):
    """args on the cache: (the answer, its cache read, written)"""
    rc, out, err = run(core, *args, timing=True)
    if isinstance(out, dict):
        out.pop("notes", None)
    return (rc, out), ANSWERS[kind][1] in err, \
        ANSWERS[kind][1].replace("read", "written") in err


def answer_plant(path, kind):
    """A number the sums vouch for but memory safety refuses, the
    section's and the header's sums made again: an object past the last
    (cycles), a member past the objects or a component of none (cycles'
    members, cycles' starts), another number of types (types' retained),
    a suspect past the objects (leaks), an object at a position not its
    own (the dominator tree's order),
    two objects out of order (refcheck), a position twice (dominators)."""
    import struct
    with open(path, "rb") as f:
        data = bytearray(f.read())
    n = struct.unpack_from("<Q", data, 48)[0]
    m = struct.unpack_from("<Q", data, 56)[0]   # val[0]
    # section i at its offset: the header, then each padded to 8 bytes
    size = [struct.unpack_from("<Q", data, AC_SIZES + 8 * i)[0]
            for i in range(AC_SECS)]
    at = [AC_HEAD]
    for i in range(AC_SECS - 1):
        at.append(at[-1] + (size[i] + 7) // 8 * 8)
    sec = 0
    o = AC_HEAD
    if kind == "build":     # another build's: its header's build-id
        struct.pack_into("<Q", data, 40,
                         struct.unpack_from("<Q", data, 40)[0] ^ 0x100)
    elif kind == "cycles":
        struct.pack_into("<I", data, o + 4 * (m // 2), n + 5)
    elif kind == "cycles-members":   # a position in marked past its end
        sec = 2
        struct.pack_into("<I", data, at[2] + 4 * (size[2] // 8), m)
    elif kind == "dom-order":        # an object at a position not its own
        sec = 3
        struct.pack_into("<I", data, at[3], struct.unpack_from(
            "<I", data, at[3] + 4)[0])
    elif kind == "cycles-loop":      # a loop's step past the objects
        sec = 6
        struct.pack_into("<I", data, at[6], n + 5)
    elif kind == "cycles-tally":     # a type of a component past the types
        sec = 11
        struct.pack_into("<I", data, at[11], 1 << 30)
    elif kind == "cycles-start":     # the second component made empty
        sec = 3
        struct.pack_into("<I", data, at[3] + 8,
                         struct.unpack_from("<I", data, at[3] + 4)[0])
    elif kind == "listtop":          # a row past the objects
        sec = 1
        struct.pack_into("<I", data, at[1], n + 5)
    elif kind == "leaks":            # a suspect past the objects
        struct.pack_into("<I", data, o, n + 5)
    elif kind == "typeret":          # of another number of types
        struct.pack_into("<Q", data, 56, m + 1)
    elif kind == "refcheck":
        a, b = struct.unpack_from("<II", data, o)
        struct.pack_into("<II", data, o, b, a)
    elif kind == "diff-rows":        # a diff's result: more rows than bytes
        struct.pack_into("<Q", data, o, 1 << 40)
    elif kind == "diff-strings":     # its strings not ended by a NUL
        data[o + size[0] - 1] = 0x41
    else:
        struct.pack_into("<I", data, o + 4, struct.unpack_from(
            "<I", data, o)[0])
    struct.pack_into("<Q", data, AC_SUMS + 8 * sec,
                     file_sum(bytes(data[at[sec]:at[sec] + size[sec]])))
    struct.pack_into("<Q", data, AC_HEAD_SUM,
                     file_sum(bytes(data[:AC_HEAD_SUM])))
    with open(path, "wb") as f:
        f.write(data)


def uncached(core, runs):
    """Each of runs' answer with --no-cache: (rc, out) by its words"""
    want = {}
    for args in runs:
        rc, out, err = run(core, *args, cache=False)
        if isinstance(out, dict):
            out.pop("notes", None)
        want[" ".join(args)] = (rc, out)
    return want


def timed(core, *args):
    """args on the cache: ((rc, out), its stages)"""
    rc, out, err = run(core, *args, timing=True)
    if isinstance(out, dict):
        out.pop("notes", None)
    return (rc, out), err


def cycles_kept_checks(core, xdg):
    """cycles reads no graph once its file is written: the components'
    loops, their labels and types are kept beside the members (the loops
    another interpreter's run shows are searched in the graph). A sealed
    file is read by the rows a run needs, each member checked as read: a
    damaged one under a forged seal is found, the answer computed again
    and the file rewritten."""
    import struct
    d = os.path.join(xdg, "py-heap")
    runs = (["cycles"], ["cycles", "--unreachable"],
            ["cycles", "--sort", "count", "--limit", "3"],
            ["cycles", "--min-size", "1000"])
    want = uncached(core, runs)

    for f in os.listdir(d):
        if f.startswith(("graph-", "ans-cycles-", "sealed-ans-cycles-")):
            os.unlink(os.path.join(d, f))
    ans, err = timed(core, "cycles")
    check("cycles kept: the first run computes, writes its file and no "
          "graph's", ans == want["cycles"] and
          "cycles cache written" in err and not graph_files(xdg),
          (ans[0], err[-300:]))
    for args in runs:
        ans, err = timed(core, *args)
        check("cycles kept: %s reads its file, no graph mapped or built, "
              "as uncached" % " ".join(args),
              ans == want[" ".join(args)] and "cycles cache read" in err and
              "graph" not in err, (ans[0], err[-300:]))
    rc, out, err = run(core, "info")
    interp = ((out or {}).get("interpreters") or [{}])[0].get("id", 0)
    args = ["cycles", "--interp", str(interp)]
    rc, out, err = run(core, *args, cache=False)
    if isinstance(out, dict):
        out.pop("notes", None)
    ans, err = timed(core, *args)
    check("cycles kept: --interp reads its file and the referents (its "
          "loops searched), as uncached", rc == 0 and ans == (rc, out) and
          "cycles cache read" in err and "graph: edges" in err,
          (rc, ans[0], err[-300:]))
    # sealed, then read by its rows
    time.sleep(2.2)
    timed(core, "cycles")
    af = answer_file(xdg, "cycles")
    check("cycles kept: its file sealed once summed whole",
          af and seal_mask(af) == 0xfff, af and seal_mask(af))
    if not af:
        return
    for what, sec, stage, args in (
            ("every member past the marked objects", 2,
             "cycles cache: a member damaged", ["cycles"]),
            ("every marked object past the objects", 0,
             "cycles cache: damaged", ["cycles", "--unreachable"])):
        with open(af, "rb") as f:
            data = bytearray(f.read())
        n = struct.unpack_from("<Q", data, 48)[0]
        m = struct.unpack_from("<Q", data, 56)[0]
        size = [struct.unpack_from("<Q", data, AC_SIZES + 8 * i)[0]
                for i in range(AC_SECS)]
        at = AC_HEAD + sum((b + 7) // 8 * 8 for b in size[:sec])
        data[at:at + size[sec]] = struct.pack(
            "<I", (m if sec == 2 else n) + 5) * (size[sec] // 4)
        with open(af, "r+b") as f:
            f.write(data)
        forge_seal(af)
        ans, err = timed(core, *args)
        check("cycles kept: %s (its seal forged): %s finds it, computes, "
              "the same answer, the file rewritten" % (what, args[-1]),
              ans == want[" ".join(args)] and stage in err and
              "cycles cache written" in err, (ans[0], err[-300:]))
        for a in runs:
            ans, err = timed(core, *a)
            check("cycles kept: %s: then %s reads the file rewritten" %
                  (what, " ".join(a)), ans == want[" ".join(a)] and
                  "cycles cache read" in err and "damaged" not in err,
                  (ans[0], err[-300:]))
        time.sleep(2.2)
        timed(core, "cycles")                   # sealed again
        af = answer_file(xdg, "cycles")
        if not af:
            return


def list_rows_checks(core, xdg):
    """list TYPE --limit K (K up to 64, no --min-size or --interp) reads
    its type's rows from the listtop file, written by the first such run
    (--json lists every object unless --limit says otherwise);
    a sealed file's rows are checked as read (an object of the type, in
    list's order): damaged under a forged seal, the file is written again
    and the answer is the same. Other options pass over every object."""
    import struct
    runs = (LIST, ["list", "dict", "--limit", "64"],
            ["list", "type", "--limit", "50"],
            ["list", "dict", "--limit", "65"],
            ["list", "dict", "--limit", "5", "--min-size", "200"],
            ["list", "dict"], ["list", "*", "--limit", "3"])
    want = uncached(core, runs)

    drop_answer("listtop")
    ans, err = timed(core, *LIST)
    check("list rows: the first run writes the file, as uncached",
          ans == want[" ".join(LIST)] and "list's largest written" in err,
          (ans[0], err[-300:]))
    for args in runs:
        ans, err = timed(core, *args)
        rows = args[-1] in ("20", "64", "50", "3")
        check("list rows: %s %s, as uncached" % (
            " ".join(args), "reads its rows" if rows else "passes over "
            "every object"), ans == want[" ".join(args)] and
            ("list's largest read" in err) == rows and
            "list's largest written" not in err, (ans[0], err[-300:]))
    time.sleep(2.2)
    timed(core, *LIST)
    af = answer_file(xdg, "listtop")
    check("list rows: the file sealed once summed whole",
          af and seal_mask(af) == 0x7, af and seal_mask(af))
    if not af:
        return
    for what in ("every type's first two rows swapped",
                 "every row object 0"):
        with open(af, "rb") as f:
            data = bytearray(f.read())
        size = [struct.unpack_from("<Q", data, AC_SIZES + 8 * i)[0]
                for i in range(3)]
        at = AC_HEAD + (size[0] + 7) // 8 * 8
        start = struct.unpack_from("<%dI" % (size[0] // 4), data, AC_HEAD)
        if what.startswith("every type"):
            for t in range(len(start) - 1):
                if start[t + 1] - start[t] >= 2:
                    a = at + 4 * start[t]
                    data[a:a + 8] = data[a + 4:a + 8] + data[a:a + 4]
        else:
            data[at:at + size[1]] = bytes(size[1])
        with open(af, "r+b") as f:
            f.write(data)
        forge_seal(af)
        ans, err = timed(core, *LIST)
        check("list rows: %s (its seal forged): list finds it, the file "
              "written again, the same answer" % what,
              ans == want[" ".join(LIST)] and
              "list's largest written" in err, (ans[0], err[-300:]))
        for args in runs[:3]:
            ans, err = timed(core, *args)
            check("list rows: %s: then %s reads the file written again, "
                  "as uncached" % (what, " ".join(args)),
                  ans == want[" ".join(args)] and
                  "list's largest read" in err, (ans[0], err[-300:]))
        time.sleep(2.2)
        timed(core, *LIST)                      # sealed again
        af = answer_file(xdg, "listtop")
        if not af or seal_mask(af) != 0x7:
            check("list rows: sealed again", False, af and seal_mask(af))
            return


def cycles_many_types(path):
    """The cycles file with its first cycle given 100,000 more types (all
    of type 0), every size, count and sum made again to agree: only the
    bound on a cycle's types (one entry a type) refuses it."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    vals = list(struct.unpack_from("<%dQ" % AC_VALS, data, 56))
    size = list(struct.unpack_from("<%dQ" % AC_SECS, data, AC_SIZES))
    secs, o = [], AC_HEAD
    for b in size:
        secs.append(bytearray(data[o:o + b]))
        o += (b + 7) // 8 * 8
    extra = 100000
    ts = list(struct.unpack("<%dI" % (len(secs[10]) // 4), secs[10]))
    secs[10] = bytearray(struct.pack("<%dI" % len(ts), 0,
                                     *[t + extra for t in ts[1:]]))
    secs[11] = bytearray(struct.pack("<II", 0, 1) * extra) + secs[11]
    vals[13] += extra
    head = bytearray(data[:AC_HEAD])
    struct.pack_into("<%dQ" % AC_VALS, head, 56, *vals)
    for i, sec in enumerate(secs):
        struct.pack_into("<Q", head, AC_SIZES + 8 * i, len(sec))
        struct.pack_into("<Q", head, AC_SUMS + 8 * i, file_sum(bytes(sec)))
    struct.pack_into("<Q", head, AC_HEAD_SUM,
                     file_sum(bytes(head[:AC_HEAD_SUM])))
    with open(path, "wb") as f:
        f.write(head)
        for sec in secs:
            f.write(sec + bytes((8 - len(sec) % 8) % 8))


def answer_checks(core, xdg, addr, ref):
    # the first of each wrote its file (answers() above): read now
    for kind, (args, stage) in ANSWERS.items():
        af = answer_file(xdg, kind)
        check("answers' cache: %s written" % kind, af is not None, af)
        got, read, written = answer_stages(core, args, kind)
        check("answers' cache: %s read, as uncached" % " ".join(args),
              read and not written and got == ref[" ".join(args)],
              (read, written))
    # options applied to what is read
    types = [r["type"] for r in (ref["types"][1] or {}).get("types", [])]
    some = types[len(types) // 2] if types else "dict"
    for args, kind in ((["refcheck", "--type", some], "refcheck"),
                       (["refcheck", "--min-excess", "2", "--limit", "1"],
                        "refcheck"),
                       (["cycles", "--unreachable", "--limit", "1",
                         "--sort", "count"], "cycles"),
                       (["cycles"], "cycles"),
                       (["dominators", "--type", some, "--limit", "3"],
                        "dom"),
                       (["leaks"], "dom"),
                       (["retained", addr], "dom"),
                       (["leaks", "--limit", "1"], "leaks"),
                       (["leaks", "--limit", "0"], "leaks"),
                       (["types", "--retained", "--module", "builtins"],
                        "typeret"),
                       (["types", "--retained", "--sort", "retained",
                         "--limit", "3"], "typeret")):
        rc, want, err = run(core, *args, cache=False)
        if isinstance(want, dict):
            want.pop("notes", None)
        got, read, written = answer_stages(core, args, kind)
        check("answers' cache: %s read, as uncached" % " ".join(args),
              read and got == (rc, want), (read, got[0], rc))
    # --no-cache computes, and leaves the files alone
    for kind, (args, stage) in ANSWERS.items():
        af = answer_file(xdg, kind)
        before = os.stat(af).st_mtime_ns if af else None
        rc, out, err = run(core, *args, cache=False, timing=True)
        check("answers' cache: --no-cache computes %s, the file untouched"
              % kind, rc == 0 and stage not in err and af and
              os.stat(af).st_mtime_ns == before, err[-300:])
    # damage: never trusted
    for kind, (args, stage) in ANSWERS.items():
        af = answer_file(xdg, kind)
        if not af:
            continue
        want = ref[" ".join(args)]
        for what, damage in (
                ("a byte of its body flipped",
                 lambda: flip(af, AC_HEAD + (os.path.getsize(af) -
                                             AC_HEAD) // 2)),
                ("a byte of its header flipped", lambda: flip(af, 50)),
                ("cut short",
                 lambda: os.truncate(af, os.path.getsize(af) // 2)),
                ("zeros",
                 lambda: open(af, "wb").write(bytes(os.path.getsize(af)))),
                ("a bad number, its sums made again",
                 lambda: answer_plant(af, kind)),
                ("of another build, its sums made again",
                 lambda: answer_plant(af, "build"))) + {
                "cycles": (
                    ("a member past its objects, its sums made again",
                     lambda: answer_plant(af, "cycles-members")),
                    ("a component of no member, its sums made again",
                     lambda: answer_plant(af, "cycles-start")),
                    ("a loop's step past the objects, its sums made again",
                     lambda: answer_plant(af, "cycles-loop")),
                    ("a type past the types, its sums made again",
                     lambda: answer_plant(af, "cycles-tally")),
                    ("a cycle of more types than there are, its sums "
                     "made again", lambda: cycles_many_types(af))),
                "dom": (
                    ("an object at a position not its own, its sums "
                     "made again", lambda: answer_plant(af, "dom-order")),)
                }.get(kind, ()):
            damage()
            got, read, written = answer_stages(core, args, kind)
            check("answers' cache: %s %s: ignored, computed, rewritten, "
                  "the same answer" % (kind, what),
                  not read and written and got == want, (read, written))
            got, read, written = answer_stages(core, args, kind)
            check("answers' cache: %s %s: then read" % (kind, what),
                  read and got == want, (read, written))


def run_timed(core, args, cache=True, env=None):
    """args on core with PYHEAP_TIMING: rc, stdout's bytes, stderr (its
    stages among it)"""
    e = dict(ENV, PYHEAP_TIMING="1", **(env or {}))
    cmd = ([BIN, "--core", core] + INTERP.py_heap_args() +
           ([] if cache else ["--no-cache"]) + list(args))
    r = subprocess.run(cmd, capture_output=True, env=e, timeout=300)
    settle(e)
    err = r.stderr.decode(errors="replace")
    for sign in CRASH_SIGNS:
        if sign in err:
            raise RuntimeError("%s: %s" % (" ".join(cmd), err[-2000:]))
    return r.returncode, r.stdout, err


def run_raw(core, args, cache=True, env=None):
    """args on core: rc, stdout's bytes, stderr without the timing lines,
    whether the output was read from / written to the outputs' cache"""
    rc, out, err = run_timed(core, args, cache, env)
    lines = err.splitlines(True)
    # (progress lines come when the machine is slow: not the answer's)
    notes = "".join(x for x in lines if not x.rstrip().endswith(" ms") and
                    not x.startswith("py-heap progress:"))
    return (rc, out, notes,
            "output cache read" in err, "output cache written" in err)


def out_files(xdg):
    return files_of(xdg, "ans-out")


def out_plant_build(path):
    """another build's file: its header's build-id changed, its header's
    sum made again"""
    import struct
    with open(path, "rb") as f:
        data = bytearray(f.read())
    struct.pack_into("<Q", data, 40,
                     struct.unpack_from("<Q", data, 40)[0] ^ 0x100)
    struct.pack_into("<Q", data, AC_HEAD_SUM,
                     file_sum(bytes(data[:AC_HEAD_SUM])))
    with open(path, "wb") as f:
        f.write(data)


OUTPUTS = (["cycles", "--unreachable"], ["cycles"], ["dominators"],
           ["leaks"], ["summary"], ["types"], ["refcheck"],
           ["types", "--retained", "--sort", "count"],
           ["dominators", "--limit", "3", "--min-bytes", "100"],
           ["cycles", "--unreachable", "--limit", "1", "--sort", "count"])


def output_checks(core, xdg):
    """Whole-heap reports kept as printed: read back byte for byte, with
    the same notes and exit status, by the same command line only; never
    trusted when damaged; not with --no-cache; not for a changed core."""
    want = {}
    for args in OUTPUTS:
        for fmt in ([], ["--json"]):
            a = fmt + args
            want[tuple(a)] = ref = run_raw(core, a, cache=False)[:3]
            rc, out, notes, read, written = run_raw(core, a)
            check("outputs' cache: %s: computed, written, as uncached"
                  % " ".join(a), (rc, out, notes) == ref and written and
                  not read, (rc, read, written, len(out), len(ref[1])))
            rc, out, notes, read, written = run_raw(core, a)
            check("outputs' cache: %s: read, byte for byte as uncached"
                  % " ".join(a), (rc, out, notes) == ref and read and
                  not written, (rc, read, written, len(out), len(ref[1])))
    files = out_files(xdg)
    check("outputs' cache: at most 8 files (%d)" % len(files),
          0 < len(files) <= 8, files)
    # other options, flags or environment: not the same output
    base = ["cycles", "--unreachable"]
    run_raw(core, base)
    for a, env in ((base + ["--limit", "2"], None),
                   (base + ["--min-size", "1"], None),
                   (base, {"PYHEAP_PLAIN": "1"}),
                   (["dominators", "--export",
                     os.path.join(os.path.dirname(core), "dom.txt")],
                    None)):
        ref = run_raw(core, a, cache=False, env=env)[:3]
        rc, out, notes, read, written = run_raw(core, a, env=env)
        check("outputs' cache: %s%s: not the output of %s" % (
            " ".join(a), " with %s" % env if env else "", " ".join(base)),
            not read and (rc, out, notes) == ref, (rc, read))
    # --plain says what PYHEAP_PLAIN=1 says: the same output, read
    ref = run_raw(core, ["--plain"] + base, cache=False)[:3]
    rc, out, notes, read, written = run_raw(core, ["--plain"] + base)
    check("outputs' cache: --plain: PYHEAP_PLAIN=1's output, read",
          read and (rc, out, notes) == ref, (rc, read))
    rc, out, notes, read, written = run_raw(core, ["dominators", "--export",
                                                   os.path.join(
                                                       os.path.dirname(core),
                                                       "dom.txt")])
    check("outputs' cache: dominators --export: never cached",
          not read and not written, (read, written))
    # a command that fails keeps nothing
    rc, out, notes, read, written = run_raw(core, ["dominators", "--tree",
                                                   "0x10"])
    check("outputs' cache: a failed command (dominators --tree 0x10): "
          "nothing kept", rc != 0 and not read and not written,
          (rc, read, written))
    rc, out, notes, read, written = run_raw(core, ["dominators", "--tree",
                                                   "0x10"])
    check("outputs' cache: a failed command: its error again, not read",
          rc != 0 and not read and not written and "0x10" in notes,
          (rc, read, written, notes[-200:]))
    # --no-cache: computed, the file untouched
    a = ["--json"] + base
    ref = want[tuple(a)]
    run_raw(core, a)
    before = {f: os.stat(f).st_mtime_ns for f in out_files(xdg)}
    rc, out, notes, read, written = run_raw(core, a, cache=False)
    check("outputs' cache: --no-cache: computed, the files untouched",
          not read and not written and (rc, out, notes) == ref and
          before == {f: os.stat(f).st_mtime_ns for f in out_files(xdg)},
          (read, written))
    # damage: never trusted, rewritten (the file of a alone)
    for f in out_files(xdg):
        os.unlink(f)
    run_raw(core, a)
    files = out_files(xdg)
    check("outputs' cache: one file for one output", len(files) == 1, files)
    for what, damage in (
            ("a byte of its output flipped",
             lambda f: flip(f, AC_HEAD + 40)),
            ("a byte of its end flipped",
             lambda f: flip(f, os.path.getsize(f) - 9)),
            ("a byte of its header flipped", lambda f: flip(f, 50)),
            ("cut short", lambda f: os.truncate(f, os.path.getsize(f) // 2)),
            ("zeros",
             lambda f: open(f, "wb").write(bytes(os.path.getsize(f)))),
            ("empty", lambda f: os.truncate(f, 0)),
            ("of another build, its sum made again", out_plant_build)):
        f = files[0]
        damage(f)
        rc, out, notes, read, written = run_raw(core, a)
        check("outputs' cache: %s: ignored, computed, rewritten, the same "
              "output" % what, not read and written and
              (rc, out, notes) == ref, (rc, read, written))
        rc, out, notes, read, written = run_raw(core, a)
        check("outputs' cache: %s: then read" % what,
              read and (rc, out, notes) == ref, (rc, read, written))
    # the core changed: the index stale, the output not reused
    os.utime(core, None)
    rc, out, notes, read, written = run_raw(core, a)
    check("outputs' cache: core touched: not read, computed, rewritten",
          not read and written and (rc, out, notes) == ref,
          (rc, read, written))
    rc, out, notes, read, written = run_raw(core, a)
    check("outputs' cache: core touched: then read",
          read and (rc, out, notes) == ref, (rc, read, written))
    # a damaged core: the notes and the exit status 2 kept with the bytes
    # (the largest writable segment zeroed, unless that leaves no Python
    # to find, as when it is the malloc heap holding 3.8-3.10's sys dict:
    # which segment is largest moves with where the arenas were mapped)
    import damage_checks
    segs = sorted((g for g in damage_checks.segments(core) if g[4] & 2),
                  key=lambda g: -g[1])
    bad = os.path.join(os.path.dirname(core), "core-zeroed")
    for seg in segs[:4]:
        damage_checks.zero_segments(core, bad, [seg])
        drc, dout = run_raw(bad, ["summary"], cache=False)[:2]
        if drc == 0 or dout:
            break
        # no answer at all: no index to key an output by, nothing kept
        first = run_raw(bad, ["summary"])
        again = run_raw(bad, ["summary"])
        check("outputs' cache: a core with no Python found (a writable "
              "segment zeroed): nothing kept, the same error again",
              first[:3] == again[:3] == (drc, dout, first[2]) and
              "py-heap: " in first[2] and
              not any(first[3:] + again[3:]),
              (hex(seg[0]), first[0], first[3:], again[3:],
               first[2][-200:]))
    for args in (["--json", "summary"], ["cycles"], ["--json", "leaks"]):
        dref = run_raw(bad, args, cache=False)[:3]
        first = run_raw(bad, args)
        rc, out, notes, read, written = run_raw(bad, args)
        # (on a free-threaded debug build the largest writable segment
        # can be mimalloc's arena of zeros: nothing read there, no note)
        hurt = dref[0] != 0
        check("outputs' cache: a damaged core: %s read, its notes and exit "
              "status as uncached%s" % (" ".join(args), "" if hurt else
                                        " (the zeroed segment unread)"),
              read and first[4] and first[:3] == dref and
              (rc, out, notes) == dref and
              (rc == 2 and "py-heap: " in notes if hurt else
               rc == 0 and notes == ""),
              (rc, read, first[3:], notes[-200:]))
    # the index's file gone: nothing to key by, computed
    for f in cache_files(xdg):
        os.unlink(f)
    rc, out, notes, read, written = run_raw(core, a)
    check("outputs' cache: the index's file removed: not read, computed",
          not read and (rc, out, notes) == ref,
          (rc, read, written, notes[-300:], ref[2][-300:]))


def cache_files(xdg):
    return files_of(xdg, "index-")


def set_format(path, fmt):
    import struct
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<I", fmt))


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x10]))


def seal_mask(path):
    """The sections (by bit) the seal of a cache file says were summed
    whole (heapcache.c's struct hc_seal: 96 bytes, the mask at 8), or
    None if there is none."""
    import struct
    sp = os.path.join(os.path.dirname(path), "sealed-" +
                      os.path.basename(path))
    try:
        with open(sp, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return struct.unpack_from("<I", data, 8)[0] if len(data) == 96 else -1


def flip_keep_mtime(path, offset, bit=0x10):
    """A bit flipped, the file's mtime put back (its ctime moves: only
    the kernel sets it)."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ bit]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def graph_section(path, k):
    """Where graph section k starts, and its length (graphcache.c)."""
    import struct
    with open(path, "rb") as f:
        data = f.read(GC_HEAD)
    sec = list(struct.unpack_from("<10Q", data, GC_SIZES))
    off = GC_HEAD
    for b in sec[:k]:
        off += (b + 7) // 8 * 8
    return off, sec[k]


def forge_seal(path):
    """path's seal made again for the file as it is now: what only bit rot
    does (the data changed under a seal that still names the file), which
    no write through the file system can (it moves the ctime)."""
    import struct
    sp = os.path.join(os.path.dirname(path), "sealed-" +
                      os.path.basename(path))
    with open(sp, "rb") as f:
        old = f.read()
    head = struct.unpack_from("<4I2Q", old, 0)
    st = os.stat(path)
    body = struct.pack("<4I2Q3Q4q", *head, st.st_dev, st.st_ino, st.st_size,
                       st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9,
                       st.st_ctime_ns // 10**9, st.st_ctime_ns % 10**9)
    with open(sp, "wb") as f:
        f.write(body + struct.pack("<Q", file_sum(body)))


def sealed_graph_damaged(core, xdg, addr, k, referents=False):
    """A graph file written and sealed (the referrers' arrays and the
    tree; with referents, theirs too), then its section k damaged under a
    forged seal: every number past the objects, or (an offsets' section,
    0 or 2) every row's offsets going back. Its seal mask before."""
    import struct
    for f in os.listdir(os.path.join(xdg, "py-heap")):
        if f.startswith(("index-", "graph-", "sealed-")):
            os.unlink(os.path.join(xdg, "py-heap", f))
    info(core)
    graph_stages(core, addr)            # the graph written
    time.sleep(2.2)
    info(core)                          # the index sealed
    graph_stages(core, addr)            # the referrers' arrays sealed
    run(core, "path", addr)             # the tree sealed
    if referents:
        drop_answer("cycles")           # so that cycles reads the graph
        run(core, "cycles")             # the referents' arrays sealed
        # what graph needs beside the graph (the dominator tree) kept
        run(core, "graph", addr, "--output", os.path.join(xdg, "g.dot"))
    gf = graph_files(xdg)[0]
    m = seal_mask(gf)
    with open(gf, "rb") as f:
        data = bytearray(f.read())
    n = struct.unpack_from("<Q", data, 24)[0]
    off, ln = graph_section(gf, k)
    if k not in (0, 2):
        struct.pack_into("<%dI" % (ln // 4), data, off,
                         *([n + 5] * (ln // 4)))
    else:
        vals = struct.unpack_from("<%dI" % (ln // 4), data, off)
        top = max(vals)
        struct.pack_into("<%dI" % (ln // 4), data, off,
                         *[top - v for v in vals])
    with open(gf, "wb") as f:
        f.write(data)
    forge_seal(gf)
    return m


def rows_checks(core, xdg, addr, ref):
    """referrers and path on a sealed graph read the rows they need and
    check each (PH_GRAPH_REV_ROWS, PH_GRAPH_PARENT_ROWS), not the arrays
    whole: a sealed graph whose referrers or tree are damaged (every
    referrer or parent past the objects, every row's offsets going back)
    makes no read go astray; a command that checks them whole finds it
    and builds the graph again."""
    rc, want_all, err = run(core, "path", addr, "--all", "3", cache=False)
    if isinstance(want_all, dict):
        want_all.pop("notes", None)
    for what, k, cmd in (("referrers past the objects", 3, "referrers"),
                         ("rows' offsets going back", 2, "referrers"),
                         ("parents past the objects", 4, "path")):
        m = sealed_graph_damaged(core, xdg, addr, k)
        rc, out, err = run(core, cmd, addr, timing=True)
        check("rows: a sealed graph's %s (its seal forged): %s answers, "
              "read by rows, the graph not built" % (what, cmd),
              rc == 0 and isinstance(out, dict) and m is not None and
              m & 0x1c == 0x1c and "graph cache read" in err and
              "graph: edges" not in err, (rc, m, err[-300:]))
        rc, out, err = run(core, "path", addr, "--all", "3", timing=True)
        if isinstance(out, dict):
            out.pop("notes", None)
        check("rows: %s: path --all, which checks them whole, finds it: "
              "built again, the same answer" % what,
              rc == 0 and "graph: edges" in err and out == want_all,
              (rc, err[-300:]))
        out, read, built, written = graph_stages(core, addr)
        check("rows: %s: then referrers on the graph built again: the "
              "same answer" % what, out == ref["referrers"][1],
              (read, built, written))


def graph_rows_checks(core, xdg, addr):
    """graph on a sealed graph reads the rows it draws and checks each
    (PH_GRAPH_FWD_ROWS, PH_GRAPH_REV_ROWS, PH_GRAPH_PARENT_ROWS), not the
    arrays whole: a sealed graph whose referents, referrers or tree are
    damaged makes no read go astray, and the graph is not built; a command
    that checks them whole (cycles computing the referents, path --all the
    rest)
    finds it and builds it again, and graph then draws as before."""
    dot = os.path.join(xdg, "g.dot")
    rc, want, err = run(core, "graph", addr, "--output", dot, cache=False)
    with open(dot) as f:
        want_dot = f.read()
    for what, k, finder in (
            ("referents past the objects", 1, ["cycles"]),
            ("referents' offsets going back", 0, ["cycles"]),
            ("referrers past the objects", 3, ["path", addr, "--all", "3"]),
            ("parents past the objects", 4, ["path", addr, "--all", "3"])):
        m = sealed_graph_damaged(core, xdg, addr, k, referents=True)
        rc, out, err = run(core, "graph", addr, "--output", dot, timing=True)
        check("graph rows: a sealed graph's %s (its seal forged): graph "
              "draws, read by rows, the graph not built" % what,
              rc == 0 and isinstance(out, dict) and m is not None and
              m & 0x1f == 0x1f and "graph cache read" in err and
              "graph: edges" not in err, (rc, m, err[-300:]))
        if finder[0] == "cycles":
            drop_answer("cycles")       # so that cycles reads the graph
        rc, out, err = run(core, *finder, timing=True)
        check("graph rows: %s: %s, which checks them whole, finds it: "
              "built again" % (what, finder[0]),
              rc == 0 and "graph: edges" in err, (rc, err[-300:]))
        rc, out, err = run(core, "graph", addr, "--output", dot)
        with open(dot) as f:
            got_dot = f.read()
        check("graph rows: %s: then graph on the graph built again: the "
              "same drawing" % what, rc == 0 and got_dot == want_dot,
              (rc, err[-300:]))


def dom_rows_checks(core, xdg, addr):
    """show, retained and refcount on a sealed cache read the few entries
    they need (the dominator tree's positions through ph_domtree_pos, the
    graph's rows), not the arrays whole: a sealed dominator tree whose
    every position is past the objects makes no read go astray; a command
    that checks the tree whole (dominators) finds it and builds it again."""
    import struct
    want = {c: run(core, c, addr, cache=False)[:2]
            for c in ("show", "retained", "refcount")}
    want["dominators"] = run(core, "dominators", cache=False)[:2]
    for k in want:
        if isinstance(want[k][1], dict):
            want[k][1].pop("notes", None)
    d = os.path.join(xdg, "py-heap")
    for f in os.listdir(d):
        if f.startswith(("index-", "graph-", "ans-", "sealed-")):
            os.unlink(os.path.join(d, f))

    def got(cmd, *args):
        rc, out, err = run(core, cmd, *args, timing=True)
        if isinstance(out, dict):
            out.pop("notes", None)
        return rc, out, err

    got("show", addr)                       # index, graph, tree written
    time.sleep(2.2)
    for c in ("show", "retained", "refcount", "show"):
        got(c, addr)                        # summed whole, sealed
    df = [os.path.join(d, f) for f in os.listdir(d)
          if f.startswith("ans-dom-")]
    check("dom rows: the dominator tree's file sealed once summed whole",
          len(df) == 1 and seal_mask(df[0]) == 0xf,   # its four sections
          [(f, seal_mask(f)) for f in df])
    if len(df) != 1:
        return
    for c in ("show", "retained", "refcount"):
        rc, out, err = got(c, addr)
        check("dom rows: %s on sealed files: the answer uncached, nothing "
              "built" % c, (rc, out) == want[c] and
              "graph: edges" not in err and
              "dominators cache written" not in err,
              (rc, err[-300:]))
    # a damaged row under a forged seal: found where read, the tree read
    # again checked whole, built again, the same answers
    for what in ("every position past the objects",
                 "every subtree's count zero"):
        with open(df[0], "rb") as f:
            data = bytearray(f.read())
        head = struct.unpack_from("<I", data, 8)[0]
        n = struct.unpack_from("<Q", data, 48)[0]
        if what.startswith("every position"):
            data[head:head + 4 * n] = b"\xf0\xff\xff\xff" * n
        else:
            at = head + (4 * n + 7) // 8 * 8
            data[at:at + 4 * n] = bytes(4 * n)
        with open(df[0], "r+b") as f:
            f.write(data)
        forge_seal(df[0])
        rc, out, err = got("show", addr)
        check("dom rows: %s (its seal forged): show finds its row damaged, "
              "builds the tree again, the same answer" % what,
              (rc, out) == want["show"] and
              "dominators cache: a row damaged" in err and
              "dominators cache written" in err, (rc, err[-300:]))
        for c in ("retained", "show", "dominators"):
            rc, out, err = got(c, *(() if c == "dominators" else (addr,)))
            check("dom rows: then %s on the tree built again: the same "
                  "answer, read" % c, (rc, out) == want[c] and
                  "dominators cache read" in err and
                  "a row damaged" not in err and
                  "dominators cache written" not in err, (rc, err[-300:]))
        df = [os.path.join(d, f) for f in os.listdir(d)
              if f.startswith("ans-dom-")]
        if len(df) != 1:
            return
    # retained, graph, dominators (its list) and leaks (its suspects kept)
    # find it too
    for c in ("retained", "graph", "dominators", "leaks"):
        a = () if c in ("dominators", "leaks") else (addr,)
        if c == "leaks":
            got(c)                          # its suspects written
        want_c = want[c] if c in want else run(core, c, *a,
                                              cache=False)[:2]
        if isinstance(want_c[1], dict):
            want_c[1].pop("notes", None)
        with open(df[0], "rb") as f:
            data = bytearray(f.read())
        head = struct.unpack_from("<I", data, 8)[0]
        n = struct.unpack_from("<Q", data, 48)[0]
        data[head:head + 4 * n] = b"\xf0\xff\xff\xff" * n
        with open(df[0], "r+b") as f:
            f.write(data)
        forge_seal(df[0])
        rc, out, err = got(c, *a)
        check("dom rows: every position past the objects (its seal "
              "forged): %s finds a row damaged, the same answer" % c,
              (rc, out) == want_c and
              "dominators cache: a row damaged" in err and
              "dominators cache written" in err, (rc, err[-300:]))
        df = [os.path.join(d, f) for f in os.listdir(d)
              if f.startswith("ans-dom-")]
        if len(df) != 1:
            return


def dom_top_checks(core, xdg):
    """dominators' list without a filter is read from the largest
    retainers' file (ans-domtop-*), each row it gives checked against the
    tree: the same answer as uncached for limits and --min-bytes within it
    and past it. A file whose rows the tree does not give (two swapped, an
    object past the objects), its seal forged, is not used: the answer is
    the same and the file written again."""
    import struct
    d = os.path.join(xdg, "py-heap")
    cases = [(), ("--limit", "3"), ("--limit", "5000"),
             ("--min-bytes", "100000"), ("--min-bytes", "1")]

    def answer(*args, cache=True):
        rc, out, err = run(core, "dominators", *args, cache=cache,
                           timing=True)
        if isinstance(out, dict):
            out.pop("notes", None)
        return (rc, out), err
    want = {c: answer(*c, cache=False)[0] for c in cases}
    for f in os.listdir(d):
        if f.startswith("ans-domtop-"):
            os.unlink(os.path.join(d, f))
    answer()                                # written
    tf = [os.path.join(d, f) for f in os.listdir(d)
          if f.startswith("ans-domtop-")]
    check("dom top: the largest retainers' file written by dominators",
          len(tf) == 1, os.listdir(d))
    if len(tf) != 1:
        return
    time.sleep(2.2)
    for c in cases:
        got, err = answer(*c)
        check("dom top: dominators %s: the answer uncached" % " ".join(c),
              got == want[c], err[-300:])
    for c in cases[:2]:
        got, err = answer(*c)
        check("dom top: dominators %s: read from the file" % " ".join(c),
              "dominators' largest read" in err, err[-300:])
    check("dom top: its file sealed once summed whole",
          seal_mask(tf[0]) is not None, seal_mask(tf[0]))
    with open(tf[0], "rb") as f:
        orig = f.read()
    head = struct.unpack_from("<I", orig, 8)[0]
    ntop = struct.unpack_from("<Q", orig, 56)[0]
    for what in ("its first two rows swapped", "an object past the objects"):
        if what.startswith("its first") and ntop < 2:
            continue
        data = bytearray(orig)
        if what.startswith("its first"):
            data[head:head + 16] = orig[head + 8:head + 16] + \
                orig[head:head + 8]
        else:
            struct.pack_into("<I", data, head + 4, 0xfffffff0)
        with open(tf[0], "r+b") as f:
            f.write(data)
        forge_seal(tf[0])
        got, err = answer()
        with open(tf[0], "rb") as f:
            now = f.read()
        check("dom top: %s (its seal forged): not used, the same answer, "
              "the file written again" % what,
              got == want[()] and now == orig and
              "largest read" not in err, err[-300:])
        got, err = answer()
        check("dom top: then read from the file written again",
              got == want[()] and "dominators' largest read" in err,
              err[-300:])


def seal_checks(core, xdg, addr, ref):
    """A file 2 s old that a run summed whole is sealed: later runs check
    what memory safety needs and not its sums. Any write moves its ctime,
    and the file is summed again."""
    for f in os.listdir(os.path.join(xdg, "py-heap")):
        if f.startswith(("index-", "graph-", "sealed-")):
            os.unlink(os.path.join(xdg, "py-heap", f))
    info(core)                              # written
    graph_stages(core, addr)                # the graph written
    cf, gf = cache_files(xdg)[0], graph_files(xdg)[0]
    rc, inf, err = info(core)
    check("seal: a file younger than 2 s: summed, not sealed",
          inf.get("index_cache") == "read" and
          inf.get("index_cache_sealed") is False and
          seal_mask(cf) is None, (inf.get("index_cache_sealed"),
                                  seal_mask(cf)))
    time.sleep(2.2)
    rc, inf, err = info(core)
    check("seal: 2 s old, summed whole and intact: sealed for later runs",
          inf.get("index_cache") == "read" and
          inf.get("index_cache_sealed") is False and
          seal_mask(cf) == 0x1fff, (inf.get("index_cache_sealed"),
                                   seal_mask(cf)))
    out, read, built, written = graph_stages(core, addr)
    m = seal_mask(gf)
    check("seal: the graph's sections referrers summed (the referrers' "
          "arrays, roots, maps), sealed; not the referents'",
          read and not built and m is not None and m & 0x3ec == 0x3ec and
          not m & 0x3, (read, built, m))
    rc, inf, err = info(core)
    check("seal: then read with the seal, its sums not read",
          rc == 0 and inf.get("index_cache") == "read" and
          inf.get("index_cache_sealed") is True, inf.get("index_cache_sealed"))
    got = answers(core, addr)
    bad = [k for k in ref if got[k] != ref[k]]
    check("seal: answers read with seals as uncached", not bad, bad)
    graph_stages(core, addr, "cycles")      # computed: the referents read
    check("seal: every graph section once summed, sealed",
          seal_mask(gf) == 0x3ff, seal_mask(gf))
    # a write after the seal: summed again, the damage found
    # (the low bit of a referrer's number: still an object's, which only
    # the sums can tell)
    off, ln = graph_section(gf, 3)
    flip_keep_mtime(gf, off + (ln // 2 & ~3), 1)
    out, read, built, written = graph_stages(core, addr)
    check("seal: a bit of a sealed graph's referrers flipped, its mtime "
          "put back: summed, ignored, built again, the same answer",
          not read and built and written and out == ref["referrers"][1],
          (read, built, written))
    size = os.path.getsize(cf)
    flip_keep_mtime(cf, size // 2)
    rc, out, err = run(core, "types")
    notes = [x.get("code") for x in (out or {}).get("notes", [])]
    if isinstance(out, dict):
        out.pop("notes", None)
    check("seal: a byte of a sealed index flipped, its mtime put back: "
          "summed, ignored with a note, the same answer",
          rc == 0 and "index-cache-ignored" in notes and
          out == ref["types"][1], (rc, notes, err[-300:]))
    # a seal of another file, or damaged: not believed
    sp = os.path.join(os.path.dirname(cf), "sealed-" + os.path.basename(cf))
    with open(sp, "rb") as f:
        old = f.read()
    time.sleep(2.2)
    rc, inf, err = info(core)               # the new file sealed
    rc, inf, err = info(core)
    ok = inf.get("index_cache_sealed") is True
    with open(sp, "wb") as f:
        f.write(old)
    rc, inf, err = info(core)
    check("seal: the seal of the file it replaced: not believed, summed",
          ok and inf.get("index_cache") == "read" and
          inf.get("index_cache_sealed") is False, (ok, inf))
    rc, inf, err = info(core)               # sealed again
    flip(sp, 40)
    rc, inf, err = info(core)
    check("seal: a seal with a byte flipped: not believed, summed",
          inf.get("index_cache") == "read" and
          inf.get("index_cache_sealed") is False, inf.get("index_cache_sealed"))
    sealed_index_damaged(core, xdg, addr, ref)


def sealed_index_damaged(core, xdg, addr, ref):
    """A sealed index's pools are indexed by their addresses alone and its
    others' map used as it is (heapcache.c): damage only bit rot makes (a
    forged seal) neither crashes nor hangs a run. Others' slots with no
    empty one are refused (a search would not end); pools' records past
    the table give lookups of no object (the graph built from them: fewer
    edges)."""
    import struct
    cf = cache_files(xdg)[0]

    def sealed_again():
        time.sleep(2.2)
        info(core)
        rc, inf, err = info(core)
        return inf.get("index_cache_sealed") is True

    def damage(k, fn):
        with open(cf, "rb") as f:
            data = bytearray(f.read())
        off, ln = index_section(data, k)
        fn(data, off, ln)
        with open(cf, "r+b") as f:
            f.write(data)
        forge_seal(cf)

    def fill_slots(data, off, ln):
        for i in range(ln // 4):
            if not struct.unpack_from("<I", data, off + 4 * i)[0]:
                struct.pack_into("<I", data, off + 4 * i, 1 + i)

    ok = sealed_again()
    with open(cf, "rb") as f:
        has_map = index_section(f.read(), OTHERS_SEC)[1] > 0
    if has_map:
        damage(OTHERS_SEC, fill_slots)
        try:
            rc, out, err = run(core, "types", timing=True)
        except subprocess.TimeoutExpired:
            rc, out, err = None, None, "timed out"
        notes = [x.get("code") for x in (out or {}).get("notes", [])]
        if isinstance(out, dict):
            out.pop("notes", None)
        check("sealed index: its others' slots all used, the seal forged: "
              "refused with a note, the same answer",
              ok and rc == 0 and "index-cache-ignored" in notes and
              "others' slots" in err and out == ref["types"][1],
              (ok, rc, notes, err[-300:]))

    def pools_past(data, off, ln):
        rs = ln // struct.unpack_from("<Q", data, 128)[0]   # npools
        for at in range(off, off + ln, rs):     # each record's first,
            struct.pack_into("<I", data, at + 16, 0xfffffff0)
            struct.pack_into("<I", data, at + 8, 0)     # block size,
            a = struct.unpack_from("<Q", data, at)[0]   # and address
            struct.pack_into("<Q", data, at, a + (1 << 40))

    ok = sealed_again()
    with open(cf, "rb") as f:
        npools = index_section(f.read(), POOLS_SEC)[1]
    if npools:
        damage(POOLS_SEC, pools_past)
        for f in os.listdir(os.path.join(xdg, "py-heap")):
            # the graph and the answers (whose key, the index's header,
            # rot does not change) built again from the pools
            if f.startswith(("graph-", "sealed-graph-", "ans-",
                             "sealed-ans-")):
                os.unlink(os.path.join(xdg, "py-heap", f))
        got, crashed = {}, None
        for args in (["show", addr], ["referrers", addr], ["types"],
                     ["path", addr], ["cycles"], ["summary"]):
            try:
                got[args[0]] = run(core, *args)[0]
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                crashed = str(e)[-600:]
        check("sealed index: every pool's first object past the table, "
              "its block size 0 and its record's address moved, the seal "
              "forged: lookups find no object "
              "there, summary counts no pool, no crash (%s)"
              % got, ok and crashed is None and
              all(v is not None and v >= 0 for v in got.values()) and
              got.get("types") == 0 and
              got.get("cycles") == 0 and got.get("summary") == 0, crashed)
        # (and the answers made from them: the index written again has
        # the same header)
        for f in os.listdir(os.path.join(xdg, "py-heap")):
            if f.startswith(("index-", "graph-", "sealed-", "ans-")):
                os.unlink(os.path.join(xdg, "py-heap", f))
        rc, inf, err = info(core)
        check("sealed index: then written again",
              inf.get("index_cache") == "written", inf.get("index_cache"))


def main():
    global BIN, INTERP, ENV
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cores-dir", required=True)
    ap.add_argument("--python", default=PYTHON)
    args = ap.parse_args()
    BIN = os.path.abspath(args.bin)
    INTERP = Interp(args.python)
    outdir = os.path.join(os.path.abspath(args.cores_dir), INTERP.tag,
                          "cache")
    src = INTERP.take_core("heap_basic.py", outdir,
                           need=("ready", "truth.json"))
    with open(os.path.join(outdir, "truth.json")) as f:
        truth = json.load(f)
    print("cache_checks: %s (%s)" % (INTERP.spec, INTERP.version))
    tmp = tempfile.mkdtemp(prefix="pyheap-cache-")
    try:
        xdg = os.path.join(tmp, "xdg")
        # every file written by a child, whatever its size, as the index
        # and graph of a large heap are (settle() waits for it)
        ENV = dict(os.environ, XDG_CACHE_HOME=xdg, LC_ALL="C",
                   PYHEAP_NO_OUTPUT_CACHE="1", PYHEAP_DETACH_WRITES="all")
        ENV.pop("PYHEAP_CACHE_DIR", None)
        ENV.pop("PYHEAP_NO_CACHE", None)
        ENV.pop("PYHEAP_PLAIN", None)
        core = os.path.join(tmp, "core")
        copy_core(src, core)
        checks(core, xdg, truth, tmp)
        detach_checks(src, tmp)
        # the outputs' cache, on a fresh directory and copy
        xdg = os.path.join(tmp, "xdg-out")
        ENV = dict(ENV, XDG_CACHE_HOME=xdg)
        ENV.pop("PYHEAP_NO_OUTPUT_CACHE")
        core = os.path.join(tmp, "core-out")
        copy_core(src, core)
        output_checks(core, xdg)
        diff_cache_checks(os.path.abspath(args.cores_dir), tmp)
        dwarf_checks(core, tmp)
        if tuple(int(x) for x in INTERP.version.split(".")[:2]) >= (3, 9):
            sub_checks(os.path.abspath(args.cores_dir), tmp)
        else:
            print("SKIP subinterpreters: 3.9+ (3.8's one GC state)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


def detach_checks(src, tmp):
    """The index written by a child of the run (PYHEAP_DETACH_WRITES=all:
    at any size; the py-heap command does so for files of 4 MiB and
    more): the same bytes as a run writes itself, its lock gone once it
    is in place, and a later look that finds a writer at work waits for
    it, then reads its file."""
    global ENV
    saved = ENV
    core = os.path.join(tmp, "core-detach")
    copy_core(src, core)
    try:
        got = {}
        # (one directory: the file's key names where it is)
        xdg = os.path.join(tmp, "xdg-detach")
        for mode in ("0", "all"):
            shutil.rmtree(xdg, ignore_errors=True)
            ENV = dict(saved, XDG_CACHE_HOME=xdg, PYHEAP_DETACH_WRITES=mode)
            rc, out, err = run(core, "types")       # (settle()d)
            got[mode] = [(os.path.basename(f), open(f, "rb").read())
                         for f in files_of(xdg, "index-")]
            d = os.path.join(xdg, "py-heap")
            locks = [f for f in os.listdir(d) if f.startswith("lock-")]
            check("detached writes (%s): no lock left once written" % mode,
                  rc == 0 and not locks, (rc, locks))
        check("detached writes: the index file the same, byte for byte, "
              "as one the run writes itself",
              len(got["0"]) == 1 and got["0"] == got["all"],
              [(n, len(b)) for n, b in got["0"] + got["all"]])
        if not got["all"]:
            return
        # a writer at work: its lock held (here, by this test) while a
        # later look starts
        lock = os.path.join(xdg, "py-heap", "lock-" + got["all"][0][0])
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            p = subprocess.Popen(
                [BIN, "--core", core] + INTERP.py_heap_args() +
                ["--json", "info"], stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
                env=dict(ENV, PYHEAP_TIMING="1",
                         PYHEAP_PROGRESS_AFTER="0.2"))
            time.sleep(1.0)
            waited = p.poll() is None
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        out, err = p.communicate(timeout=300)
        try:
            inf = json.loads(out)
        except ValueError:
            inf = {}
        check("detached writes: a later look waits for the writer, then "
              "reads its file", waited and p.returncode == 0 and
              inf.get("index_cache") == "read",
              (waited, p.returncode, inf.get("index_cache"), err[-300:]))
        check("detached writes: the wait said (progress, its stage)",
              "progress: waiting for another py-heap to write" in err and
              "waited for another py-heap's write" in err, err[-600:])
    finally:
        ENV = saved


def dwarf_checks_for(minor):
    """How many fields layout_fields.h checks against DWARF in 3.minor."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                        "..", "native", "src", "layout_fields.h")
    n = 0
    for line in open(path):
        m = re.match(r'\s*X\((?:[^,]*,){3}\s*"[^"]*",\s*"[^"]*",\s*'
                     r'"[^"]*",\s*\d+,\s*"([^"]*)",\s*(\d+),\s*(\d+)\)',
                     line)
        if m and m.group(1) and int(m.group(2)) <= minor <= int(m.group(3)):
            n += 1
    return n


def debug_info_compressed(path):
    """Is the ELF64 file's .debug_info compressed (SHF_COMPRESSED)?"""
    return bool(sections(path).get(".debug_info", (0, 0, 0))[2] & 0x800)


def dwarf_checks(core, tmp):
    """The DWARF check on a machine that has not cached its outcome: the
    sections it reads inflated into an image of their own (Debian's -dbg
    files compress them) give the layout libdw gives on the whole file
    (PYHEAP_DWARF_IMAGE=0), byte for byte in the layout's cache file,
    whether libdeflate inflates them whole or zlib a part at a time
    (PYHEAP_LIBDEFLATE=0); and every field the tables check in this
    version is checked (the check once went through each field's type, and
    left the integers out)."""
    got = {}
    for mode in ("1", "0", "zlib"):
        xdg = os.path.join(tmp, "xdg-dwarf-" + mode)
        env = dict(ENV, XDG_CACHE_HOME=xdg,
                   PYHEAP_DWARF_IMAGE="0" if mode == "0" else "1",
                   PYHEAP_LIBDEFLATE="0" if mode == "zlib" else "1",
                   PYHEAP_TIMING="1")
        r = subprocess.run([BIN, "--core", core] + INTERP.py_heap_args() +
                           ["--no-cache", "--json", "info"],
                           capture_output=True, text=True, env=env,
                           timeout=300)
        for sign in CRASH_SIGNS:
            if sign in r.stderr:
                raise RuntimeError(r.stderr[-2000:])
        out = json.loads(r.stdout) if r.returncode == 0 else {}
        layout = [f for f in files_of(xdg, "layout-")]
        data = open(layout[0], "rb").read() if len(layout) == 1 else None
        got[mode] = (r.returncode, out.get("layout_source"), data,
                     "DWARF check (sections inflated)" in r.stderr)
    (rc1, src1, data1, inflated), (rc0, src0, data0, _) = got["1"], got["0"]
    rcz, srcz, dataz, inflated_z = got["zlib"]
    checked = bool(src0) and "checked against DWARF" in src0
    check("DWARF image: exit 0 every way", rc1 == 0 and rc0 == 0 and
          rcz == 0, (rc1, rc0, rcz))
    check("DWARF image: the same layout source (%s)" % src0,
          src1 == src0 and srcz == src0, (src1, srcz, src0))
    check("DWARF image: the same outcome cached, byte for byte (libdeflate,"
          " zlib, libdw)", data1 == data0 and dataz == data0 and
          (data0 is not None or not checked),
          (data1 is None, dataz is None, data0 is None))
    want = dwarf_checks_for(INTERP.version_info[1])
    if checked:
        check("DWARF: every field the tables check is checked (%d)" % want,
              ("%d fields checked" % want) in src0, src0)
        # The tables are each build's (pyenv's, ours, Debian's) but for
        # Debian's 3.13.5, whose GC generations start 4 bytes before
        # pyenv's 3.13.0 (PyGC_Head's alignment): a field corrected
        # anywhere else is a table, or a debug build's shift, gone wrong.
        debian313 = (INTERP.python.startswith("/usr/bin/") and
                     INTERP.version_info[:2] == (3, 13))
        check("DWARF: %s" % ("the GC generations corrected (Debian's 3.13)"
                             if debian313 else "no field corrected"),
              ("some corrected" in src0) == debian313, src0)
    # Debian's -dbg files compress their DWARF (debhelper); a debug build's
    # own, builds of ours and pyenv's keep it uncompressed, read in place
    where = out.get("debug_file") or out.get("runtime_in")
    compressed = bool(where) and debug_info_compressed(where)
    check("DWARF image: %s" % ("compressed sections inflated" if compressed
                               else "read in place"),
          inflated == (compressed and checked) and
          inflated_z == inflated,
          (inflated, inflated_z, where, compressed, checked))


def checks(core, xdg, truth, tmp):
    # without the cache: the reference answers
    rc, inf, err = info(core, cache=False)
    check("--no-cache: info says off", rc == 0 and
          inf.get("index_cache") == "off", inf.get("index_cache"))
    check("--no-cache: no file written", not cache_files(xdg),
          cache_files(xdg))
    rc, t, err = run(core, "types", cache=False)
    user = [n for n in truth["created"]]
    some = next(n for n in user if truth["types"].get(n, {}).get("count"))
    rc, lst, err = run(core, "list", some, "--limit", "1",
                       cache=False)
    objs = (lst or {}).get("objects") or []
    addr = objs[0]["address"] if objs else "0x0"
    ref = answers(core, addr, cache=False)

    # reuse
    rc, inf, err = info(core)
    check("first run: the cache written", rc == 0 and
          inf.get("index_cache") == "written", (inf.get("index_cache"), err))
    files = cache_files(xdg)
    check("first run: one cache file", len(files) == 1, files)
    if not files:
        return
    cf = files[0]
    mode = stat.S_IMODE(os.stat(os.path.dirname(cf)).st_mode)
    check("the cache directory is private (0700)", mode == 0o700, oct(mode))
    n = inf.get("objects") or 1
    size = os.path.getsize(cf)
    check("at most 24 bytes per object (%.1f)" % (size / n),
          size <= 24 * n, "%d bytes, %d objects" % (size, n))
    rc, inf2, err = info(core)
    check("second run: the cache read", rc == 0 and
          inf2.get("index_cache") == "read", (inf2.get("index_cache"), err))
    rc, out, err = run(core, "types", timing=True)
    # (a free-threaded build's scan: of mimalloc's blocks)
    check("second run: its stage instead of the scan",
          "index cache read" in err and "pool blocks" not in err and
          "mimalloc blocks" not in err, err[-600:])
    got = answers(core, addr)
    for k in ref:
        check("cached answers as uncached: %s" % k, got[k] == ref[k],
              "differ")
    # the graph: written by the first graph command on the cached index,
    # then read by the others instead of built (their answers just above)
    gfiles = graph_files(xdg)
    check("graph cache: one file written", len(gfiles) == 1, gfiles)
    out2, read, built, written = graph_stages(core, addr)
    check("graph cache: read, the graph not built again",
          read and not built and out2 == ref["referrers"][1],
          (read, built))
    if gfiles:
        gf = gfiles[0]
        gsize = os.path.getsize(gf)
        # the plants are in the referents' sections, which referrers
        # does not read: cycles, which reads them, finds them
        for what, damage, cmd in (
                ("a byte of its edges flipped",
                 lambda: flip(gf, gsize // 2), "referrers"),
                ("a byte of its header flipped", lambda: flip(gf, 20),
                 "referrers"),
                ("cut short", lambda: os.truncate(gf, gsize // 2),
                 "referrers"),
                ("an edge past the objects, its sums made again",
                 lambda: graph_plant(gf, "edge"), "cycles"),
                ("an offset going back, its sums made again",
                 lambda: graph_plant(gf, "offset"), "cycles")):
            damage()
            out2, read, built, written = graph_stages(core, addr, cmd)
            check("graph cache %s: ignored, built again, rewritten, the "
                  "same answer (%s)" % (what, cmd),
                  not read and built and written and
                  out2 == ref[cmd][1], (read, built, written))
            out2, read, built, written = graph_stages(core, addr, cmd)
            check("graph cache %s: then read" % what, read and not built,
                  (read, built))
    answer_checks(core, xdg, addr, ref)
    cycles_kept_checks(core, xdg)
    list_rows_checks(core, xdg)
    seal_checks(core, xdg, addr, ref)
    rows_checks(core, xdg, addr, ref)
    graph_rows_checks(core, xdg, addr)
    dom_rows_checks(core, xdg, addr)
    dom_top_checks(core, xdg)
    counts = {r["type"]: r["count"] for r in (out or {}).get("types", [])}
    bad = [(c, counts.get(c), truth["created"][c]) for c in user
           if counts.get(c) != truth["types"].get(c, {}).get("count")]
    check("cached types: every user class as the process counted",
          not bad, bad[:5])

    # --no-cache leaves it alone
    before = os.stat(cf).st_mtime_ns
    rc, inf, err = info(core, cache=False)
    check("--no-cache: off, the file untouched",
          inf.get("index_cache") == "off" and
          os.stat(cf).st_mtime_ns == before, inf.get("index_cache"))

    # staleness
    os.utime(core, None)
    rc, inf, err = info(core)
    check("core touched: stale, rewritten", rc == 0 and
          inf.get("index_cache") == "written" and
          inf.get("index_cache_ignored", "").startswith("stale") and
          not inf.get("notes"), (inf.get("index_cache"),
                                 inf.get("index_cache_ignored"),
                                 inf.get("notes")))
    rc, inf, err = info(core)
    check("core touched: then read", inf.get("index_cache") == "read",
          inf.get("index_cache"))
    out2, read, built, written = graph_stages(core, addr)
    check("core touched: the graph of the old index not read, rewritten",
          not read and built and written and out2 == ref["referrers"][1],
          (read, built, written))
    copy_core(core, core + ".new")
    os.rename(core + ".new", core)
    rc, inf, err = info(core)
    check("core replaced: stale, rewritten", rc == 0 and
          inf.get("index_cache") == "written" and
          inf.get("index_cache_ignored", "").startswith("stale"),
          (inf.get("index_cache"), inf.get("index_cache_ignored")))

    # damage
    size = os.path.getsize(cf)
    for what, damage in (
            ("a byte of its table flipped", lambda: flip(cf, size // 2)),
            ("a byte of its end flipped", lambda: flip(cf, size - 3)),
            ("a byte of its header flipped", lambda: flip(cf, 40)),
            ("cut short", lambda: os.truncate(cf, size // 2)),
            ("zeros", lambda: open(cf, "wb").write(bytes(size))),
            # (format 3 kept no free-threaded or subinterpreter tables)
            ("of format 3", lambda: set_format(cf, 3)),
            # checked in the same pass as the section's sum
            ("a type number out of range, its sums made again",
             lambda: plant_tidx(cf)),
            # a type's record: checked on every read, sealed or not
            ("a type's kind out of range, its sums made again",
             lambda: plant_type(cf, 64, "<I", 0xffff)),
            ("a type's name past its section, its sums made again",
             lambda: plant_type(cf, 96, "<Q", 1 << 40)),
            # format 8's sections: each checked against the table when
            # not sealed
            ("a pool's address moved in the pools' addresses, its sums "
             "made again", lambda: plant_index(cf, PADDR_SEC, 0, 1 << 14)),
            ("an object's number moved in the others' slots, its sums made "
             "again", lambda: plant_other(cf, 1)),
            ("an object added to the others' slots, its sums made again",
             lambda: plant_other(cf, 0)),
            # checked in the same pass as the section's sum (every reader
            # of a header takes an object's address to be one)
            ("an object's address not a multiple of 8, its sums made again",
             lambda: plant_index(cf, ADDR_SEC, 8 * 100, 4))):
        info(core)          # a good file first
        if damage() is False:
            continue        # (no such section: no pools, no others)
        rc, out, err = run(core, "types")
        notes = [x.get("code") for x in (out or {}).get("notes", [])]
        if isinstance(out, dict):
            out.pop("notes", None)
        check("cache %s: ignored with a note, the same answer" % what,
              rc == 0 and "index-cache-ignored" in notes and
              "index cache" in err and out == ref["types"][1],
              (rc, notes, err[-300:]))
        rc, inf, err = info(core)
        check("cache %s: then rewritten and read" % what,
              inf.get("index_cache") == "read", inf.get("index_cache"))
    victim = os.path.join(tmp, "victim")
    with open(victim, "w") as f:
        f.write("secret")
    os.unlink(cf)
    os.symlink(victim, cf)
    rc, inf, err = info(core)
    check("a planted link: not read, replaced, never written through",
          rc == 0 and inf.get("index_cache") == "written" and
          open(victim).read() == "secret" and not os.path.islink(cf),
          (inf.get("index_cache"), os.path.islink(cf)))
    os.chmod(os.path.dirname(cf), 0o777)
    rc, inf, err = info(core)
    check("a directory others may write: not used",
          rc == 0 and inf.get("index_cache") == "off",
          inf.get("index_cache"))
    os.chmod(os.path.dirname(cf), 0o700)

    # bounds
    for i in range(10):
        c = os.path.join(tmp, "core-%d" % i)
        os.link(core, c)
        info(c)
    files = cache_files(xdg)
    check("ten cores: at most 8 cache files (%d)" % len(files),
          len(files) <= 8, files)


HEAD = 648          # sizeof(struct hc_head), format 8
SEC_BYTES, SEC_SUM, NSEC = 432, 536, 13
INTERP_SEC, POOLS_SEC, PADDR_SEC, OTHERS_SEC = 10, 1, 11, 12
ADDR_SEC = 2


def index_section(data, k):
    """Where index section k starts (each at a multiple of 8 bytes after
    the header, format 8), and its length."""
    import struct
    sec = list(struct.unpack_from("<%dQ" % NSEC, data, SEC_BYTES))
    return HEAD + sum((b + 7) // 8 * 8 for b in sec[:k]), sec[k]


def resum_index(data, k):
    """Index section k's sum and the header's made again."""
    import struct
    off, ln = index_section(data, k)
    struct.pack_into("<Q", data, SEC_SUM + 8 * k,
                     file_sum(bytes(data[off:off + ln])))
    struct.pack_into("<Q", data, HEAD - 8, file_sum(bytes(data[:HEAD - 8])))


def plant_interp(path, value):
    """The last object's interpreter set to value (one the reader must
    refuse), the section's and the header's sums made again."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    off, ln = index_section(data, INTERP_SEC)
    data[off + ln - 1] = value
    resum_index(data, INTERP_SEC)
    with open(path, "wb") as f:
        f.write(data)


def plant_tidx(path):
    """The middle object's type number set past the types (what the
    reader must refuse before indexing with it), the section's and the
    header's sums made again."""
    import struct
    with open(path, "rb") as f:
        data = bytearray(f.read())
    off, ln = index_section(data, 4)    # tidx[], 4 bytes an object
    struct.pack_into("<I", data, off + 4 * (ln // 8), 0xfffffff0)
    resum_index(data, 4)
    with open(path, "wb") as f:
        f.write(data)


def plant_index(path, k, at, add):
    """The 8-byte word at byte at of index section k given add, the sums
    made again; False when the section is shorter."""
    import struct
    with open(path, "rb") as f:
        data = bytearray(f.read())
    off, ln = index_section(data, k)
    if ln < at + 8:
        return False
    v = struct.unpack_from("<Q", data, off + at)[0]
    struct.pack_into("<Q", data, off + at, (v + add) % (1 << 64))
    resum_index(data, k)
    with open(path, "wb") as f:
        f.write(data)


def plant_other(path, which):
    """The others' slots (index section 12: 1 + an object's number, or 0)
    damaged, the sums made again: which 1, the first used slot's number
    one more; 0, an empty slot given the first object's (an object that is
    no other, or there twice)."""
    import struct
    with open(path, "rb") as f:
        data = bytearray(f.read())
    off, ln = index_section(data, OTHERS_SEC)
    if not ln:
        return False
    slots = struct.unpack_from("<%dI" % (ln // 4), data, off)
    for i, v in enumerate(slots):
        if (v != 0) == bool(which):
            struct.pack_into("<I", data, off + 4 * i, v + 1 if v else 1)
            break
    resum_index(data, OTHERS_SEC)
    with open(path, "wb") as f:
        f.write(data)


TYPE_REC = 128       # struct hc_type (format 6): kind at 64, name_off at 96


def plant_type(path, field, fmt, value):
    """The first type's record given value at field (what the reader must
    refuse before using it), the section's and the header's sums made
    again."""
    import struct
    with open(path, "rb") as f:
        data = bytearray(f.read())
    off, ln = index_section(data, 0)    # the types' records
    struct.pack_into(fmt, data, off + field, value)
    resum_index(data, 0)
    with open(path, "wb") as f:
        f.write(data)


def sub_batch(core, cmds, cache=True, timing=False):
    path = core + ".batch"
    with open(path, "w") as f:
        f.write("\n".join(cmds) + "\n")
    env = dict(ENV)
    if timing:
        env["PYHEAP_TIMING"] = "1"
    r = subprocess.run([BIN, "--core", core, "--json"] +
                       INTERP.py_heap_args() +
                       ([] if cache else ["--no-cache"]) +
                       ["--batch", path], capture_output=True, text=True,
                       env=env, timeout=600, stdin=subprocess.DEVNULL)
    settle(env)
    for sign in CRASH_SIGNS:
        if sign in r.stderr:
            raise RuntimeError("%s: %s" % (core, r.stderr[-2000:]))
    dec, outs, rest = json.JSONDecoder(), [], r.stdout.strip()
    while rest:
        d, end = dec.raw_decode(rest)
        outs.append(d)
        rest = rest[end:].strip()
    for o in outs:       # (what says where the answer came from)
        for k in ("index_cache", "index_cache_ignored", "layout_cached"):
            o.pop(k, None)
    return r.returncode, outs, r.stderr


def sub_checks(cores_dir, tmp):
    outdir = os.path.join(cores_dir, "subinterp-%s-2" % INTERP.tag)
    try:
        src = INTERP.take_core("heap_subinterp.py", outdir, "2",
                               need=("ready", "truth.json"))
    except Exception as e:
        check("subinterpreters: a core of heap_subinterp.py 2", False, e)
        return
    main = json.load(open(os.path.join(outdir, "truth.json")))
    truths = {e["id"]: json.load(open(os.path.join(outdir, e["truth"])))
              for e in main["interpreters"]}
    core = os.path.join(tmp, "subcore")
    copy_core(src, core)
    cmds = ["types --limit 0"]
    for k in sorted(truths):
        m = "0x%x" % truths[k]["marker"]["id"]
        cmds += ["types --limit 0 --interp %d" % k,
                 "list str --limit 0 --interp %d" % k,
                 "summary --interp %d" % k,
                 "refcheck --limit 0 --interp %d" % k,
                 "cycles --limit 0 --interp %d" % k,
                 "dominators --limit 20 --interp %d" % k,
                 "leaks --limit 0 --min-share 1 --interp %d" % k,
                 "referrers %s" % m, "show %s --limit 1" % m,
                 "path %s" % m]
    label = "subinterpreters (%d)" % len(truths)
    rc0, ref, err0 = sub_batch(core, cmds, cache=False)
    check("%s: --no-cache: one answer a command" % label,
          rc0 == 0 and len(ref) == len(cmds), (rc0, len(ref), err0[-300:]))
    rc, inf, err = info(core)
    check("%s: first run: the cache written" % label,
          inf.get("index_cache") == "written", (inf.get("index_cache"), err))
    files = [f for f in cache_files(xdg_of()) if os.path.getmtime(f) >=
             os.path.getmtime(core)]
    n = inf.get("objects") or 1
    size = max([os.path.getsize(f) for f in files] or [0])
    check("%s: at most 24 bytes per object (%.1f)" % (label, size / n),
          0 < size <= 24 * n, "%d bytes, %d objects" % (size, n))
    rc1, got1, err1 = sub_batch(core, cmds, timing=True)
    rc2, got2, err2 = sub_batch(core, cmds, timing=True)
    check("%s: read, not scanned; the graph's cache read" % label,
          "index cache read" in err2 and "blocks" not in err2 and
          "graph cache read" in err2, err2[-600:])
    for i, c in enumerate(cmds):
        a = ref[i] if i < len(ref) else None
        check("%s: %s: cached as uncached" % (label, c),
              got1[i:i + 1] == [a] and got2[i:i + 1] == [a], "differ")
    by = dict(zip(cmds, got2))
    for k in sorted(truths):
        tk = by.get("types --limit 0 --interp %d" % k) or {}
        got = {e["type"]: (e["count"], e["bytes"]) for e in tk.get("types", [])
               if e["type"].startswith("__main__.")}
        want = {t: (v["count"], v["bytes"])
                for t, v in truths[k]["types"].items()
                if t.startswith("__main__.")}
        check("%s: cached: interp %d's user classes as it counted them" % (
            label, k), got == want and want, (got, want))
    cf = files[0] if files else None
    if not cf:
        return
    size = os.path.getsize(cf)
    for what, damage, why in (
            ("an interpreter out of range, its sums made again",
             lambda: plant_interp(cf, len(truths)), "an interpreter"),
            ("a byte of its interpreters flipped",
             lambda: flip(cf, size - 9), "section")):
        info(core)
        damage()
        rc, out, err = run(core, "types", "--limit", "0", "--interp", "1")
        notes = [x.get("code") for x in (out or {}).get("notes", [])]
        if isinstance(out, dict):
            out.pop("notes", None)
        check("%s: cache %s: ignored with a note, the same answer" % (
            label, what), rc == 0 and "index-cache-ignored" in notes and
            why in err and out == {k: v for k, v in by[
                "types --limit 0 --interp 1"].items()
                if k not in ("command", "notes")}, (rc, notes, err[-300:]))
        rc, inf, err = info(core)
        check("%s: cache %s: then rewritten and read" % (label, what),
              inf.get("index_cache") == "read", inf.get("index_cache"))


def stage_count(err, name):
    """How many times PYHEAP_TIMING printed the stage name"""
    return sum(1 for line in err.splitlines()
               if line.startswith("py-heap: ") and
               line[9:].rsplit(None, 2)[0] == name)


def diff_cache_checks(cores_dir, tmp):
    """A diff's caches: every object's fingerprint (ans-fp-HASH, both
    sides) and the after side's graph without its referrers, which a later
    diff reads instead of every object's contents and the edges, and a
    later referrers completes."""
    src = os.path.join(cores_dir, "heap_growth-" + INTERP.tag)
    if not all(os.path.exists(os.path.join(src, c))
               for c in ("core1", "core2")):
        print("SKIP diff's caches: no cores of diff_checks.py in " + src)
        return
    d = os.path.join(tmp, "diff")
    os.makedirs(d)
    core1, core2 = os.path.join(d, "core1"), os.path.join(d, "core2")
    copy_core(os.path.join(src, "core1"), core1)
    copy_core(os.path.join(src, "core2"), core2)
    global ENV
    saved = ENV
    xdg = os.path.join(tmp, "xdg-diff")
    # (its answer read whole from the outputs' cache would read nothing
    # else: diff_output_runs, below)
    ENV = dict(ENV, XDG_CACHE_HOME=xdg, PYHEAP_NO_OUTPUT_CACHE="1")
    try:
        diff_cache_runs(core1, core2, xdg)
        ENV = dict(saved, XDG_CACHE_HOME=os.path.join(tmp, "xdg-diff-out"))
        diff_output_runs(core1, core2, d)
    finally:
        ENV = saved


def diff_output_runs(core1, core2, d):
    """A diff's output kept as printed, under BEFORE's identity too (its
    core's index, or a snapshot file's header and sums): read back byte for
    byte by the same diff; never for a BEFORE changed since, or another.
    Its result kept likewise, rendered again for other options of the
    output (--limit, --json, --plain)."""
    def staged(b):
        """b's stdout, and its stderr with PYHEAP_TIMING's stages"""
        return run_timed(core2, b)[1:]

    def got_stages(b):
        return staged(b)[1]

    def same(a, what):
        ref = run_raw(core2, a, cache=False)[:3]
        rc, out, notes, read, written = run_raw(core2, a)
        check("diff's output, %s: %s: computed, written, as uncached"
              % (what, " ".join(a[:-1] + ["BEFORE"])),
              rc == 0 and (rc, out, notes) == ref and written and
              not read, (rc, read, written, notes[-300:]))
        rc, out, notes, read, written = run_raw(core2, a)
        check("diff's output, %s: %s: read, byte for byte" % (
            what, " ".join(a[:-1] + ["BEFORE"])),
            (rc, out, notes) == ref and read and not written,
            (rc, read, written))
        return ref

    same(["diff", core1], "a core")
    a = ["--json", "diff", core1]
    # other options of the output: the result kept, rendered again
    for b in (a, a[:-1] + ["--limit", "1", core1],
              ["diff", "--limit", "2", core1], ["--plain", "diff", core1]):
        what = " ".join(b[:-1] + ["BEFORE"])
        ref = run_raw(core2, b, cache=False)[1]
        out, st = staged(b)
        check("diff's output: %s: not the output of diff BEFORE; its "
              "result read, its output kept, as uncached" % what,
              "output cache read" not in st and
              "diff result cache read" in st and
              "output cache written" in st and out == ref, st[-300:])
        out, st = staged(b)
        check("diff's output: %s: then its output read" % what,
              "output cache read" in st and out == ref, st[-300:])
    # options of the result: another result
    b = a[:-1] + ["--containers", "1", core1]
    ref = run_raw(core2, b, cache=False)[:3]
    st = got_stages(b)
    check("diff's output: --containers 1: not the result of diff BEFORE, "
          "computed", "diff result cache read" not in st and
          "diff result cache written" in st and
          run_raw(core2, b)[:3] == ref, st[-300:])
    # a damaged result: never trusted, computed and kept again (each run
    # with a --limit of its own: no output of it kept before)
    limit = iter(range(3, 100))
    for what, kind in (("more rows than its bytes hold", "diff-rows"),
                       ("its strings not ended", "diff-strings")):
        for f in out_files(xdg_of()):
            with open(f, "rb") as fh:
                if b"py-heap diff result" in fh.read():
                    answer_plant(f, kind)
        b = ["diff", "--limit", str(next(limit)), core1]
        st = got_stages(b)
        check("diff's result, %s, its sums made again: refused, computed, "
              "kept again" % what, "diff result cache read" not in st and
              "diff result cache written" in st, st[-300:])
        b = ["diff", "--limit", str(next(limit)), core1]
        ref = run_raw(core2, b, cache=False)[:3]
        st = got_stages(b)
        check("diff's result, %s: then read, as uncached" % what,
              "diff result cache read" in st and
              run_raw(core2, b)[:3] == ref, st[-300:])
    # BEFORE changed since (its mtime: its index made again), then
    # another core at its path: computed again, not read
    os.utime(core1, ns=(time.time_ns(), time.time_ns()))
    ref = run_raw(core2, a, cache=False)[:3]
    rc, out, notes, read, written = run_raw(core2, a)
    check("diff's output: BEFORE touched: computed again, not read, as "
          "uncached", not read and written and (rc, out, notes) == ref,
          (rc, read, written))
    other = os.path.join(d, "other")
    copy_core(core2, other)
    os.rename(other, core1)
    ref = run_raw(core2, a, cache=False)[:3]
    rc, out, notes, read, written = run_raw(core2, a)
    check("diff's output: another core at BEFORE's path: computed, not "
          "read, as uncached", rc == 0 and not read and
          (rc, out, notes) == ref, (rc, read, written))
    rc, out, notes, read, written = run_raw(core2, a, cache=False)
    check("diff's output: --no-cache: neither read nor written",
          not read and not written, (read, written))
    # a snapshot file as BEFORE
    snap = os.path.join(d, "before.snap")
    run(core2, "snapshot", "--output", snap, cache=False)
    a = ["--json", "diff", snap]
    same(a, "a snapshot")
    flip_keep_mtime(snap, os.path.getsize(snap) - 8)
    rc, out, notes, read, written = run_raw(core2, a)
    check("diff's output: a byte of the snapshot's last section flipped, "
          "its mtime put back: not read, the file refused",
          rc != 0 and not read and not written and "damaged" in notes,
          (rc, read, written, notes[-300:]))
    run(core1, "snapshot", "--output", snap, cache=False)
    ref = run_raw(core2, a, cache=False)[:3]
    rc, out, notes, read, written = run_raw(core2, a)
    check("diff's output: another snapshot at its path: computed, not "
          "read, as uncached", rc == 0 and not read and written and
          (rc, out, notes) == ref, (rc, read, written))
    os.unlink(snap)
    rc, out, notes, read, written = run_raw(core2, a)
    check("diff's output: BEFORE gone: its error, nothing read",
          rc != 0 and not read and not written, (rc, read, written))


def diff_cache_runs(core1, core2, xdg):
    def diff(cache=True):
        rc, out, err = run(core2, "diff", core1, cache=cache, timing=True)
        if isinstance(out, dict):
            out.pop("notes", None)
        return rc, out, err

    rc, ref, err = diff(cache=False)
    core_files = files_of(xdg, "index-") + files_of(xdg, "graph-") + files_of(xdg, "ans-")
    check("diff --no-cache: an answer, no file of the cores written",
          rc == 0 and ref and not core_files, (rc, core_files, err[-300:]))
    run(core1, "info")
    run(core2, "info")             # both indexes cached, as a second look
    rc, out, err = diff()
    check("diff, the first on cached cores: every object's fingerprint "
          "made and kept, for both", rc == 0 and out == ref and
          stage_count(err, "fingerprints") == 2 and
          stage_count(err, "fingerprints cache written") == 2 and
          len(files_of(xdg, "ans-fp-")) == 2, (rc, out == ref, err[-600:]))
    check("diff, the first: the after side's graph built, kept without "
          "its referrers", "graph: edges" in err and
          "graph: referrers" not in err and
          stage_count(err, "graph cache written") == 1 and
          len(files_of(xdg, "graph-")) == 1, err[-600:])
    rc, out, err = diff()
    check("diff, the second: the fingerprints read, not made; the graph "
          "mapped, not built; the same answer", rc == 0 and out == ref and
          stage_count(err, "fingerprints cache read") == 2 and
          stage_count(err, "fingerprints") == 0 and
          "graph cache mapped" in err and "graph: edges" not in err and
          "graph cache written" not in err, (rc, out == ref, err[-600:]))
    # damage: a byte of one fingerprint file's numbers, then of the
    # graph's edges: found by their sums, made again, the same answer
    fp = files_of(xdg, "ans-fp-")[0]
    flip(fp, AC_HEAD + 8 * 1000)
    rc, out, err = diff()
    check("diff, a fingerprints' file with a byte flipped: that side's "
          "made again and rewritten, the same answer", rc == 0 and
          out == ref and stage_count(err, "fingerprints") == 1 and
          stage_count(err, "fingerprints cache read") == 1 and
          stage_count(err, "fingerprints cache written") == 1,
          (rc, out == ref, err[-600:]))
    g = files_of(xdg, "graph-")[0]
    off, length = graph_section(g, 1)
    flip(g, off + length // 2)
    rc, out, err = diff()
    check("diff, its graph's edges with a byte flipped: built again "
          "(whole), rewritten, the same answer", rc == 0 and out == ref and
          "graph: edges" in err and "graph cache written" in err,
          (rc, out == ref, err[-600:]))
    rc, out, err = diff()
    check("diff, then: both read", rc == 0 and out == ref and
          stage_count(err, "fingerprints cache read") == 2 and
          "graph: edges" not in err, (rc, out == ref, err[-600:]))
    # a graph kept without referrers, completed by referrers
    for f in files_of(xdg, "graph-"):
        os.unlink(f)
    diff()
    size0 = os.path.getsize(files_of(xdg, "graph-")[0])
    rc, lst, err = run(core2, "list", "list", "--limit", "1", cache=False)
    objs = (lst or {}).get("objects") or []
    addr = objs[0]["address"] if objs else "0x0"
    # roots and path read no referrers: the graph as it is, unchanged
    for args in (["path", addr], ["roots", "--limit", "5"]):
        rc0, want, err = run(core2, *args, cache=False)
        rc, got, err = run(core2, *args, timing=True)
        for o in (want, got):
            if isinstance(o, dict):
                o.pop("notes", None)
        check("%s on a diff's graph: mapped as it is, no referrers built, "
              "nothing written, the same answer" % args[0],
              rc == rc0 == 0 and got == want and
              "graph cache mapped" in err and "graph:" not in err and
              "graph cache written" not in err and
              os.path.getsize(files_of(xdg, "graph-")[0]) == size0,
              (rc, got == want, err[-600:]))
    rc0, want, err = run(core2, "referrers", addr, cache=False)
    rc, got, err = run(core2, "referrers", addr, timing=True)
    for o in (want, got):
        if isinstance(o, dict):
            o.pop("notes", None)
    check("referrers on a diff's graph: its edges and paths read, the "
          "referrers built on them, the whole graph written, the same "
          "answer", rc == rc0 == 0 and got == want and
          "graph cache mapped" in err and "graph: edges" not in err and
          "graph: paths" not in err and "graph: referrers" in err and
          "graph cache written" in err and
          os.path.getsize(files_of(xdg, "graph-")[0]) > size0,
          (rc, got == want, err[-600:]))
    rc, got, err = run(core2, "referrers", addr, timing=True)
    if isinstance(got, dict):
        got.pop("notes", None)
    check("referrers, then: the whole graph read", rc == 0 and got == want
          and "graph cache read" in err and "graph:" not in err,
          (rc, err[-600:]))
    rc, out, err = diff()
    check("diff on the whole graph: read, the same answer", rc == 0 and
          out == ref and "graph: edges" not in err and
          "graph cache written" not in err, (rc, out == ref, err[-600:]))
    # a snapshot reads the kept fingerprints: the file as without them
    s0, s1 = os.path.join(xdg, "s0.snap"), os.path.join(xdg, "s1.snap")
    run(core1, "snapshot", "--output", s0, cache=False)
    rc, out, err = run(core1, "snapshot", "--output", s1, timing=True)
    check("snapshot on kept fingerprints: read, the same file",
          rc == 0 and "fingerprints cache read" in err and
          open(s0, "rb").read() == open(s1, "rb").read(), err[-600:])


def xdg_of():
    return ENV["XDG_CACHE_HOME"]


if __name__ == "__main__":
    sys.exit(main())
