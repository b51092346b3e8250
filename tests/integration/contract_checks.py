#!/usr/bin/env python3
"""The output contract, as scripts rely on it (docs/manual.md, "JSON
output" and "Exit status"):

  * strict UTF-8 JSON whatever the heap holds: lone surrogates, NULs,
    quotes, escape sequences, C1 controls, bidi overrides, a 1 MiB string,
    a type whose name holds an escape sequence (fixtures/heap_strings.py);
    text output with none of those raw;
  * every JSON answer has "partial" and "notes"; a cut core's says
    "partial": true;
  * --batch --json: one JSON object per command, each with its "command";
    errors as {"error": {"code", "message"}};
  * exit status: a failed write to stdout is an error; a closed pipe is
    quiet; SIGINT ends py-heap by SIGINT, a live target resumed first;
  * the memory freed after the exit (a child sharing it, started at the
    end of a core's command, dies with it): the same output and status as
    a command that tears down first, the end of its output seen by a pipe,
    no process left;
  * GNU options (--opt=VALUE, --, repeats refused), help, CMD --help,
    version, the manual page; GDB: the commands and their completion come
    from the command table;
  * every environment variable py-heap reads is in the manual's table of
    them, and nothing else is.

    python3 tests/integration/contract_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY] [--no-gdb]
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
results = {"passed": 0, "failed": 0}
INTERP = None


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    sys.stdout.flush()


def wrapper():
    return shlex.split(os.environ.get("PYHEAP_WRAPPER", ""))


def run(binary, args, stdin=None, timeout=300):
    """py-heap's exit status, stdout (bytes) and stderr (text)."""
    r = subprocess.run(wrapper() + [binary] + args, input=stdin,
                       capture_output=True, timeout=timeout)
    err = r.stderr.decode("utf-8", "replace")
    for bad in ("ERROR: AddressSanitizer", "runtime error:", "==ERROR"):
        if bad in err:
            raise RuntimeError("sanitizer: " + err[-2000:])
    return r.returncode, r.stdout, err


