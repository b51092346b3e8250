#!/usr/bin/env python3
"""Truth tests of the text for people and for tools (issue 22).

Runs fixtures/heap_readable.py, takes its core, and checks:
  - readable values (show, list, referents, path; JSON "readable" beside
    "repr"): builtins against the process's own repr(), instances against
    libpython's form made by the fixture from the attributes it set, and,
    with --gdb where python3.11-dbg's libpython is there, against py-print
    itself on the same objects; their bounds (--items, --nesting,
    --str-len, the bytes of a value);
  - --plain and PYHEAP_PLAIN=1: numbers without separators, tab-separated;
  - types --module GLOB, list with a glob, an unknown type's suggestions;
  - progress on stderr (a line, or a redrawn one on a terminal), never on
    stdout nor in the JSON, silenced by --quiet; through GDB too.

    python3 tests/integration/readable_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY] [--gdb]

Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import argparse
import ast
import json
import os
import pty
import re
import subprocess
import sys

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print("PASS", name)
    else:
        results["failed"] += 1
        print("FAIL %s: %s" % (name, str(detail)[:600]))


class Runner:
    def __init__(self, binary, core, interp):
        self.base = [binary, "--core", core] + interp.py_heap_args()

    def run(self, *args, env=None, stderr=None):
        e = dict(os.environ)
        e.pop("PYHEAP_PLAIN", None)
        e.pop("PYHEAP_PROGRESS_AFTER", None)
        e.update(env or {})
        return subprocess.run(self.base + list(args), env=e, text=True,
                              stdout=subprocess.PIPE,
                              stderr=stderr or subprocess.PIPE, timeout=300)

    def json(self, *args):
        r = self.run("--json", *args)
        if r.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(args),
                                                    r.returncode, r.stderr))
        return json.loads(r.stdout)


def readable_checks(p, t):
    for name, (addr, want) in list(t["values"].items()) + \
            list(t["instances"].items()):
        try:
            s = p.json("show", hex(addr))
            check("show %s: readable" % name, s["readable"] == want,
                  "%r != %r" % (s["readable"], want))
            check("show %s: repr kept" % name, isinstance(s.get("repr"), str))
        except Exception as e:
            check("show %s" % name, False, e)
    sid, swant = t["instances"]["session"]
    try:
        txt = p.run("show", hex(sid)).stdout
        check("show: text value line", "  value:      %s\n" % swant in txt,
              txt[:300])
    except Exception as e:
        check("show text", False, e)
    # list: the rows' values, in JSON and in text
    try:
        l = p.json("list", t["session_type"], "--items", "20")
        row = [o for o in l["objects"] if int(o["address"], 16) == sid]
        check("list: readable", row and row[0]["readable"] == swant, row)
        txt = p.run("list", t["session_type"]).stdout
        check("list: text VALUE column", swant in txt, txt[:300])
    except Exception as e:
        check("list", False, e)
    # referents: each attribute's value
    try:
        # (before 3.11 the attributes are the values of the instance's
        # __dict__, an object of its own: ['cart'] there)
        r = p.json("referents", hex(sid))
        got = {x["via"]: x["readable"] for x in r["referents"]}
        d = [x["address"] for x in r["referents"] if x["via"] == ".__dict__"]
        if d and ".cart" not in got:
            got = {"." + x["via"][2:-2]: x["readable"]
                   for x in p.json("referents", d[0])["referents"]
                   if x["via"].startswith("['")}
        check("referents: readable of .cart",
              got.get(".cart") == "['/api/item/2', '/api/item/7']", got)
        check("referents: readable of .prefs",
              got.get(".prefs") == "{'lang': 'en'}", got)
        txt = p.run("referents", hex(sid)).stdout
        check("referents: text VALUE column",
              "VALUE" in txt.splitlines()[0] and "'tok-3398'" in txt, txt)
    except Exception as e:
        check("referents", False, e)
    # path: the last step is the object, with its value
    try:
        lid = t["instances"]["root"]
        r = p.json("path", hex(lid[0]))
        check("path: the last step's readable",
              r["path"][-1]["readable"] == lid[1], r["path"][-1])
    except Exception as e:
        check("path", False, e)

    # -- bounds ----------------------------------------------------------
    try:
        lid, first = t["long_list"]
        got = p.json("show", hex(lid))["readable"]
        want = "[%s, ...]" % ", ".join(repr(x) for x in first)
        check("bounds: 10 items by default", got == want, got)
        got = p.json("show", hex(lid), "--items", "3")["readable"]
        check("bounds: --items 3", got == "[0, 1, 2, ...]", got)
        got = p.json("show", hex(lid), "--items", "0")["readable"]
        check("bounds: --items 0", got == repr(list(range(100))), got)
        sid2, n = t["long_str"]
        got = p.json("show", hex(sid2))["readable"]
        check("bounds: 60 characters by default",
              got == "'" + "x" * 60 + "...'", got)
        got = p.json("show", hex(sid2), "--str-len", "0")["readable"]
        check("bounds: --str-len 0", got == "'" + "x" * n + "'", got)
        got = p.json("show", hex(t["deep"]))["readable"]
        check("bounds: 3 levels by default",
              got == "[[[<list of 1 items>]]]", got)
        got = p.json("show", hex(t["deep"]), "--nesting", "0")["readable"]
        check("bounds: --nesting 0", got == "[[[[['bottom']]]]]", got)
        got = p.json("show", hex(t["big_list"]), "--items", "0")["readable"]
        check("bounds: a value stops after 1,024 bytes, and says so",
              (got.endswith(", ...]") or got.endswith("...(truncated)"))
              and len(got) <= 1024 + 40, len(got))
        row = [o for o in p.json("list", "list", "--limit", "0",
                                 "--items", "0")["objects"]
               if int(o["address"], 16) == t["big_list"]]
        v = row[0]["readable"] if row else ""
        check("bounds: a row's value stops after 200 bytes",
              (v.endswith(", ...]") or v.endswith("...(truncated)")) and
              len(v) <= 200 + 40, len(v))
    except Exception as e:
        check("bounds", False, e)


def repr_checks(p, t, workdir):
    """Every code point where printability changes for this interpreter's
    repr() (its Unicode data), with the one before it: py-heap's str
    repr against the process's own, in one --batch session."""
    strs = t.get("edge_strs") or []
    path = os.path.join(workdir, "repr-edges.batch")
    with open(path, "w") as f:
        for addr, _ in strs:
            f.write("show %s --str-len 0\n" % hex(addr))
    r = p.run("--json", "--batch", path)
    dec, outs, rest = json.JSONDecoder(), [], r.stdout.strip()
    try:
        while rest:
            d, end = dec.raw_decode(rest)
            outs.append(d)
            rest = rest[end:].strip()
    except ValueError as e:
        check("repr: the batch's answers", False, "%s: %s" % (e, r.stderr))
        return
    bad = [(want, o.get("readable")) for (_, want), o in zip(strs, outs)
           if o.get("readable") != want]
    check("repr: the %d strs of every code point where printability "
          "changes (Unicode %s): as the process's repr()"
          % (len(strs), t.get("unidata")),
          len(outs) == len(strs) and len(strs) > 10 and not bad,
          "%d answers, %d differ; first: %r" % (
              len(outs), len(bad), bad[:1]))


