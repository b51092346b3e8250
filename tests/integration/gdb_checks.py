#!/usr/bin/env python3
"""py-heap at home in GDB (issue 22): settings, convenience functions, the
value history, expressions, Python names and frame numbers.

Takes the core of fixtures/gdb_names.py, then runs `gdb -batch -nx` on it
with gdb/py-heap.py sourced and checks, against what the process measured
about itself (truth.txt) and against GDB's own `bt` and libpython.py's
`py-bt-full`:
  * `set py-heap json|limit|debuginfod`, `show py-heap` lists them,
    `set py-heap-json` is the same setting, `complete` knows them;
  * $_pyheap_count/refcnt/size/retained, `show` sets $ and $_;
  * `py-heap show (PyObject *) 0x...`: the rest of the line is the address;
  * with libpython.py loaded (python3.11-dbg's GDB script, which GDB loads
    for Debian's python3.11 and python3.11d; sourced for pyenv's builds and
    the roots'), in the C frame that runs inner(): Python names (a local
    that shadows a global, a global, a builtin), in commands and
    functions; after `py-up`, a global's name;
  * without it (auto-load off): names are refused with a hint, the rest
    works, frame roots still carry GDB's frame numbers;
  * frame roots carry the level of the C frame that runs them (`bt`);
  * GDB's `debuginfod enabled` binds py-heap (`set py-heap debuginfod`).

    python3 tests/integration/gdb_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY]

Prints PASS/FAIL/SKIP lines and ends with "N passed, N failed".
"""
import argparse
import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "gdb/py-heap.py")
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print("PASS", name)
    else:
        results["failed"] += 1
        print("FAIL %s: %s" % (name, str(detail)[-1500:]))


def skip(name, why):
    print("SKIP %s: %s" % (name, why))


def gdb(interp, core, commands, pre=(), env=None, libpython=True):
    """Runs GDB on the core; each command's output (stdout and stderr, in
    order) is returned by its index, split at markers GDB writes between
    them."""
    args = ["gdb", "-batch", "-nx"]
    if not libpython:
        args += ["-iex", "set auto-load python-scripts off"]
    if interp.root:
        # the root's debug files (GDB does not look under its sysroot)
        args += ["-iex", "set debug-file-directory %s/usr/lib/debug"
                 % interp.root]
    for c in pre:
        args += ["-iex", c]
    args += interp.gdb_args()
    script = libpython and libpython_script(interp)
    if script:
        args += ["-ex", "source " + script]
    args += ["-ex", "source " + SCRIPT]
    for i, c in enumerate(commands):
        args += ["-ex", "python gdb.write('@@%d@@\\n'); gdb.flush()" % i,
                 "-ex", c]
    args += ["-ex", "python gdb.write('@@end@@\\n')", interp.exe, core]
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(args, capture_output=False, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300,
                       env=e)
    out = {}
    parts = re.split(r"^@@(\d+|end)@@\n", r.stdout, flags=re.M)
    for k in range(1, len(parts) - 1, 2):
        if parts[k] != "end":
            out[int(parts[k])] = parts[k + 1]
    return out, r.stdout


def libpython_script(interp):
    """CPython's GDB script for an interpreter GDB does not load it for by
    itself (Debian's python3.11 and python3.11d it does): a pyenv build's
    beside its executable, a root's python3.X-dbg's in the root."""
    if interp.root:
        p = os.path.join(interp.root, "usr/share/gdb/auto-load",
                         interp.python.lstrip("/") + "-gdb.py")
    else:
        p = interp.exe + "-gdb.py"
        if p.startswith("/usr/"):
            return None
    return p if os.path.exists(p) else None


