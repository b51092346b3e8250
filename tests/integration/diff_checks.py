#!/usr/bin/env python3
"""Truth tests of diff and snapshot (issue 18).

Runs fixtures/heap_growth.py, which stops twice; at each stop it writes
what it measured about itself (every user type's count and
sys.getsizeof() sum, id() of its containers, how many new objects took an
old one's address), and its core is taken with gcore. Between the stops it
grows CACHE by 2,000 Sessions, takes 700 Items out of REGISTRY, makes a new
class, and replaces 1,000 Tokens and 1,000 Reused in their own blocks.
Checked against that truth:

  * diff of the two cores: every user type's count and bytes, before,
    after and the change, exactly; the objects new and freed of each; the
    container that gained the Sessions named by its address (CACHE) and
    path; addresses reused by new objects counted as freed and new;
  * snapshot: ≤ 16 bytes per object; a diff against the snapshot file is
    the diff against the core; two snapshot files diffed without --core;
  * a second run of the fixture: a type-level diff only, and said so;
  * live (not with --no-live): a snapshot of the process at the first stop,
    `--pid diff` at the second against it and against the first core,
    `--pid diff --interval` across the growth (each pause noted, the second
    reading after the growth), and Ctrl-C during the wait (py-heap dies by
    SIGINT, the process runs on, untraced);
  * GDB (--gdb): `py-heap diff FILE` on the second core equals the CLI's,
    `py-heap snapshot FILE` writes one, FILE completes;
  * files that are neither: refused, exit 2.

    python3 tests/integration/diff_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY] [--gdb] [--no-live]

Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import argparse
import calendar
import json
import math
import os
import shlex
import signal
import stat
import struct
import subprocess
import sys
import threading
import time

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = os.environ.get("PYHEAP_TEST_PYTHON", "/usr/bin/python3.11")
FIXTURE = os.path.join(ROOT, "fixtures", "heap_growth.py")
CRASH_SIGNS = ("ERROR: AddressSanitizer", "runtime error:",
               "ERROR: LeakSanitizer", "Segmentation fault", "==ERROR",
               "Invalid read", "Invalid write")
results = {"passed": 0, "failed": 0}
INTERP = None
BIN = None


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    sys.stdout.flush()


def run(args, expect=0, json_out=True, timeout=300):
    """py-heap with args; its JSON (or text), checked for its exit status
    and for sanitizer reports."""
    cmd = shlex.split(os.environ.get("PYHEAP_WRAPPER", "")) + [BIN] + \
        (["--json"] if json_out else []) + args
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    for bad in CRASH_SIGNS:
        if bad in r.stderr:
            raise RuntimeError("sanitizer/crash: " + r.stderr[-3000:])
    if r.returncode != expect:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), r.returncode,
                                                r.stderr.strip()[-800:]))
    return json.loads(r.stdout) if json_out and r.stdout.strip() else r.stdout


def core_args(core):
    return ["--core", core] + INTERP.py_heap_args()


def wait_file(path, proc, what, timeout=120):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("the fixture did not reach %s" % what)
        time.sleep(0.02)


def gcore(pid, core):
    r = subprocess.run(["gcore", "-o", core, str(pid)], capture_output=True,
                       text=True, timeout=300, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, DEBUGINFOD_URLS=""))
    if r.returncode or not os.path.exists("%s.%d" % (core, pid)):
        raise RuntimeError("gcore %d: %s" % (pid, (r.stdout + r.stderr)[-3000:]))
    os.replace("%s.%d" % (core, pid), core)
    INTERP.made_core(core)


def truth(where, k):
    with open(os.path.join(where, "truth%d.json" % k)) as f:
        return json.load(f)


def expect_rows(t1, t2):
    """The user types' rows a diff of stop 1 and stop 2 must show."""
    rows = {}
    for name in set(t1["types"]) | set(t2["types"]):
        b = t1["types"].get(name, {"count": 0, "bytes": 0})
        a = t2["types"].get(name, {"count": 0, "bytes": 0})
        rows[name] = (b["count"], a["count"], a["count"] - b["count"],
                      b["bytes"], a["bytes"], a["bytes"] - b["bytes"])
    return rows