def plain_checks(p, t):
    try:
        j = p.json("types", "--limit", "0")
        counts = {x["type"]: (x["count"], x["bytes"]) for x in j["types"]}
        r = p.run("types", "--limit", "0", "--plain")
        lines = r.stdout.splitlines()
        check("--plain: header tab-separated",
              lines[0] == "COUNT\tBYTES\tTYPE", repr(lines[0]))
        bad = []
        for line in lines[1:]:
            f = line.split("\t")
            if len(f) != 3 or not f[0].isdigit() or not f[1].isdigit():
                bad.append(line)
            elif f[2] in counts and counts[f[2]] != (int(f[0]), int(f[1])):
                bad.append(line)
        check("--plain: every row three tab-separated fields, numbers "
              "without separators, as the JSON", not bad, bad[:3])
        env = p.run("types", "--limit", "0", env={"PYHEAP_PLAIN": "1"})
        check("PYHEAP_PLAIN=1: as --plain", env.stdout == r.stdout,
              env.stdout[:200])
        nop = p.run("types", "--limit", "0")
        check("without --plain: columns of blanks, separators",
              "\t" not in nop.stdout and re.search(r"\d,\d{3}", nop.stdout),
              nop.stdout[:200])
        sid, swant = t["instances"]["session"]
        rows = p.run("--plain", "list", t["session_type"]).stdout.splitlines()
        f = [x.split("\t") for x in rows[1:] if x.startswith("0x")]
        check("--plain list: address, size, value",
              f and all(len(x) == 3 and x[1].isdigit() for x in f) and
              [x[2] for x in f if int(x[0], 16) == sid] == [swant], f[:2])
        pj = p.run("--plain", "--json", "types")
        check("--plain leaves the JSON alone",
              json.loads(pj.stdout)["types"] ==
              p.json("types")["types"], pj.stdout[:200])
    except Exception as e:
        check("--plain", False, e)