def last_json(text):
    lines = [l for l in text.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def value(text):
    """What `print` printed: $N = VALUE."""
    m = re.search(r"^\$\d+ = (.*)$", text, re.M)
    return m.group(1).strip() if m else None


def number(text):
    v = value(text)
    try:
        return int(v.split()[-1] if v and v.startswith("(") else v, 0)
    except (TypeError, ValueError):
        return None


def eval_levels(bt):
    """The levels of the C frames of the eval loop where GDB has debug
    information (bt shows their arguments), newest first."""
    out = []
    for line in bt.splitlines():
        m = re.match(r"#(\d+)\s+.*\b_PyEval_EvalFrameDefault \(\w+=", line)
        if m:
            out.append(int(m.group(1)))
    return out


def frame_root_number(roots, func):
    """The #N of the frame roots of func() (one number, or None)."""
    nums = set()
    for r in roots:
        m = re.search(r" frame (?:#(\d+) )?%s\(\) at " % re.escape(func),
                      r["name"])
        if m:
            nums.add(int(m.group(1)) if m.group(1) else None)
    return nums.pop() if len(nums) == 1 else ("several", nums)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# What --san-lib runs in a Python that has the sanitizers preloaded: the
# library opened through ctypes as gdb/py-heap.py opens it, with the frame
# numbers GDB found, then roots, snapshot and diff.
SAN_DRIVER = r"""
import ctypes, json, sys
lib = ctypes.CDLL(sys.argv[1])
vp, cs = ctypes.c_void_p, ctypes.c_char_p
for name, res, args in [
        ("ph_options_create", vp, [ctypes.POINTER(vp)]),
        ("ph_options_set_core", vp, [vp, cs]),
        ("ph_options_set_no_debuginfod", None, [vp, ctypes.c_bool]),
        ("ph_options_add_frame_number", vp, [vp, ctypes.c_uint64,
                                             ctypes.c_uint]),
        ("ph_options_destroy", None, [vp]),
        ("ph_session_create", vp, [vp, ctypes.POINTER(vp)]),
        ("ph_session_run", vp, [vp, ctypes.c_int, ctypes.POINTER(cs),
                                ctypes.c_bool, ctypes.POINTER(vp)]),
        ("ph_session_destroy", None, [vp]), ("ph_free", None, [vp]),
        ("ph_error_destroy", None, [vp])]:
    f = getattr(lib, name)
    f.restype, f.argtypes = res, args
o = vp()
assert not lib.ph_options_create(ctypes.byref(o))
assert not lib.ph_options_set_core(o, sys.argv[2].encode())
lib.ph_options_set_no_debuginfod(o, True)
for frame, number in json.loads(sys.argv[3]):
    assert not lib.ph_options_add_frame_number(o, frame, number)
s = vp()
assert not lib.ph_session_create(o, ctypes.byref(s))
lib.ph_options_destroy(o)
answers = {}
for argv in (["roots", "--match", "frame", "--limit", "0"],
             ["snapshot", "--output", sys.argv[4]],
             ["diff", sys.argv[4]]):
    args = [a.encode() for a in argv]
    c = (cs * (len(args) + 1))(*args, None)
    out = vp()
    err = lib.ph_session_run(s, len(args), c, True, ctypes.byref(out))
    assert not err, argv
    answers[argv[0]] = json.loads(ctypes.string_at(out.value).decode())
    lib.ph_free(out.value)
lib.ph_session_destroy(s)
print(json.dumps(answers))
"""


def san_checks(interp, core, san_lib, preload):
    """The frame numbers through the library built with ASan and UBSan."""
    r = subprocess.run(
        ["gdb", "-batch", "-nx"] + interp.gdb_args() +
        ["-ex", "source " + SCRIPT, "-ex",
         "python import json; print('FRAMES', "
         "json.dumps(_pyheap_frame_numbers()))",
         interp.exe, core], capture_output=True, text=True, timeout=300)
    m = re.search(r"^FRAMES (.*)$", r.stdout, re.M)
    frames = json.loads(m.group(1)) if m else []
    check("san: GDB found frame numbers", frames, r.stdout[-500:])
    work = tempfile.mkdtemp(prefix="pyheap-gdb-san-")
    try:
        env = dict(os.environ, LD_PRELOAD=preload,
                   ASAN_OPTIONS="detect_leaks=0",
                   UBSAN_OPTIONS="print_stacktrace=1")
        r = subprocess.run(
            ["/usr/bin/python3", "-c", SAN_DRIVER, san_lib, core,
             json.dumps(frames), os.path.join(work, "s.snap")],
            capture_output=True, text=True, timeout=300, env=env)
        clean = r.returncode == 0 and "ERROR: AddressSanitizer" not in \
            r.stderr and "runtime error:" not in r.stderr
        check("san: roots, snapshot, diff with frame numbers: no report",
              clean, r.stderr[-1500:])
        if not clean:
            return
        a = json.loads(r.stdout)
        names = [x["name"] for x in a["roots"]["roots"]]
        check("san: frame roots numbered",
              any(" frame #%d inner() " % n in x for x in names
                  for _, n in frames), names[:3])
        check("san: the diff against its own snapshot names no number",
              "frame #" not in json.dumps(a["diff"]), a["diff"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def live_checks(interp):
    work = tempfile.mkdtemp(prefix="pyheap-gdb-live-")
    proc = subprocess.Popen(interp.command(
        [os.path.join(ROOT, "fixtures", "gdb_names.py"), work]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = os.path.join(work, "ready")
        for _ in range(600):
            if os.path.exists(ready) or proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(os.path.join(work, "truth.txt")) as f:
            t = ast.literal_eval(f.read())
        script = libpython_script(interp)
        r = subprocess.run(
            ["gdb", "-batch", "-nx", "-p", str(proc.pid)] +
            (["-ex", "source " + script] if script else []) +
            ["-ex", "source " + SCRIPT, "-ex", "py-up",
             "-ex", "py-heap show inner_local --json",
             "-ex", "py-heap roots --match frame --json --limit 0",
             "-ex", "py-bt-full"],
            capture_output=True, text=True, timeout=300)
        js = [json.loads(l) for l in r.stdout.splitlines()
              if l.startswith("{")]
        check("live: show NAME is the local the process measured",
              js and js[0].get("address") == hex(t["inner_local"]) and
              js[0].get("size") == t["inner_local_size"], r.stdout[-800:])
        pybt = re.search(r"^#(\d+) Frame 0x[0-9a-f]+, .* in inner ",
                         r.stdout, re.M)
        roots = js[1]["roots"] if len(js) > 1 else []
        check("live: frame roots carry py-bt-full's numbers",
              pybt and frame_root_number(roots, "inner") ==
              int(pybt.group(1)), r.stdout[-800:])
        time.sleep(0.2)
        check("live: the process runs on after GDB detached",
              proc.poll() is None, proc.returncode)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--san-lib", help="only check the library built with "
                    "the sanitizers (a libpyheap.so) through ctypes, with "
                    "the frame numbers GDB finds")
    ap.add_argument("--preload", default="",
                    help="with --san-lib: the sanitizers' runtimes "
                    "(LD_PRELOAD)")
    a = ap.parse_args()
    if not shutil.which("gdb"):
        skip("gdb", "no gdb")
        print("0 passed, 0 failed")
        return 0
    interp = Interp(a.python)
    outdir = os.path.join(a.cores_dir, "gdb_names-" + interp.tag)
    core = interp.take_core("gdb_names.py", outdir)
    with open(os.path.join(outdir, "truth.txt")) as f:
        t = ast.literal_eval(f.read())
    if a.san_lib:
        san_checks(interp, core, a.san_lib, a.preload)
        print("%d passed, %d failed" % (results["passed"], results["failed"]))
        return 1 if results["failed"] else 0

    def cli(*args):
        r = subprocess.run([a.bin, "--core", core, "--json"] +
                           interp.py_heap_args() + list(args),
                           capture_output=True, text=True, timeout=300)
        return json.loads(r.stdout)

    w, il = t["widgets"], t["inner_local"]
    # `(PyObject *) ADDR` where GDB knows the type (debug information)
    r = subprocess.run(["gdb", "-batch", "-nx"] + interp.gdb_args() +
                       ["-ex", "ptype PyObject", interp.exe],
                       capture_output=True, text=True, timeout=120)
    cast = "(PyObject *)" if "ob_refcnt" in r.stdout else "(unsigned long)"

    # -- settings, functions, history, expressions (libpython as GDB loads
    # it by itself: only Debian's python3.11 and python3.11d have one) ----
    cmds = [
        "show py-heap",                                     # 0
        "set py-heap json on",
        "show py-heap-json",                                # 2
        "set py-heap-json off",
        "show py-heap json",                                # 4
        "set py-heap limit 3",
        "py-heap roots",                                    # 6
        "set py-heap limit unlimited",
        "py-heap roots",                                    # 8
        "set py-heap limit 0",
        "complete set py-heap ",                            # 10
        "complete py-heap sh",
        'p $_pyheap_count("__main__.Widget")',              # 12
        "p $_pyheap_size(%d)" % w,
        "p $_pyheap_refcnt((void *) %d)" % w,               # 14
        "p $_pyheap_retained(%d)" % il,
        "py-heap show %s %d" % (cast, il),                # 16
        "p/x (unsigned long) $",
        "p/x (unsigned long) $_",                           # 18
        "bt",
        "py-heap roots --match frame --json --limit 0",     # 20
        "py-heap show ((char *) %d) + 0 --json" % w,
        'p $_pyheap_count("NoSuchType")',                   # 22
        "py-heap show $nothere_ + --json",
    ]
    names = [
        "py-bt-full",                                       # 24
        # the C frame that runs inner() (py-up's first step differs
        # between libpython.py's versions: 3.15's goes past it)
        "frame function _PyEval_EvalFrameDefault",
        "py-heap show shadowed --json",                     # 26
        "py-heap show WIDGETS --json",
        "py-heap show len --json",                          # 28
        'p $_pyheap_size("inner_local")',
        'p $_pyheap_refcnt("WIDGETS")',                     # 30
        "py-heap referrers WIDGETS --json",
        "py-heap show no_such_name",                        # 32
        "py-up",
        "py-heap show WIDGETS --json",                      # 34
    ]
    out, whole = gdb(interp, core, cmds + names)
    check("no Python traceback", "Traceback (most recent call last)"
          not in whole, whole[-2000:])
    show = out.get(0, "")
    check("show py-heap lists the settings",
          all(re.search(r"^%s:  " % n, show, re.M)
              for n in ("json", "limit", "debuginfod")), show)
    check("set py-heap json on: py-heap-json says on",
          "JSON: on" in out.get(2, ""), out.get(2))
    check("set py-heap-json off: py-heap json says off",
          "JSON: off" in out.get(4, ""), out.get(4))
    rows3 = [l for l in out.get(6, "").splitlines() if l.startswith("0x")]
    check("set py-heap limit 3: three roots", len(rows3) == 3, out.get(6))
    total = len(cli("roots", "--limit", "0")["roots"])
    rows = [l for l in out.get(8, "").splitlines() if l.startswith("0x")]
    check("set py-heap limit unlimited: every root (%d)" % total,
          len(rows) == total, "%d rows" % len(rows))
    check("complete set py-heap: its settings",
          set(out.get(10, "").split("\n")) >= {
              "set py-heap json", "set py-heap limit",
              "set py-heap debuginfod"}, out.get(10))
    check("complete py-heap sh: show", "py-heap show" in out.get(11, ""),
          out.get(11))
    check("$_pyheap_count = the Widgets gc.get_objects() saw (%d)"
          % t["widget_count"], number(out.get(12)) == t["widget_count"],
          out.get(12))
    check("$_pyheap_size = sys.getsizeof()",
          number(out.get(13)) == t["widgets_size"], out.get(13))
    check("$_pyheap_refcnt = sys.getrefcount() - 1",
          number(out.get(14)) == t["widgets_refcnt"], out.get(14))
    check("$_pyheap_retained = retained's bytes",
          number(out.get(15)) == cli("retained", hex(il))["retained"]["bytes"],
          out.get(15))
    check("show %s ADDR: the rest of the line is the address" % cast,
          hex(il) in out.get(16, "") and "dict" in out.get(16, ""),
          out.get(16))
    check("show records the object: $", number(out.get(17)) == il,
          out.get(17))
    check("show records the object: $_", number(out.get(18)) == il,
          out.get(18))
    roots = last_json(out.get(20, "")).get("roots", [])
    levels = eval_levels(out.get(19, ""))
    if not levels:
        check("frame roots: no number where GDB has no debug information",
              all(frame_root_number(roots, f) is None
                  for f in ("inner", "outer", "<module>")), roots[:3])
    else:
        # up to 3.10 each Python call is a C call of the eval loop; from
        # 3.11 on the loop runs a callee itself, unless a C function (map)
        # is between them
        old = interp.version_info < (3, 11)
        want = {"inner": levels[0], "outer": levels[1 if old else 0],
                "<module>": levels[2 if old else 1]
                if len(levels) > (2 if old else 1) else None}
        # where the loop's frame is optimized out, 3.13+ keep no record of
        # it GDB can read (3.11, 3.12: cframe): no number then, not a wrong
        # one
        optional = interp.version_info >= (3, 13)
        for func, n in want.items():
            got = frame_root_number(roots, func)
            check("frame roots: %s() is #%s (bt)" % (func, n),
                  got == n or (optional and got is None),
                  [r["name"] for r in roots
                   if " %s() " % func in r["name"]][:2])
    check("an expression with spaces and operators",
          last_json(out.get(21, "")).get("address") == hex(w), out.get(21))
    check("$_pyheap_count of an unknown type: an error, no value",
          "py-heap:" in out.get(22, "") and value(out.get(22, "")) is None,
          out.get(22))
    check("a bad expression: one py-heap error line",
          out.get(23, "").startswith("py-heap: cannot evaluate"),
          out.get(23))

    # (loaded, libpython.py may still read no frame: 3.14's optimized
    # eval loop keeps none where GDB can see it)
    libpython = re.search(r"^#\d+ Frame 0x", out.get(24, ""), re.M)
    if not libpython:
        skip("Python names", "no libpython.py for %s, or no debug "
             "information for it" % interp.exe)
    else:
        pybt = {}
        for m in re.finditer(r"^#(\d+) Frame 0x[0-9a-f]+, for file .*, "
                             r"line \d+, in (\S+) ", out.get(24, ""), re.M):
            pybt.setdefault(m.group(2), int(m.group(1)))
        check("frame roots carry py-bt-full's numbers",
              pybt.get("inner") is not None and
              frame_root_number(roots, "inner") == pybt["inner"] and
              frame_root_number(roots, "outer") == pybt.get("outer") and
              frame_root_number(roots, "<module>") == pybt.get("<module>"),
              (pybt, [r["name"] for r in roots][:6]))
        check("py-up, show NAME: the local first (it shadows a global)",
              last_json(out.get(26, "")).get("address") ==
              hex(t["shadowed_local"]), out.get(26))
        check("show NAME: a module global",
              last_json(out.get(27, "")).get("address") == hex(w),
              out.get(27))
        check("show NAME: a builtin",
              last_json(out.get(28, "")).get("address") == hex(t["len"]),
              out.get(28))
        check('$_pyheap_size("NAME") = sys.getsizeof()',
              number(out.get(29)) == t["inner_local_size"], out.get(29))
        check('$_pyheap_refcnt("NAME") = sys.getrefcount() - 1',
              number(out.get(30)) == t["widgets_refcnt"], out.get(30))
        refs = last_json(out.get(31, "")).get("referrers", [])
        check("referrers NAME: the module's dict holds WIDGETS",
              any(r.get("via") == "['WIDGETS']" for r in refs), refs[:3])
        check("an unknown name: GDB's error, and why",
              "No symbol \"no_such_name\"" in out.get(32, "") and
              "Python name" in out.get(32, ""), out.get(32))
        check("py-up, then a global's name",
              last_json(out.get(34, "")).get("address") == hex(w),
              out.get(33, "")[-300:] + out.get(34, ""))

    # -- without libpython.py: it is simply not used ------------------------
    out, whole = gdb(interp, core, [
        "py-heap show WIDGETS",
        "py-heap show %s %d --json" % (cast, w),
        "py-heap roots --match frame --json --limit 0",
        'p $_pyheap_count("__main__.Widget")',
    ], libpython=False)
    check("no libpython: a name is refused, with the hint",
          "libpython.py" in out.get(0, "") and
          out.get(0, "").startswith("py-heap: cannot evaluate"), out.get(0))
    check("no libpython: expressions work",
          last_json(out.get(1, "")).get("address") == hex(w), out.get(1))
    roots2 = last_json(out.get(2, "")).get("roots", [])
    check("no libpython: frame roots numbered the same",
          frame_root_number(roots2, "inner") ==
          frame_root_number(roots, "inner"), [r["name"] for r in roots2][:3])
    check("no libpython: functions work",
          number(out.get(3)) == t["widget_count"], out.get(3))

    # -- a live process GDB holds stopped: names and numbers the same ------
    if interp.root or not libpython:
        skip("live", "tested where libpython.py works outside a root")
    else:
        live_checks(interp)

    # -- GDB's consent to debuginfod binds py-heap --------------------------
    # (an unreachable server: asked, it leaves "debuginfod: ..." in the note
    # on missing debug information; the debug files are hidden)
    if interp.root or interp.exe != os.path.realpath("/usr/bin/python3.11"):
        skip("debuginfod", "tested with Debian's python3.11")
    else:
        empty = tempfile.mkdtemp(prefix="pyheap-gdb-")
        try:
            out, whole = gdb(interp, core, [
                "py-heap info --json",
                "set debuginfod enabled on",
                "py-heap info --json",
                "set debuginfod enabled off",
                "set py-heap debuginfod on",
                "py-heap info --json",
                "show py-heap debuginfod",
                "set py-heap debuginfod off",
                "set debuginfod enabled on",
                "py-heap info --json",
            ], pre=["set debug-file-directory " + empty,
                    "set debuginfod enabled off"],
                env={"DEBUGINFOD_URLS": "http://127.0.0.1:%d" % free_port(),
                     "PYHEAP_DEBUG_FILE_DIRECTORY": ""})

            def asked(i):
                notes = last_json(out.get(i, "")).get("notes", [])
                return any("debuginfod:" in n["message"] for n in notes)
            check("debuginfod enabled off: py-heap asks no server",
                  "no debug information" in out.get(0, "") and not asked(0)
                  and last_json(out.get(0, "")).get("notes"),
                  out.get(0))
            check("debuginfod enabled on: py-heap asks", asked(2),
                  out.get(2))
            check("set py-heap debuginfod on: asks, whatever GDB says",
                  asked(5), out.get(5))
            check("show py-heap debuginfod", "on" in out.get(6, ""),
                  out.get(6))
            check("set py-heap debuginfod off: asks no server, whatever "
                  "GDB says", not asked(9) and
                  "no debug information" in out.get(9, ""), out.get(9))
        finally:
            shutil.rmtree(empty, ignore_errors=True)

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