def got_rows(d):
    return {r["type"]: (r["count_before"], r["count_after"],
                        r["count_delta"], r["bytes_before"], r["bytes_after"],
                        r["bytes_delta"])
            for r in d["types"] if r["type"].startswith("__main__.")}


def check_user_types(label, d, t1, t2):
    want, got = expect_rows(t1, t2), got_rows(d)
    # a user type that did not change is not listed
    want = {k: v for k, v in want.items() if v[2] or v[5] or k in got}
    bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    bad.update({k: (v, None) for k, v in got.items() if k not in want})
    check("%s: every user type's count and bytes, before, after, change" %
          label, not bad, bad)


def row(d, name):
    return ([r for r in d["types"] if r["type"] == name] or [None])[0]


def check_objects(label, d, t1, t2):
    """Object-level: the containers, the new and the freed."""
    check("%s: one process, matched by address" % label,
          d["same_process"] and not d["type_level_only"] and
          d["processes_differ"] is None and d["new_objects"] > 0, d["processes_differ"])
    s = [g for g in d["grew_in"] if g["type"] == "__main__.Session"]
    ok = s and s[0]["container"]["address"] == hex(t1["cache"]) and \
        s[0]["count_delta"] == 2000 and s[0]["bytes_delta"] == \
        t2["types"]["__main__.Session"]["bytes"] - \
        t1["types"]["__main__.Session"]["bytes"] and \
        s[0]["container"]["type"] == "dict" and \
        s[0]["container"]["path"] == "module __main__ ['CACHE']"
    check("%s: the Sessions grew in CACHE, by its address" % label, ok,
          s[:2])
    names = [g for g in d["grew_in"] if g["type"] == "str"]
    check("%s: their strs too (the nearest container that was there)" %
          label, names and names[0]["container"]["address"] ==
          hex(t1["cache"]) and names[0]["count_delta"] >= 4000, names[:2])
    it = row(d, "__main__.Item")
    check("%s: the Items taken out are freed, none new" % label,
          it and it["freed"] == 700 and it["new"] == 0, it)
    nk = [r for r in d["types"] if r["type"].endswith("NewKind")]
    check("%s: the new type, all new" % label,
          nk and nk[0]["count_before"] == 0 and nk[0]["new"] == 50, nk)
    for name, what in (("__main__.Token", "contents"),
                       ("__main__.Reused", "GC generation")):
        r = row(d, name)
        reused = t2["reused"].get(name, 0)
        if what == "GC generation" and INTERP.free_threaded:
            # A free-threaded build has no generations: an object of the
            # same type in a reused block looks the same (a limitation).
            print("SKIP %s: %s in reused blocks told by GC generation: "
                  "free-threaded builds have none (py-heap: new %s)" %
                  (label, name, r and r["new"]))
            continue
        check("%s: %s in reused blocks (%d of 1,000) count as freed and "
              "new (told by %s)" % (label, name, reused, what),
              reused > 0 and r and r["new"] == 1000 and r["freed"] == 1000
              and r["count_delta"] == 0, r)
    check("%s: reused addresses counted" % label,
          d["reused_addresses"] >= sum(t2["reused"].values()),
          d["reused_addresses"])


def crc32c(data):
    c = 0xffffffff
    for x in data:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1
    return c ^ 0xffffffff


def varint(data, at):
    n = shift = 0
    while True:
        b = data[at]
        at += 1
        n |= (b & 0x7f) << shift
        shift += 7
        if b < 0x80:
            return n, at


def put_varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7f | 0x80])
        n >>= 7
    return out + bytes([n])