def type_name_checks(p, t):
    mine = {"__main__.Session", "__main__.Slotted", "__main__.Mixed",
            "__main__.Node", "__main__.Empty"}
    try:
        for glob in ("__main__", "__ma*", "__main_?"):
            j = p.json("types", "--module", glob, "--limit", "0")
            got = {x["type"] for x in j["types"]}
            check("types --module %s" % glob, got == mine, got)
            check("types --module %s: totals of those" % glob,
                  j["objects"] == sum(x["count"] for x in j["types"]),
                  j["objects"])
        j = p.json("types", "--module", "builtins", "--limit", "0")
        got = {x["type"] for x in j["types"]}
        check("types --module builtins: names without a module",
              "dict" in got and not any("." in x for x in got), got)
        l = p.json("list", "__main__.*", "--limit", "0")
        check("list with a glob: every instance of the fixture's classes",
              l["count"] == len(t["instances"]) + 1, l["count"])
        addrs = {int(o["address"], 16) for o in l["objects"]}
        check("list with a glob: their addresses",
              {a for a, _ in t["instances"].values()} <= addrs, addrs)
    except Exception as e:
        check("type names", False, e)
    for asked, want in (("Session", "__main__.Session"),
                        ("Sesion", "__main__.Session"),
                        ("slotted", "__main__.Slotted"),
                        ("dcit", "dict")):
        try:
            r = p.run("--json", "list", asked)
            e = json.loads(r.stdout)["error"]
            check("list %s: not found, suggests %s" % (asked, want),
                  r.returncode == 2 and e["code"] == "not-found" and
                  want in e.get("suggestions", []) and
                  "did you mean" in e["message"] and want in r.stderr, e)
        except Exception as ex:
            check("list %s" % asked, False, ex)
    for cmd in (["refcheck", "--type"], ["dominators", "--type"]):
        try:
            r = p.run("--json", *(cmd + ["Sesion"]))
            e = json.loads(r.stdout)["error"]
            check("%s Sesion: suggests __main__.Session" % " ".join(cmd),
                  r.returncode == 2 and
                  e.get("suggestions") == ["__main__.Session"], e)
        except Exception as ex:
            check(" ".join(cmd), False, ex)
    try:
        r = p.json("refcheck", "--type", "__main__.*", "--min-excess", "0")
        check("refcheck --type with a glob: the fixture's instances",
              r["checked"] == len(t["instances"]) + 1, r.get("checked"))
    except Exception as ex:
        check("refcheck --type glob", False, ex)
    r = p.run("list", "NoSuchThingAtAll")
    check("a name near nothing: no suggestion",
          r.returncode == 2 and "did you mean" not in r.stderr, r.stderr)


