#!/usr/bin/env python3
"""_Py_DebugOffsets from a damaged core (issue #19): the cookie and version
intact, the offsets and sizes wild. CPython checks only the cookie and the
version (readers crashed on corrupt offsets: gh-146266); py-heap checks
every entry it takes against its struct's declared size, and every size
against what any build has, before use.

On a real core of heap_basic.py, copies with the debug offsets at the start
of _PyRuntime overwritten:

  * huge: offsets of 2**63 and 2**40 (interpreter_state.next,
    list_object.ob_item, code_object.co_filename);
  * negative: -8 and -1 (pyobject.ob_type, thread_state.next);
  * overlapping: two offsets of one struct the same
    (interpreter_state.threads_head = .next, dict_object.ma_values =
    .ma_keys);
  * sizes: interpreter_state.size 2**64-1 (every offset in it unchecked),
    type_object.size 0, unicode_object.asciiobject_size 10**6;
  * random: every word of the struct after the cookie, version and
    free_threaded flag random (seeded).

On 3.13, each copy: `types`, `summary`, `cycles`, `refcheck`, `info` in one
session (--batch, text and --json) finish in time, with no sanitizer
report, exit 2 with the note `debug-offsets-damaged` naming an entry; and
`types --json` gives the very rows of the undamaged core (the table of the
version stands in for the entries out of bounds). On 3.14+ (whose offsets
py-heap does not take: its tables, checked by cookie and version) the same
copies answer as the undamaged core, exit 0.

    python3 tests/integration/debugoffsets_checks.py \\
        --bin build/san/bin/py-heap --cores-dir build/cores [--python PY]...

Without --python: the 3.13+ interpreters scripts/interpreters.sh finds.
A few seconds an interpreter once its core is taken. Prints PASS/FAIL lines
and ends with "N passed, N failed".
"""
import argparse
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interp import Interp  # noqa: E402
from damage_checks import file_offset, patch, q, segments  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
results = {"passed": 0, "failed": 0}
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                   "UndefinedBehaviorSanitizer")

# 3.13's _Py_DebugOffsets, byte offsets of the entries used here
# (Include/internal/pycore_runtime.h: a struct's size, then its offsets)
IS_SIZE, IS_NEXT, IS_THREADS_HEAD = 48, 64, 72
TS_NEXT = 168
CODE_FILENAME = 280
PYOBJ_OB_TYPE = 360
TYPE_SIZE = 368
LIST_OB_ITEM = 432
DICT_MA_KEYS, DICT_MA_VALUES = 456, 464
UNICODE_ASCII_SIZE = 560
END13 = 584


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, str(detail)[:1500])))
    sys.stdout.flush()
    return ok


def interpreters():
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "interpreters.sh")],
                         capture_output=True, text=True).stdout.split()
    return [s for s in out if re.search(r"python3\.(1[3-9])[td]*$", s)]


def variants(rt, words):
    """(name, writes) for each damaged copy; words: the undamaged struct's
    64-bit words, by byte offset."""
    w = lambda at, v: (rt + at, q(v))  # noqa: E731
    rnd = random.Random(19)
    return [
        ("huge", [w(IS_NEXT, 2**63), w(LIST_OB_ITEM, 2**40),
                  w(CODE_FILENAME, 2**32 + 8)]),
        ("negative", [w(PYOBJ_OB_TYPE, -8), w(TS_NEXT, -1)]),
        ("overlapping", [w(IS_THREADS_HEAD, words[IS_NEXT]),
                         w(DICT_MA_VALUES, words[DICT_MA_KEYS])]),
        ("sizes", [w(IS_SIZE, -1), w(TYPE_SIZE, 0),
                   w(UNICODE_ASCII_SIZE, 10**6)]),
        ("random", [w(at, rnd.choice([rnd.getrandbits(64),
                                      rnd.getrandbits(32),
                                      rnd.randrange(-64, 4096)]))
                    for at in range(24, END13, 8)]),
    ]


def run(binary, interp, core, args, env):
    return subprocess.run([binary, "--core", core] + interp.py_heap_args() +
                          list(args), capture_output=True, text=True,
                          timeout=120, env=env, stdin=subprocess.DEVNULL)


def rows(out):
    d = json.loads(out.splitlines()[0])
    return sorted((x["type"], x["count"], x["bytes"]) for x in d["types"])