def as_format1(src, dst):
    """Rewrite a snapshot as py-heap 0.2's format 1 wrote it: major 1,
    fingerprint version 1, 16-bit fingerprints (the 32-bit ones folded),
    from the format's description in docs/design.md."""
    data = bytearray(open(src, "rb").read())
    nsec, tab = struct.unpack_from("<IQ", data, 24)[0], \
        struct.unpack_from("<Q", data, 32)[0]
    secs = []
    for k in range(nsec):
        sid, flags, off, ln, count, _ = struct.unpack_from(
            "<IIQQII", data, tab + 32 * k)
        body = bytes(data[off:off + ln])
        if sid == 1:                      # META: tag 14 becomes 1
            out, at = b"", 0
            while at < len(body):
                tag, at = varint(body, at)
                ln2, at = varint(body, at)
                val = body[at:at + ln2]
                at += ln2
                if tag == 14:
                    val = put_varint(1)
                out += put_varint(tag) + put_varint(len(val)) + val
            body = out
        elif sid == 7:                    # FP: 4 bytes each -> 2
            out = b""
            for (fp,) in struct.iter_unpack("<I", body):
                out += struct.pack("<H", (fp ^ fp >> 16) & 0xffff)
            body = out
        secs.append((sid, flags, count, body))
    off = 64 + 32 * len(secs)
    table, bodies = b"", b""
    for sid, flags, count, body in secs:
        pad = (-off) % 8
        bodies += b"\0" * pad
        off += pad
        table += struct.pack("<IIQQII", sid, flags, off, len(body), count,
                             crc32c(body))
        bodies += body
        off += len(body)
    bodies += b"\0" * ((-off) % 8)
    off += (-off) % 8
    head = bytearray(data[:64])
    struct.pack_into("<HHIQIIQ", head, 8, 1, 0, 64, off, len(secs), 0, 64)
    struct.pack_into("<I", head, 40, crc32c(table))
    struct.pack_into("<I", head, 60, crc32c(bytes(head[:60])))
    open(dst, "wb").write(bytes(head) + table + bodies)