def strict_json(raw):
    """Every line a JSON object, decoded as strict UTF-8 first."""
    text = raw.decode("utf-8", "strict")
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def no_raw_controls(raw):
    """Text output: valid UTF-8, no ESC, no C1 control, no bidi override."""
    text = raw.decode("utf-8", "strict")
    bad = [c for c in text if c == "\x1b" or "\x80" <= c <= "\x9f" or
           c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
    return not bad, bad[:5]


def strings_checks(binary, core, t):
    base = ["--core", core] + INTERP.py_heap_args()
    s = t["strings"]
    want = {k: eval(v["ascii"]) for k, v in s.items()}
    # -- show, as JSON and as text, of every one
    for key, info in sorted(s.items()):
        name = "strings: show %s" % key
        try:
            rc, out, err = run(binary, base + ["--json", "show",
                                               hex(info["id"])])
            d = strict_json(out)[0]
            ok = rc == 0 and d["size"] == info["size"] and \
                d["partial"] is False and d["notes"] == []
            short = want[key]
            if key == "surrogate":
                # as the process's repr(): the lone surrogate escaped
                ok = ok and d["repr"] == repr("name-\udcff")
            elif key == "nonascii":
                ok = ok and d["repr"] == "'" + short + "'"
            elif key == "escape":
                ok = ok and d["repr"] == "'red \\x1b[31mRED\\x1b[0m'"
            elif key == "big":
                ok = ok and d["repr"].startswith("'xxxx") and \
                    d["repr"].endswith("...'")
            elif key == "nul":
                ok = ok and d["repr"] == "'a\\x00b\\x00c'"
            check(name + " (JSON)", ok, "rc %d %r" % (rc, d.get("repr")))
            rc, out, err = run(binary, base + ["show", hex(info["id"])])
            clean, bad = no_raw_controls(out)
            check(name + " (text)", rc == 0 and clean, bad or err)
        except Exception as e:
            check(name, False, e)
    # -- list str, every one of them, strict
    try:
        rc, out, err = run(binary, base + ["--json", "list", "str",
                                           "--limit", "0"])
        d = strict_json(out)[0]
        got = {int(o["address"], 16) for o in d["objects"]}
        missing = [k for k, v in s.items() if v["id"] not in got]
        check("strings: list str --json is strict UTF-8 and has them all",
              rc == 0 and not missing, missing or err)
    except Exception as e:
        check("strings: list str --json", False, e)
    # -- referents of the dict that holds them: labels from the keys
    try:
        rc, out, err = run(binary, base + ["--json", "referents",
                                           hex(t["holder"])])
        d = strict_json(out)[0]
        got = {int(r["address"], 16): r["via"] for r in d["referents"]}
        wrong = [k for k, v in s.items() if got.get(v["id"]) != "['%s']" % k]
        check("strings: referents of the holder, labelled", not wrong,
              wrong)
        rc, out, err = run(binary, base + ["referents", hex(t["holder"])])
        clean, bad = no_raw_controls(out)
        check("strings: referents as text, escaped", rc == 0 and clean, bad)
        total = len(d["referents"])
        rc, out, err = run(binary, base + ["--json", "referents",
                                           hex(t["holder"]), "--limit", "5"])
        d = strict_json(out)[0]
        rc2, out2, _ = run(binary, base + ["referents", hex(t["holder"]),
                                           "--limit=5"])
        check("referents --limit: 5 kept, all counted",
              len(d["referents"]) == 5 and d["referents_total"] == total and
              out2.count(b"\n") == 7 and
              b"%d referents (5 shown" % total in out2, out2[-200:])
    except Exception as e:
        check("strings: referents", False, e)
    # -- a type whose name holds an escape sequence
    try:
        evil = "%s.%s" % (t["evil_module"], t["evil_type"])
        rc, out, err = run(binary, base + ["--json", "types", "--limit", "0"])
        d = strict_json(out)[0]
        row = [r for r in d["types"] if r["type"] == evil]
        check("strings: a type named with ESC, in JSON", row and
              row[0]["count"] == len(t["evil"]), row)
        rc, out, err = run(binary, base + ["types", "--limit", "0"])
        clean, bad = no_raw_controls(out)
        check("strings: ... and escaped in text", rc == 0 and clean and
              b"Evil\\x1b[2J" in out, bad)
        rc, out, err = run(binary, base + ["list", evil])
        clean, bad = no_raw_controls(out)
        check("strings: list of that type", rc == 0 and clean and
              out.count(b"\n") == len(t["evil"]) + 2, out[-300:])
    except Exception as e:
        check("strings: evil type", False, e)


def names_checks(binary, core, t):
    """Issue 24, item 12: hostile names (an attribute's, a module's, a
    local's, a code file's) escaped in every text output, exact in JSON."""
    base = ["--core", core] + INTERP.py_heap_args()
    bad = t["bad"]
    esc = bad.encode("unicode_escape").decode()  # as py-heap escapes
    attr, mod, loc = hex(t["attr_value"]), hex(t["module_value"]), \
        hex(t["local_value"])
    # (up to 3.10 the attribute is a key of the instance's __dict__: its
    # referents show the dict's value, a path its subscript)
    inline = INTERP.version_info >= (3, 11)
    # each command, the escaped names its text must show
    cases = [
        ("referents of the holder", ["referents", hex(t["holder_obj"])],
         [".attr" + esc if inline else "'attr" + esc + "'"]),
        ("show the holder", ["show", hex(t["holder_obj"])], ["attr" + esc]),
        ("path to the attribute's list", ["path", attr],
         [".attr" + esc if inline else "['attr" + esc + "']"]),
        ("path to the module's list", ["path", mod], ["module mod" + esc]),
        ("path to the local's list", ["path", loc], ["file" + esc + ".py"]),
        ("referrers of the local's list", ["referrers", loc],
         ["file" + esc + ".py", "local 'loc" + esc]),
        ("referrers of the module's list", ["referrers", mod], []),
        ("retained by the holder", ["retained", hex(t["holder_obj"])], []),
        ("types", ["types", "--limit", "0"], []),
        ("summary", ["summary"], []),
        ("leaks", ["leaks"], []),
        ("cycles", ["cycles"], []),
        ("dominators", ["dominators", "--limit", "100"], []),
        ("refcheck", ["refcheck"], []),
    ]
    for what, args, want in cases:
        name = "names: %s, escaped" % what
        try:
            rc, out, err = run(binary, base + args)
            clean, found = no_raw_controls(out)
            text = out.decode("utf-8", "replace")
            missing = [w for w in want if w not in text]
            check(name, rc == 0 and clean and not missing,
                  found or missing or err)
        except Exception as e:
            check(name, False, e)
    # JSON: the names as they are, in strict UTF-8
    try:
        rc, out, err = run(binary, base + ["--json", "referents",
                                           hex(t["holder_obj"])])
        vias = [r["via"] for r in strict_json(out)[0]["referents"]]
        rc, out, err = run(binary, base + ["--json", "path", mod])
        root = strict_json(out)[0]["root"]
        rc, out, err = run(binary, base + ["--json", "referrers", loc])
        roots = strict_json(out)[0]["roots"]
        if not inline:
            print("SKIP names: the attribute exact in JSON: up to 3.10 it "
                  "is a dict key, which a path shows as its repr")
        check("names: exact in JSON (attribute, module, local, file)",
              (".attr" + bad in vias or not inline) and
              root == "module mod" + bad and
              any(("file%s.py" % bad) in r and ("local 'loc%s'" % bad) in r
                  for r in roots), (vias, root, roots))
    except Exception as e:
        check("names: in JSON", False, e)


def batch_checks(binary, core):
    base = ["--core", core] + INTERP.py_heap_args()
    lines = ["show 0x10", "types --limit 1", "list Nope", "info"]
    try:
        rc, out, err = run(binary, base + ["--json", "--batch", "-"],
                           stdin=("\n".join(lines) + "\n# a comment\n\n")
                           .encode())
        objs = strict_json(out)
        check("batch: one JSON object per command", len(objs) == 4,
              "%d objects" % len(objs))
        check("batch: each names its command",
              [o.get("command") for o in objs] == lines,
              [o.get("command") for o in objs])
        check("batch: errors as objects, answers as answers",
              [("error" in o) for o in objs] == [True, False, True, False]
              and objs[0]["error"]["code"] == "not-found" and
              objs[2]["error"]["code"] == "not-found" and
              objs[1]["types"] and objs[3]["version"], objs)
        check("batch: every object has partial and notes",
              all(o["partial"] is False and o["notes"] == [] for o in objs))
        check("batch: exit status 2 (two failed)", rc == 2, rc)
        check("batch: two error lines on stderr",
              err.count("py-heap: ") == 2, err)
        # a line longer than any buffer, and an unclosed quote
        long = "# " + "x" * 100000 + " refcheck"
        rc, out, err = run(binary, base + ["--json", "--batch", "-"],
                           stdin=(long + "\nshow 'oops\nversion\n").encode())
        objs = strict_json(out)
        check("batch: long lines are one line; an unclosed quote an error",
              len(objs) == 2 and objs[0]["error"]["code"] == "usage" and
              objs[1]["version"] and rc == 2, objs)
        # more than 256 words (item 13: the tail was dropped silently):
        # the 301st makes the line an error
        many = "info" + " --quiet" * 299 + " bogus"
        rc, out, err = run(binary, base + ["--json", "--batch", "-"],
                           stdin=(many + "\nversion\n").encode())
        objs = strict_json(out)
        check("batch: a line of 301 words is read whole",
              len(objs) == 2 and objs[0]["command"] == many and
              objs[0].get("error", {}).get("code") == "usage" and
              "bogus" in objs[0]["error"].get("message", "") and
              objs[1]["version"], str(objs)[:300])
    except Exception as e:
        check("batch", False, e)


def error_json_checks(binary, core):
    base = ["--core", core] + INTERP.py_heap_args()
    try:
        rc, out, err = run(binary, base + ["--json", "show", "0x10"])
        d = strict_json(out)
        check("errors: --json prints the error as JSON too",
              rc == 2 and len(d) == 1 and
              d[0]["error"] == {"code": "not-found",
                                "message": "show: no Python object at 0x10",
                                "address": "0x10"} and
              err.strip() == "py-heap: show: no Python object at 0x10",
              (rc, d, err))
        rc, out, err = run(binary, ["--core", "/nonexistent", "--json",
                                    "types"])
        d = strict_json(out)
        check("errors: a session that cannot open, as JSON",
              rc == 2 and d[0]["error"]["code"] == "os", d)
        rc, out, err = run(binary, base + ["--json", "types", "--sort",
                                           "bytes"])
        d = strict_json(out)
        check("errors: a bad option, before the core is read",
              rc == 2 and d[0]["error"]["code"] == "usage", d)
    except Exception as e:
        check("errors", False, e)


def partial_checks(binary, core):
    """A core cut at 60%: the answer says it is partial."""
    cut = tempfile.NamedTemporaryFile(prefix="pyheap-cut-", delete=False)
    try:
        with open(core, "rb") as f:
            data = f.read()
        cut.write(data[:len(data) * 6 // 10])
        cut.close()
        rc, out, err = run(binary, ["--core", cut.name, "--exe", INTERP.exe]
                           + INTERP.py_heap_args() + ["--json", "types"])
        d = strict_json(out)
        # (where _PyRuntime is in a libpython, which only the notes name,
        # and the cut took them: no answer, and the error says why)
        lost = (rc == 2 and d and d[0].get("error", {}).get("code") ==
                "truncated" and "only the notes name" in
                d[0]["error"]["message"])
        check("partial: a cut core's JSON says partial (or why it cannot "
              "be read, the notes naming libpython cut off)",
              lost or (rc == 2 and d and d[0]["partial"] is True and
                       any(n["code"] == "core-truncated"
                           for n in d[0]["notes"])),
              (rc, d and {k: d[0].get(k) for k in ("partial", "notes",
                                                   "error")}, err))
    except Exception as e:
        check("partial", False, e)
    finally:
        os.unlink(cut.name)


def write_checks(binary, core):
    base = ["--core", core] + INTERP.py_heap_args()
    try:
        with open("/dev/full", "w") as full:
            r = subprocess.run(wrapper() + [binary] + base + ["types"],
                               stdout=full, stderr=subprocess.PIPE,
                               text=True, timeout=300)
        check("write: /dev/full is an error (exit 2, one line)",
              r.returncode == 2 and "cannot write" in r.stderr, r.stderr)
        p = subprocess.Popen(wrapper() + [binary] + base +
                             ["list", "str", "--limit", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.read(100)
        p.stdout.close()
        err = p.stderr.read().decode()
        p.wait(timeout=300)
        check("write: a closed pipe is quiet", err == "", err)
    except Exception as e:
        check("write", False, e)


def procs_with(mark):
    """The processes whose environment holds mark."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    if mark in f.read():
                        found.append(int(d))
            except OSError:
                pass
    return found


def exit_checks(binary, core):
    """The child that frees a core's command's memory after its exit
    (native/cli/main.c: reaper_start)."""
    base = ["--core", core, "--no-cache"] + INTERP.py_heap_args()
    try:
        for args in (["types"], ["referrers", "0x10"],
                     ["--json", "summary"]):
            value = "%d-%f" % (os.getpid(), time.time())
            mark = "PYHEAP_TEST_EXIT=" + value
            env = dict(os.environ, PYHEAP_TEST_EXIT=value)
            p = subprocess.Popen(wrapper() + [binary] + base + args,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env)
            out, err = p.communicate(timeout=300)
            plain = subprocess.run(
                wrapper() + [binary] + base + args, capture_output=True,
                timeout=300, env=dict(os.environ, PYHEAP_DETACH_EXIT="0"))
            check("exit: %s: output, errors and status as a command that "
                  "tears down first" % " ".join(args),
                  (out, err, p.returncode) ==
                  (plain.stdout, plain.stderr, plain.returncode),
                  (p.returncode, plain.returncode, err[-200:]))
            left = procs_with(mark.encode())
            deadline = time.time() + 10
            while left and time.time() < deadline:
                time.sleep(0.05)
                left = procs_with(mark.encode())
            check("exit: %s: no process left" % " ".join(args), not left,
                  left)
        if wrapper() or not shutil.which("strace"):
            return
        # the child is started, and only when asked for
        for env_value, want in ((None, True), ("0", False)):
            fd, trace = tempfile.mkstemp(prefix="pyheap-exit-")
            os.close(fd)
            env = dict(os.environ)
            if env_value is not None:
                env["PYHEAP_DETACH_EXIT"] = env_value
            r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=clone",
                                "-o", trace, binary] + base + ["types"],
                               capture_output=True, timeout=300, env=env)
            with open(trace) as f:
                text = f.read()
            os.unlink(trace)
            shared = [l for l in text.splitlines()
                      if "flags=CLONE_VM" in l and "CLONE_THREAD" not in l]
            check("exit: a child sharing the memory %s (PYHEAP_DETACH_EXIT"
                  "=%s)" % ("started" if want else "not started",
                            env_value or "unset"),
                  r.returncode == 0 and bool(shared) == want,
                  (r.returncode, shared))
    except Exception as e:
        check("exit", False, e)


BUSY = '''
import os, sys, time
class Item:
    def __init__(self, i):
        self.i = i
        self.peer = self
items = [Item(i) for i in range(int(sys.argv[2]))]
open(os.path.join(sys.argv[1], "ready"), "w").write(str(os.getpid()))
while True:
    time.sleep(0.05)
'''


def status_of(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.split(":\t", 1) for l in f.read().splitlines()
                    if ":\t" in l)


def sigint_checks(binary, core):
    # A core: a long --batch, interrupted (--no-cache: with the answers'
    # cache the whole batch can end before the signal comes)
    base = ["--core", core, "--no-cache"] + INTERP.py_heap_args()
    try:
        p = subprocess.Popen(wrapper() + [binary] + base + ["--batch", "-"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        p.stdin.write(b"cycles --unreachable\nrefcheck\n" * 2000)
        p.stdin.close()
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=60)
        check("sigint: a core: py-heap dies by SIGINT",
              p.returncode == -signal.SIGINT, p.returncode)
    except Exception as e:
        check("sigint: a core", False, e)
    # A live process: interrupted while it works on the copy; the target
    # runs on, not traced.
    work = tempfile.mkdtemp(prefix="pyheap-busy-")
    prog = os.path.join(work, "busy.py")
    with open(prog, "w") as f:
        f.write(BUSY)
    # A large heap (a million instances, each with its dict): one
    # command on it takes seconds, and is interrupted in its middle.
    proc, where = INTERP.start(prog, os.path.join(work, "out"),
                               ["1000000"])
    try:
        deadline = time.time() + 120
        while not os.path.exists(os.path.join(where, "ready")):
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("the busy program did not start")
            time.sleep(0.05)
        # interrupted once it reports work on the copy (the pause is
        # over): a fixed wait was longer than the whole run once it got
        # faster (exit 0 after 0.9 s)
        p = subprocess.Popen(wrapper() + [binary, "--pid", str(proc.pid),
                                          "refcheck"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, PYHEAP_PROGRESS_AFTER="0"))
        first = b""
        while True:
            line = p.stderr.readline()
            first += line
            if not line or b"progress:" in line:
                break
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        err = (first + err).decode()
        check("sigint: ... interrupted in its middle (it paused the "
              "process and had not answered)",
              "paused process" in err and out == b"", err[-300:])
        st = status_of(proc.pid)
        check("sigint: a live process: py-heap dies by SIGINT",
              p.returncode == -signal.SIGINT, p.returncode)
        check("sigint: ... and the target runs on, not traced",
              proc.poll() is None and st["TracerPid"].strip() == "0" and
              st["State"][0] in "RS", st.get("State"))
    except Exception as e:
        check("sigint: a live process", False, e)
    finally:
        proc.kill()
        proc.wait()


def options_checks(binary, core):
    base = ["--core", core] + INTERP.py_heap_args()
    cases = [
        ("--opt=VALUE everywhere", ["--core=" + core] +
         (["--sysroot=" + INTERP.root] if INTERP.root else []) +
         ["--debug-dir=/nonexistent", "--json", "types", "--limit=1"], 0),
        ("--batch=FILE", base + ["--batch=/dev/null"], 0),
        ("-- ends the options", base + ["list", "--limit", "1", "--",
                                        "str"], 0),
        ("a repeated option is an error", base + ["--core", core, "types"], 2),
        ("... in a command too", base + ["types", "--limit", "1",
                                         "--limit=2"], 2),
        ("a flag takes no value", base + ["cycles", "--unreachable=1"], 2),
        ("help types (no core needed)", ["help", "types"], 0),
        ("types --help (no core needed)", ["types", "--help"], 0),
        ("help of an unknown command", ["help", "frobnicate"], 2),
        ("--version", ["--version"], 0),
    ]
    for name, args, want in cases:
        try:
            rc, out, err = run(binary, args)
            check("options: %s" % name, rc == want,
                  "exit %d: %s" % (rc, err.strip()[-300:]))
        except Exception as e:
            check("options: %s" % name, False, e)
    try:
        rc, out, err = run(binary, ["help", "types"])
        check("options: help types tells its options",
              b"--sort count|size" in out and b"--limit N" in out, out)
        rc, out, err = run(binary, ["--version"])
        rc2, out2, _ = run(binary, base + ["--json", "info"])
        v = out.decode().split()[-1]
        check("version: --version and info agree",
              strict_json(out2)[0]["version"] == v, (out, out2[-100:]))
        rc, out, err = run(binary, ["--json", "help"])
        d = strict_json(out)[0]
        check("help --json: the command table",
              {"types", "path", "cycles", "help", "version"} <=
              {c["name"] for c in d["commands"]}, d.keys())
    except Exception as e:
        check("options: help and version", False, e)


def man_checks(binary):
    # The page as the build makes it ($(BIN) help --man): a build of the
    # binary alone (the sanitizer's) has no man/py-heap.1 until make
    # install below writes one, and rendering a file that is not there yet
    # failed the first run in a fresh tree.
    try:
        man_rc, page, _ = run(binary, ["help", "--man"])
        with tempfile.NamedTemporaryFile("wb", suffix=".1") as f:
            f.write(page)
            f.flush()
            r = subprocess.run(["man", "-l", f.name], capture_output=True,
                               text=True, timeout=60,
                               env=dict(os.environ, MANWIDTH="80"))
        rc, out, err = run(binary, ["--json", "help"])
        names = [c["name"] for c in strict_json(out)[0]["commands"]]
        missing = [n for n in names if n not in r.stdout]
        check("man: py-heap(1) renders and names every command",
              man_rc == 0 and r.returncode == 0 and "SYNOPSIS" in r.stdout
              and not missing, missing or r.stderr)
        with tempfile.TemporaryDirectory() as dest:
            r = subprocess.run(["make", "-s", "-C", ROOT, "install",
                                "DESTDIR=" + dest, "PREFIX=/usr",
                                "BUILD=" + os.path.dirname(os.path.dirname(
                                    binary))],
                               capture_output=True, text=True, timeout=600)
            r2 = subprocess.run(["man", "-M", dest + "/usr/share/man",
                                 "py-heap"], capture_output=True, text=True,
                                timeout=60)
            check("man: make install puts it where man finds it",
                  r.returncode == 0 and "py-heap" in r2.stdout,
                  r.stderr[-300:] + r2.stderr[-300:])
    except Exception as e:
        check("man", False, e)


def env_doc_checks():
    """Every environment variable py-heap reads (a "PYHEAP_..." string in
    native/ or gdb/) has its row in docs/manual.md's table of them, and
    every row there names one it reads: a knob a user cannot find, or a
    row for one gone, is a contract broken."""
    import re
    read = set()
    for top in ("native", "gdb"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".c", ".h", ".py")):
                    with open(os.path.join(d, f), errors="replace") as fh:
                        read |= set(re.findall(r'"(PYHEAP_[A-Z0-9_]+)"',
                                               fh.read()))
    with open(os.path.join(ROOT, "docs", "manual.md")) as fh:
        rows = set(re.findall(r"^\| `(PYHEAP_[A-Z0-9_]+)` \|", fh.read(),
                              re.M))
    check("environment: every variable read is in the manual's table (%d)"
          % len(read), read and not read - rows, sorted(read - rows))
    check("environment: every variable in the manual's table is read",
          rows and not rows - read, sorted(rows - read))


def gdb_checks(binary, core):
    env = dict(os.environ, DEBUGINFOD_URLS="", PYHEAP_LIB=os.path.join(
        os.path.dirname(os.path.dirname(binary)), "lib", "libpyheap.so"))
    try:
        out = subprocess.run(
            ["gdb", "-batch", "-nx"] + INTERP.gdb_args() +
            ["-ex", "source %s" % os.path.join(ROOT, "gdb/py-heap.py"),
             "-ex", "py-heap version",
             "-ex", "help py-heap version",
             "-ex", "complete py-heap types --so",
             "-ex", "complete py-heap types --sort c",
             "-ex", "complete py-heap refcheck --type dic",
             "-ex", "complete py-heap help ref",
             "-ex", "py-heap types --help",
             INTERP.exe, core], capture_output=True, text=True,
            timeout=300, env=env, stdin=subprocess.DEVNULL)
        lines = out.stdout.splitlines()
        rc, v, _ = run(binary, ["--version"])
        check("gdb: py-heap version", v.decode().strip() in lines,
              out.stdout[-500:] + out.stderr[-500:])
        check("gdb: help of a command made from the table",
              "Usage: py-heap version [--json]" in out.stdout, out.stdout)
        for want in ("py-heap types --sort", "py-heap types --sort count",
                     "py-heap refcheck --type dict", "py-heap help refcheck",
                     "py-heap help referrers"):
            check("gdb: complete gives '%s'" % want, want in lines,
                  [l for l in lines if l.startswith("py-heap")])
        check("gdb: types --help", "usage: py-heap [OPTIONS] types" in
              out.stdout and "Traceback" not in out.stderr, out.stderr[-500:])
    except Exception as e:
        check("gdb", False, e)


def cache_checks(binary, core):
    """The caches of what an interpreter's build gives (docs/design.md):
    the DWARF check's outcome (layout-*) and the runtime's symbols
    (syms-*). Each used when whole and private, never trusted otherwise,
    never written through a planted link."""
    for key, prefix, name in (("layout_cached", "layout-", "cache"),
                              ("symbols_cached", "syms-", "symbols cache")):
        one_cache_checks(binary, core, key, prefix, name)


def one_cache_checks(binary, core, key, prefix, name):
    # (--no-cache: the core's index cache, in the same directory, is
    # cache_checks.py's)
    base = ["--core", core] + INTERP.py_heap_args() + ["--no-cache",
                                                        "--json", "info"]
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o700)
        cdir = os.path.join(d, "c")
        env = dict(os.environ, PYHEAP_CACHE_DIR=cdir)

        def run(extra_env=None):
            r = subprocess.run(wrapper() + [binary] + base,
                               env=dict(env, **(extra_env or {})),
                               capture_output=True, timeout=300)
            return strict_json(r.stdout)[0] if r.returncode == 0 \
                else "exit %d" % r.returncode

        def cached():
            info = run()
            return info[key] if isinstance(info, dict) else info

        def mine():
            return [f for f in os.listdir(cdir) if f.startswith(prefix)
                    and "." not in f] if os.path.isdir(cdir) else []

        def answer(info):   # (without what says where it came from)
            if not isinstance(info, dict):
                return info
            info = dict(info)
            for k in ("layout_cached", "symbols_cached"):
                info.pop(k, None)
            info["layout_source"] = info["layout_source"].replace(
                " (the check's outcome cached)", "")
            return info
        try:
            first, second = cached(), cached()
            files = mine()
            if not files:
                check("%s: (nothing to cache here)" % name, True)
                return
            # (symbols: one file per module searched, the executable's
            # and a libpython's)
            check("%s: written once, then used" % name, first is False and
                  second is True and 1 <= len(files) <= (
                      1 if prefix == "layout-" else 2), (first, second, files))
            check("%s: the answer as without it" % name,
                  answer(run()) == answer(run({"PYHEAP_NO_CACHE": "1"})))
            path = os.path.join(cdir, files[0])
            with open(path, "r+b") as f:
                f.seek(40)
                b = f.read(1)
                f.seek(40)
                f.write(bytes([b[0] ^ 0xff]))
            check("%s: a damaged file is not used (and is rewritten)" % name,
                  cached() is False and cached() is True)
            with open(path, "r+b") as f:
                f.truncate(100)
            check("%s: a cut file is not used" % name, cached() is False)
            os.chmod(cdir, 0o777)
            for f in os.listdir(cdir):
                os.unlink(os.path.join(cdir, f))
            check("%s: not in a directory others may write" % name,
                  cached() is False and not os.listdir(cdir))
            os.chmod(cdir, 0o700)
            victim = os.path.join(d, "victim")
            with open(victim, "w") as f:
                f.write("secret")
            os.symlink(victim, path)
            cached()
            check("%s: a planted link is replaced, never written through"
                  % name, open(victim).read() == "secret" and
                  not os.path.islink(path))
        except Exception as e:
            check(name, False, e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--no-gdb", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="no SIGINT, pipe or man checks (sanitizer runs)")
    a = ap.parse_args()
    global INTERP
    INTERP = Interp(a.python)
    outdir = os.path.join(a.cores_dir, "heap_strings-" + INTERP.tag)
    core = INTERP.take_core("heap_strings.py", outdir,
                            need=("ready", "truth.json"))
    with open(os.path.join(outdir, "truth.json")) as f:
        t = json.load(f)
    strings_checks(a.bin, core, t)
    names_checks(a.bin, core, t)
    batch_checks(a.bin, core)
    error_json_checks(a.bin, core)
    partial_checks(a.bin, core)
    options_checks(a.bin, core)
    cache_checks(a.bin, core)
    env_doc_checks()
    if not a.quick:
        write_checks(a.bin, core)
        exit_checks(a.bin, core)
        sigint_checks(a.bin, core)
        man_checks(a.bin)
    if not a.no_gdb:
        gdb_checks(a.bin, core)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    sys.exit(1 if results["failed"] else 0)


main()