def one(binary, spec, cores_dir, work):
    interp = Interp(spec)
    label = interp.tag
    if interp.version_info < (3, 13):
        print("SKIP %s: no _Py_DebugOffsets before 3.13" % label)
        return
    outdir = os.path.join(cores_dir, "heap_basic-%s" % interp.tag)
    core = interp.take_core("heap_basic.py", outdir,
                            need=("ready", "truth.json"))
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:" +
               os.environ.get("ASAN_OPTIONS", ""),
               UBSAN_OPTIONS="print_stacktrace=1")
    r = run(binary, interp, core, ["--json", "info"], env)
    check("%s: undamaged info, exit 0" % label, r.returncode == 0,
          r.stderr[-500:])
    rt = int(json.loads(r.stdout)["runtime_address"], 16)
    clean = run(binary, interp, core, ["--json", "types", "--limit", "0"],
                env)
    check("%s: undamaged types, exit 0" % label, clean.returncode == 0,
          clean.stderr[-500:])
    want = rows(clean.stdout)
    segs = segments(core)
    off = file_offset(segs, rt, END13)
    with open(core, "rb") as f:
        f.seek(off)
        raw = f.read(END13)
    check("%s: _PyRuntime starts with the cookie" % label,
          raw[:8] == b"xdebugpy", raw[:8])
    words = {at: struct.unpack_from("<Q", raw, at)[0]
             for at in range(0, END13, 8)}
    new = interp.version_info[:2] == (3, 13)
    batch = os.path.join(work, "do.batch")
    with open(batch, "w") as f:
        f.write("types --limit 5\nsummary\ncycles --limit 3\n"
                "refcheck --limit 3\ninfo\n")
    for name, writes in variants(rt, words):
        dst = os.path.join(work, "%s-%s.core" % (label, name))
        patch(core, dst, writes)
        case = "%s %s" % (label, name)
        for mode in ("text", "json"):
            try:
                r = run(binary, interp, dst, (["--json"] if mode == "json"
                                              else []) + ["--batch", batch],
                        env)
            except subprocess.TimeoutExpired:
                check("%s [%s]: finishes" % (case, mode), False,
                      "still running after 120 s")
                continue
            san = [l for l in r.stderr.splitlines()
                   if any(m in l for m in SANITIZER_MARKS)]
            check("%s [%s]: no sanitizer report, no signal" % (case, mode),
                  not san and r.returncode >= 0, (r.returncode, san[:3]))
            if new:
                said = [l for l in r.stderr.splitlines()
                        if l.startswith("py-heap: ") and "_Py_DebugOffsets" in l]
                check("%s [%s]: exit 2, the debug offsets said damaged" %
                      (case, mode), r.returncode == 2 and said and
                      "out of bounds" in said[0],
                      "exit %d, stderr %r" % (r.returncode, r.stderr[-600:]))
                if said:
                    print("    %s" % said[0][:300])
            else:
                check("%s [%s]: exit 0 (3.14+ takes its tables)" % (case, mode),
                      r.returncode == 0, "exit %d, %r" % (r.returncode,
                                                          r.stderr[-600:]))
            if mode == "json" and r.stdout.strip():
                try:
                    for line in r.stdout.splitlines():
                        json.loads(line)
                    ok = True
                except ValueError as e:
                    ok = e
                check("%s [json]: stdout is JSON lines" % case, ok is True, ok)
                if new:
                    notes = [n["code"] for n in json.loads(
                        r.stdout.splitlines()[0]).get("notes", [])]
                    check("%s [json]: note debug-offsets-damaged" % case,
                          "debug-offsets-damaged" in notes, notes)
        r = run(binary, interp, dst, ["--json", "types", "--limit", "0"], env)
        try:
            got = rows(r.stdout)
        except Exception as e:
            got = e
        check("%s: types as on the undamaged core" % case, got == want,
              got if not isinstance(got, list) else
              sorted(set(got) ^ set(want))[:6])
        os.unlink(dst)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/san/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--python", action="append",
                    help="an interpreter (again for more); default: every "
                    "3.13+ one scripts/interpreters.sh finds")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pyheap-dbgoff-")
    try:
        for spec in a.python or interpreters():
            try:
                one(os.path.abspath(a.bin), spec, os.path.abspath(a.cores_dir),
                    work)
            except Exception as e:
                check("%s" % spec, False, repr(e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