def progress_checks(p):
    # (the outputs' cache would answer the second run without a stage to
    # report: these runs do the work)
    now = {"PYHEAP_PROGRESS_AFTER": "0", "PYHEAP_NO_OUTPUT_CACHE": "1"}
    try:
        quiet = p.run("cycles", "--unreachable",
                      env={"PYHEAP_NO_OUTPUT_CACHE": "1"})
        loud = p.run("cycles", "--unreachable", env=now)
        check("progress: on stderr", "py-heap progress: finding the objects" in
              loud.stderr, loud.stderr)
        check("progress: stdout as without it", loud.stdout == quiet.stdout
              and quiet.stderr == "", quiet.stderr)
        check("progress: no line a note or an error could be taken for",
              not [l for l in loud.stderr.splitlines()
                   if l.startswith("py-heap: ")], loud.stderr)
        j = p.run("--json", "cycles", "--unreachable", env=now)
        json.loads(j.stdout)
        check("progress: never in the JSON", "py-heap progress:" in j.stderr and
              "finding" not in j.stdout, j.stderr)
        for args in (["--quiet", "cycles", "--unreachable"],
                     ["cycles", "--unreachable", "--quiet"]):
            q = p.run(*args, env=now)
            check("progress: %s silences it" % " ".join(args),
                  q.stderr == "" and q.stdout == quiet.stdout, q.stderr)
        # stderr a terminal: one line redrawn in place, cleared at the end
        master, slave = pty.openpty()
        r = p.run("cycles", "--unreachable", env=now, stderr=slave)
        os.close(slave)
        data = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        os.close(master)
        check("progress: redrawn on a terminal, and cleared",
              data.startswith(b"\r\x1b[Kpy-heap progress: ") and
              data.endswith(b"\r\x1b[K") and b"\n" not in data and
              r.stdout == quiet.stdout, data[:200])
    except Exception as e:
        check("progress", False, e)


def gdb_checks(a, interp, core, t):
    libpython = "/usr/share/gdb/auto-load%s-gdb.py" % interp.exe
    gdb = ["gdb", "-batch", "-nx"] + interp.gdb_args()
    if os.path.exists(libpython) and not interp.root:
        # py-print on the objects libpython knows the whole of (no
        # __slots__: it reads only the __dict__)
        names = ["session", "root", "loop", "empty"]
        cmd = gdb + ["-ex", "py-bt", "-ex", "py-up"]
        for n in names:
            cmd += ["-ex", "py-print %s" % n]
        r = subprocess.run(cmd + [interp.exe, core], capture_output=True,
                           text=True, timeout=300)
        printed = dict(re.findall(r"^global '(\w+)' = (.*)$", r.stdout,
                                  re.M))
        for n in names:
            check("gdb: py-print %s as py-heap's readable" % n,
                  printed.get(n) == t["instances"][n][1],
                  "%r != %r" % (printed.get(n), t["instances"][n][1]))
    r = subprocess.run(
        gdb + ["-ex", "source %s" % os.path.join(ROOT, "gdb/py-heap.py"),
               "-ex", "py-heap cycles --unreachable --json",
               "-ex", "py-heap types --plain --limit 3",
               interp.exe, core], capture_output=True, text=True,
        timeout=300, env=dict(os.environ, PYHEAP_PROGRESS_AFTER="0"))
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    try:
        json.loads(lines[-1])
        ok = True
    except Exception:
        ok = False
    check("gdb: progress through GDB on stderr, JSON intact",
          ok and "py-heap progress: finding the objects" in r.stderr and
          "py-heap progress" not in r.stdout, r.stderr[-300:])
    check("gdb: --plain", "COUNT\tBYTES\tTYPE" in r.stdout, r.stdout[-300:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--gdb", action="store_true",
                    help="also py-print (libpython) and py-heap in GDB")
    a = ap.parse_args()
    interp = Interp(a.python)
    outdir = os.path.join(a.cores_dir, "heap_readable-" + interp.tag)
    core = interp.take_core("heap_readable.py", outdir)
    with open(os.path.join(outdir, "truth.txt")) as f:
        t = ast.literal_eval(f.read())
    p = Runner(os.path.abspath(a.bin), core, interp)
    readable_checks(p, t)
    repr_checks(p, t, outdir)
    plain_checks(p, t)
    type_name_checks(p, t)
    progress_checks(p)
    if a.gdb:
        try:
            gdb_checks(a, interp, core, t)
        except Exception as e:
            check("gdb", False, e)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