def read_snapshot(path):
    """What diff matches objects by, from a current-format snapshot: per
    object its address, type index, generation and fingerprint (None
    where its type has none); the types' (name, address, kind, flags);
    the GC model."""
    data = open(path, "rb").read()
    nsec, tab = struct.unpack_from("<I", data, 24)[0], \
        struct.unpack_from("<Q", data, 32)[0]
    sec = {}
    for k in range(nsec):
        sid, _, off, ln, count, _ = struct.unpack_from("<IIQQII", data,
                                                       tab + 32 * k)
        sec[sid] = (data[off:off + ln], count)
    model, (body, _) = 0, sec[1]
    at = 0
    while at < len(body):
        tag, at = varint(body, at)
        ln, at = varint(body, at)
        if tag == 13:
            model = varint(body, at)[0]
        at += ln
    types, (body, count) = [], sec[2]
    at = 0
    for _ in range(count):
        ln, at = varint(body, at)
        name = body[at:at + ln].decode("utf-8", "replace")
        at += ln
        vals = []
        for _ in range(4):
            v, at = varint(body, at)
            vals.append(v)
        _, at = varint(body, at)
        types.append((name, vals[0], vals[1], vals[2]))
    objs, addr, at = [], 0, 0
    body, n = sec[3]
    for _ in range(n):
        v, at = varint(body, at)
        addr += v * 8
        objs.append([addr])
    body, at = sec[4][0], 0
    for o in objs:
        v, at = varint(body, at)
        o.append(v)
    body = sec[6][0]
    for i, o in enumerate(objs):
        o.append(body[i // 2] >> (4 * (i % 2)) & 15)
    fps = iter(struct.iter_unpack("<I", sec[7][0]))
    for o in objs:
        o.append(next(fps)[0] if types[o[1]][3] & 1 else None)
    return objs, types, model


def fold16(fp):
    return (fp ^ fp >> 16) & 0xffff


def fp16_collisions(path_b, path_a):
    """Per type name, how many objects at an address in both snapshots
    that diff tells apart only by their 32-bit fingerprints: with format
    1's 16-bit fold they are one object (an address reused by an object
    of the same type whose fingerprint's fold is the same, 1 in 65,536)."""
    ob, tb, model = read_snapshot(path_b)
    oa, ta, _ = read_snapshot(path_a)
    dict_kinds = {k for n, _, k, _ in tb + ta
                  if n in ("dict", "collections.OrderedDict")}
    after = {o[0]: o for o in oa}
    out = {}
    for addr, xb, gb, fb in ob:
        o = after.get(addr)
        if o is None or fb is None or o[3] is None:
            continue
        _, xa, ga, fa = o
        (nb, ab, kb, _), (na, aa, _, _) = tb[xb], ta[xa]
        if (nb, ab) != (na, aa) or fb == fa or fold16(fb) != fold16(fa):
            continue
        if kb in dict_kinds or not gb or not ga or gb > 3 or ga > 3:
            same = True
        elif model == 0:
            same = ga >= gb
        else:
            same = not (ga == 1 and gb > 1)
        if same:
            out[nb] = out.get(nb, 0) + 1
    return out


def as_format1_expected(ds, coll):
    """ds (a diff against a current-format snapshot) as format 1 counts
    it, given fp16_collisions: each such pair kept, not new and freed.
    What else a pair may move (new_unreachable, reused_addresses, how
    much grew in each container) is left out of the comparison."""
    k = sum(coll.values())
    out = dict(ds)
    for key, by in (("new_objects", -k), ("freed_objects", -k),
                    ("kept_objects", k)):
        out[key] = ds[key] + by
    out.pop("reused_addresses", None)
    rows = []
    for r in ds["types"]:
        r = dict(r)
        if r["type"] in coll:
            r["new"] -= coll[r["type"]]
            r["freed"] -= coll[r["type"]]
            r.pop("new_unreachable", None)
        rows.append(r)
    out["types"] = rows
    out["grew_in"] = grown_where(ds)
    return out


def grown_where(d):
    """The containers grown in, without how much: a pair kept holds its
    referents, which are then not new in a container either."""
    return [(g["type"], g["container"]) for g in d["grew_in"]]


def as_format1_seen(d0, coll):
    """d0 with what as_format1_expected leaves out taken out too."""
    out = dict(d0)
    out.pop("reused_addresses", None)
    out["types"] = [dict(r) for r in d0["types"]]
    for r in out["types"]:
        if r["type"] in coll:
            r.pop("new_unreachable", None)
    out["grew_in"] = grown_where(d0)
    return out


def grown_close(seen, exp, coll):
    """grown_where's lists of a format 1 diff (seen) and of the current
    format's as format 1 counts it (exp), where fp16_collisions found pairs
    (coll): a pair kept is a container its new referents grew in (in the
    current format, they grew in whatever holds the new object), so the
    rows whose container is of a colliding type are left out, and as many
    rows of exp, pushed past the list's end, may be missing from seen."""
    s = [x for x in seen if (x[1] or {}).get("type") not in coll]
    return (all(x in exp for x in s) and
            len([x for x in exp if x not in s]) <= len(seen) - len(s))


def same_but_sources(a, b):
    a = {k: v for k, v in a.items() if k not in ("before", "after", "notes")}
    b = {k: v for k, v in b.items() if k not in ("before", "after", "notes")}
    return a == b


def main():
    global INTERP, BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--python")
    ap.add_argument("--gdb", action="store_true")
    ap.add_argument("--no-live", action="store_true")
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    INTERP = Interp(a.python or PYTHON)
    live = not a.no_live
    out = os.path.join(os.path.abspath(a.cores_dir),
                       "heap_growth-" + INTERP.tag)
    for d in (out, out + "-other"):       # nothing of an earlier run
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
    core1, core2 = os.path.join(out, "core1"), os.path.join(out, "core2")
    other = os.path.join(out, "core-other")

    # ---- the run: two stops, cores and live readings at each -------------
    proc, where = INTERP.start(FIXTURE, out)
    interval = None
    try:
        wait_file(os.path.join(where, "ready1"), proc, "stop 1")
        pid = int(open(os.path.join(where, "ready1")).read())
        gcore(pid, core1)
        if live:
            snap = run(["--pid", str(pid), "snapshot", "--output",
                        os.path.join(out, "live1.snap")])
            check("live: snapshot at stop 1", snap["objects"] > 0 and
                  os.path.getsize(os.path.join(out, "live1.snap")) ==
                  snap["file_bytes"], snap)
            # --interval: the first reading, then the growth, then the
            # second reading
            # (long enough for the growth and its measure: about as long as
            # what came before stop 1, a fraction of a second quiet, several
            # seconds seen on a free-threaded build beside other tests)
            with open(os.path.join(where, "truth1.json")) as f:
                secs = json.load(f).get("seconds", 1)
            wait = max(12 if INTERP.free_threaded else 3,
                       min(30, math.ceil(3 * secs)))
            iv = subprocess.Popen([BIN, "--json", "--pid", str(pid), "diff",
                                   "--interval", str(wait)],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
            first = iv.stderr.readline()
            open(os.path.join(where, "go1"), "w").close()
            iv_out, iv_err = iv.communicate(timeout=300)
            iv_err = first + iv_err
            interval = (iv.returncode, iv_out, iv_err)
        else:
            open(os.path.join(where, "go1"), "w").close()
        wait_file(os.path.join(where, "ready2"), proc, "stop 2")
        ready2 = os.path.getmtime(os.path.join(where, "ready2"))
        gcore(pid, core2)
        if live:
            live_snap = run(["--pid", str(pid), "diff",
                             os.path.join(out, "live1.snap")])
            live_core = run(["--pid", str(pid), "diff", core1])
            # Ctrl-C while it waits: py-heap dies by SIGINT, the process
            # is left running, untraced
            c = subprocess.Popen([BIN, "--pid", str(pid), "diff",
                                  "--interval", "60"],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            c.stderr.readline()
            time.sleep(0.3)
            t0 = time.time()
            c.send_signal(signal.SIGINT)
            try:
                c.wait(timeout=10)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
            took = time.time() - t0
            status = open("/proc/%d/status" % pid).read()
            state = [l for l in status.splitlines()
                     if l.startswith(("State:", "TracerPid:"))]
            check("live: Ctrl-C in --interval's wait: dies by SIGINT at once, "
                  "the process runs on, untraced",
                  c.returncode == -signal.SIGINT and took < 5 and
                  "TracerPid:\t0" in state and
                  not any(s in state[0] for s in ("(stopped)", "(tracing")),
                  "%s, %.1f s, %s" % (c.returncode, took, state))
        open(os.path.join(where, "go2"), "w").close()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    t1, t2 = truth(where, 1), truth(where, 2)

    # ---- another run of the program: a type-level diff only --------------
    proc2, where2 = INTERP.start(FIXTURE, out + "-other")
    try:
        wait_file(os.path.join(where2, "ready1"), proc2, "stop 1")
        pid2 = int(open(os.path.join(where2, "ready1")).read())
        gcore(pid2, other)
        t_other = truth(where2, 1)
    finally:
        proc2.kill()
        proc2.wait()

    # ---- the cores ---------------------------------------------------------
    try:
        d = run(core_args(core2) + ["diff", core1])
        check_user_types("cores", d, t1, t2)
        check_objects("cores", d, t1, t2)
        check("cores: the rows add up to the totals",
              d["after"]["objects"] - d["before"]["objects"] ==
              sum(r["count_delta"] for r in d["types"]) and
              d["after"]["bytes"] - d["before"]["bytes"] ==
              sum(r["bytes_delta"] for r in d["types"]),
              (d["before"], d["after"]))
        text = run(core_args(core2) + ["diff", core1], json_out=False)
        check("cores: text names the accumulation point",
              "module __main__ ['CACHE'] (dict): +2,000 __main__.Session" in
              text and "objects matched by address" in text, text[-1500:])
    except Exception as e:
        check("cores", False, e)
        d = None

    # ---- snapshots -----------------------------------------------------------
    try:
        s1, s2 = os.path.join(out, "s1.snap"), os.path.join(out, "s2.snap")
        r1 = run(core_args(core1) + ["snapshot", "--output", s1])
        r2 = run(core_args(core2) + ["snapshot", s2])
        per = os.path.getsize(s2) / r2["objects"]
        check("snapshot: %.1f bytes per object (at most 16)" % per,
              per <= 16 and r1["file_bytes"] == os.path.getsize(s1), r2)
        ds = run(core_args(core2) + ["diff", s1])
        check("snapshot round trip: diff against the file == against the "
              "core", d is not None and same_but_sources(ds, d) and
              ds["before"]["kind"] == "snapshot", ds.get("types", [])[:3])
        dd = run(["diff", s1, s2])
        check_user_types("two snapshot files", dd, t1, t2)
        check("two snapshot files: the same rows, the same containers",
              d is not None and dd["types"] == d["types"] and
              [(g["type"], g["count_delta"], g["container"]["address"])
               for g in dd["grew_in"]] ==
              [(g["type"], g["count_delta"], g["container"]["address"])
               for g in d["grew_in"]] and
              all(x["container"]["path"] == y["container"]["path"] or
                  (x["container"]["path"] or "").endswith(" ...")
                  for x, y in zip(dd["grew_in"], d["grew_in"])),
              dd["grew_in"][:3])
        s0 = os.path.join(out, "s1-format1.snap")
        as_format1(s1, s0)
        d0 = run(core_args(core2) + ["diff", s0])
        coll = fp16_collisions(s1, s2)
        if coll:
            print("NOTE format 1: %s kept by 16-bit fingerprints, told "
                  "apart by 32-bit ones" % coll)
        exp = as_format1_expected(ds, coll) if coll else ds
        seen = as_format1_seen(d0, coll) if coll else d0
        if coll:
            same = (same_but_sources(dict(seen, grew_in=None),
                                     dict(exp, grew_in=None)) and
                    grown_close(seen["grew_in"], exp["grew_in"], coll))
        else:
            same = same_but_sources(seen, exp)
        check("a format 1 snapshot (16-bit fingerprints): read, and its "
              "diff == the current format's (but where 16 bits cannot "
              "tell a reused address's objects apart)", same,
              [(x, y) for x, y in zip(seen.get("types", []), exp["types"])
               if x != y][:3])
        # what is there and is not a file is written to, not replaced:
        # a pipe gets the file's bytes (root's rename would have put a
        # file in /dev/null's place)
        fifo = os.path.join(out, "snap.fifo")
        if os.path.exists(fifo):
            os.unlink(fifo)
        os.mkfifo(fifo)
        got = []
        reader = threading.Thread(
            target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
        reader.start()
        try:
            rf = run(core_args(core1) + ["snapshot", "--output", fifo])
        finally:
            if not got:  # (py-heap failed: the reader let go)
                open(fifo, "wb").close()
            reader.join(60)
        with open(s1, "rb") as f:
            want = f.read()
        check("snapshot --output PIPE: the file's bytes through it, the "
              "pipe left a pipe",
              got == [want] and stat.S_ISFIFO(os.stat(fifo).st_mode) and
              rf["file_bytes"] == len(want),
              (len(got[0]) if got else None, len(want)))
        rd = run(core_args(core1) + ["snapshot", "--output", out], expect=2)
        check("snapshot --output DIRECTORY: refused, said so",
              "is a directory" in rd.get("error", {}).get("message", ""),
              rd)
        t = run(["diff", s1, s2], json_out=False)
        check("two snapshot files: text",
              "module __main__ ['CACHE'] (dict): +2,000 __main__.Session"
              in t, t[-800:])
    except Exception as e:
        check("snapshots", False, e)

    # ---- two processes -------------------------------------------------------
    try:
        dp = run(core_args(core2) + ["diff", other])
        check("two processes: type-level only, said so",
              not dp["same_process"] and dp["type_level_only"] and
              "pid" in (dp["processes_differ"] or "") and
              dp["new_objects"] is None and dp["grew_in"] == [] and
              "new" not in (dp["types"] or [{}])[0], dp["processes_differ"])
        check_user_types("two processes", dp, t_other, t2)
        txt = run(core_args(core2) + ["diff", other], json_out=False)
        check("two processes: the text says so",
              "processes differ: type-level diff only" in txt, txt[:600])
    except Exception as e:
        check("two processes", False, e)

    # ---- live ----------------------------------------------------------------
    if live:
        try:
            check_user_types("live: --pid diff SNAPSHOT", live_snap, t1, t2)
            check_objects("live: --pid diff SNAPSHOT", live_snap, t1, t2)
            check_user_types("live: --pid diff CORE", live_core, t1, t2)
            check("live: --pid diff CORE: the Sessions' container",
                  [g["container"]["address"] for g in live_core["grew_in"]
                   if g["type"] == "__main__.Session"][:1] ==
                  [hex(t1["cache"])], live_core["grew_in"][:2])
            rc, o, e = interval
            di = json.loads(o) if rc == 0 else {}
            check("live: --interval: exit 0", rc == 0, e[-800:])
            pauses = [n for n in di.get("notes", []) if n["code"] == "paused"]
            check("live: --interval: both pauses noted",
                  len(pauses) == 2 and "second reading" in
                  pauses[1]["message"] and e.count("paused process") == 2,
                  di.get("notes"))
            after = di.get("after", {}).get("time")
            ts = calendar.timegm(time.strptime(after[:19],
                                               "%Y-%m-%dT%H:%M:%S")) + \
                float("0." + after[20:23]) if after else 0
            check("live: --interval: read again %d s later, after the "
                  "growth" % wait,
                  ts > ready2 and di["after"]["paused_ms"] > 0,
                  "%s, ready2 at %s" % (after, ready2))
            check_user_types("live: --interval", di, t1, t2)
            check_objects("live: --interval", di, t1, t2)
        except Exception as e:
            check("live", False, e)

    # ---- bad files -----------------------------------------------------------
    try:
        txt = os.path.join(out, "not-a-snapshot")
        with open(txt, "w") as f:
            f.write("hello\n")
        r = run(core_args(core2) + ["diff", txt], expect=2)
        check("a file that is neither: refused, its code",
              r["error"]["code"] == "bad-snapshot", r)
        cut = os.path.join(out, "cut.snap")
        with open(os.path.join(out, "s1.snap"), "rb") as f:
            data = f.read()
        with open(cut, "wb") as f:
            f.write(data[:len(data) // 3])
        r = run(core_args(core2) + ["diff", cut], expect=2)
        check("a cut snapshot: refused, said so",
              r["error"]["code"] == "bad-snapshot" and
              "truncated" in r["error"]["message"], r)
        r = run(["diff", os.path.join(out, "s1.snap")], expect=2)
        check("diff with one file and no process: a usage error",
              r["error"]["code"] == "usage", r)
        # a FIFO, a directory: refused at once (an open of a FIFO would
        # wait for a writer), the outputs' cache asked first
        fifo = os.path.join(out, "fifo")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        for what, path in (("a FIFO", fifo), ("a directory", out)):
            for args in (core_args(core2) + ["diff", path],
                         ["diff", path, os.path.join(out, "s1.snap")]):
                r = run(args, expect=2, timeout=30)
                check("diff of %s%s: refused at once, not a regular file"
                      % (what, "" if args[0] == "diff" else " (a core)"),
                      r["error"]["code"] == "bad-snapshot" and
                      "not a regular file" in r["error"]["message"], r)
    except Exception as e:
        check("bad files", False, e)

    # ---- GDB -----------------------------------------------------------------
    if a.gdb:
        try:
            g2 = os.path.join(out, "g2.snap")
            r = subprocess.run(
                ["gdb", "-batch", "-nx"] + INTERP.gdb_args() + [
                    "-ex", "source %s" % os.path.join(ROOT, "gdb/py-heap.py"),
                    "-ex", "py-heap diff %s --json" % core1,
                    "-ex", "py-heap snapshot %s" % g2,
                    "-ex", "complete py-heap diff %s" %
                    os.path.join(out, "core"),
                    INTERP.exe, core2], capture_output=True, text=True,
                timeout=300, env=dict(os.environ, DEBUGINFOD_URLS=""))
            lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
            gd = json.loads(lines[-1]) if lines else {}
            check("gdb: py-heap diff FILE == the CLI's",
                  d is not None and same_but_sources(gd, d), r.stderr[-800:])
            check("gdb: py-heap snapshot FILE",
                  os.path.exists(g2) and "saved" in r.stdout, r.stdout[-500:])
            comp = [l for l in r.stdout.splitlines()
                    if l.startswith("py-heap diff ")]
            check("gdb: FILE completes",
                  "py-heap diff %s" % core1 in comp and
                  "py-heap diff %s" % core2 in comp, comp)
        except Exception as e:
            check("gdb", False, e)

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
