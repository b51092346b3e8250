#!/usr/bin/env python3
"""py-heap installed as users install it (issue 22, packaging):

  * make install / make uninstall, with DESTDIR and with PREFIX: the files
    and links where they belong (libpyheap.so.0 as SONAME, its real file
    and the .so link; RUNPATH only outside the system's library
    directories), uninstall leaves the tree as it was, files put there by
    others included;
  * an installation used: py-heap runs; pkg-config pyheap gives the flags a
    C program (tests/package/pyheap_demo.c) builds with and runs; man
    py-heap; GDB loads py-heap through the gdbinit file and the installed
    library; the bash completion completes what the command table has
    (every command, option and choice) and type names from --core;
  * the Debian packages (make deb) in a fresh Debian 12 root
    (fixtures/provision.sh bookworm-pkg, used through an overlay, so the
    cached root is never changed): dpkg -i without the network, man
    py-heap, py-heap --version, py-heap --core on a core of the root's
    python3.11 (its user classes counted as the process counted them),
    gdb -batch with a fresh HOME has py-heap without `source`, the demo
    program built against libpyheap-dev, bash-completion loads the
    completion; dpkg -r leaves only the conffile (and GDB quiet), dpkg
    --purge leaves nothing.

    python3 tests/package/package_checks.py --build build \\
        [--python /usr/bin/python3.11] [--no-root]

Without debootstrap or the network the root cannot be made: its checks
are skipped with a message, and fail with PYHEAP_REQUIRE_ROOTS=1 (CI).
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from interp import Interp  # noqa: E402

results = {"passed": 0, "failed": 0, "skipped": 0}
VERSION = open(os.path.join(ROOT, "VERSION")).read().strip()
SOMAJOR = "0"
# The three packages, in the order dpkg -r takes them.
PACKAGES = ["py-heap", "libpyheap-dev", "libpyheap0"]
ENV = dict(os.environ, DEBUGINFOD_URLS="", LC_ALL="C.UTF-8")
ENV.pop("PYHEAP_LIB", None)
ENV.pop("LD_LIBRARY_PATH", None)


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    sys.stdout.flush()
    return ok


def skip(name, why):
    results["skipped"] += 1
    print("SKIP %s: %s" % (name, why))
    sys.stdout.flush()


def run(argv, env=None, timeout=300, **kw):
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, env=env or ENV,
                          stdin=subprocess.DEVNULL, **kw)


def tail(r):
    return ("exit %d: %s %s" % (r.returncode, r.stdout[-600:],
                                r.stderr[-600:])).strip()


def tree(top):
    """Every path under top (relative), with what it is: a file's mode, a
    link's target, 'dir'."""
    out = {}
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, top)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            elif os.path.isdir(p):
                out[rel] = "dir"
            else:
                out[rel] = "file %o" % (os.stat(p).st_mode & 0o7777)
    return out


def readelf_dynamic(path):
    r = run(["readelf", "-d", path])
    tags = {}
    for m in re.finditer(r"\((\w+)\)\s+.*?\[(.*?)\]", r.stdout):
        tags.setdefault(m.group(1), []).append(m.group(2))
    return tags


def make(build, *args):
    return run(["make", "-C", ROOT, "-s", "BUILD=" + build] + list(args),
               timeout=600)


# ---- bash completion ------------------------------------------------------

def complete(script, words, bash=("bash",), prelude=""):
    """COMPREPLY of the completion function for the line `words` (the last
    one the word at the cursor), in a non-interactive bash that sourced
    script (or, with prelude, ran that instead)."""
    cw = " ".join(shlex.quote(w) for w in words)
    prog = prelude or ". %s" % shlex.quote(script)
    code = ("%s\nCOMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
            "COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}\n"
            "_py_heap; printf '%%s\\n' \"${COMPREPLY[@]}\"" % (prog, cw))
    r = subprocess.run(list(bash) + ["-c", code], capture_output=True,
                       text=True, timeout=300, env=ENV)
    return [l for l in r.stdout.splitlines() if l], r


def completion_checks(label, script, binary, core, sysroot=None,
                      bash=("bash",), prelude="", types=None):
    """The completion against the command table (`--json help`): every
    command, each command's options, each option's choices; file names;
    type names read from --core (types: the names expected)."""
    table = json.loads(run([binary, "--json", "help"]).stdout)
    prog = binary

    def c(words):
        return complete(script, [prog] + words, bash, prelude)[0]

    names = [x["name"] for x in table["commands"]]
    got = c([""])
    check("%s: the commands" % label, got == names, got)
    want = [o["name"] for o in table["options"]]
    got = c(["--"])
    check("%s: the global options" % label, got == want, got)
    bad = []
    for cmd in table["commands"]:
        opts = [o["name"] for o in cmd["options"]]
        want = opts + [n for n in ("--json", "--plain", "--quiet", "--help")
                       if n not in opts]
        got = c([cmd["name"], "--"])
        if got != want:
            bad.append((cmd["name"], got, want))
        for o in cmd["options"]:
            if o["choices"]:
                got = c([cmd["name"], o["name"], ""])
                if sorted(got) != sorted(o["choices"]):
                    bad.append((cmd["name"], o["name"], got))
                # --opt=VALUE, split at '=' as bash's COMP_WORDBREAKS does
                got = c([cmd["name"], o["name"], "=", o["choices"][0][:1]])
                want = [v for v in o["choices"]
                        if v.startswith(o["choices"][0][:1])]
                if got != want:
                    bad.append((cmd["name"], o["name"] + "=", got))
    check("%s: each command's options and their choices (%d commands)"
          % (label, len(table["commands"])), not bad, bad[:3])
    got = c(["types", "--limit", "5", "--"])
    types_opts = [o["name"] for cmd in table["commands"]
                  if cmd["name"] == "types" for o in cmd["options"]
                  if o["name"] != "--limit"]
    check("%s: an option given is not offered again" % label,
          got == types_opts + ["--json", "--plain", "--quiet", "--help"], got)
    got = c(["help", "ref"])
    check("%s: help COMMAND" % label,
          got == [n for n in names if n.startswith("ref")], got)
    d = os.path.dirname(core)
    got = c(["--core", os.path.join(d, "co")])
    check("%s: --core completes file names" % label,
          core in got, (core, got))
    base = ["--core", core] + (["--sysroot", sysroot] if sysroot else [])
    got = c(base + ["list", "__main__."])
    want = types if types is not None else []
    check("%s: list TYPE completes the core's type names" % label,
          got and all(t in got for t in want) and
          all(g.startswith("__main__.") for g in got), (want, got))
    got = c(base + ["refcheck", "--type", "dic"])
    check("%s: refcheck --type completes type names" % label,
          "dict" in got, got)
    got = c(["--core=" + core] + base[2:] + ["list", "bu"])
    check("%s: --core=CORE is read too" % label,
          "builtin_function_or_method" in got, got)
    got = c(["--core", os.path.join(d, "no-such-core"), "list", ""])
    check("%s: no type names without a readable core" % label,
          got == [], got)


# ---- make install / uninstall ----------------------------------------------

def install_checks(build, interp, host_core, host_types):
    """make install with DESTDIR, then with PREFIX alone; each used and
    uninstalled."""
    build = os.path.abspath(build)
    with tempfile.TemporaryDirectory(prefix="pyheap-install.") as tmp:
        dest = os.path.join(tmp, "dest")
        # Someone else's files where py-heap installs: left alone.
        for d in ("usr/local/bin", "usr/local/lib/pkgconfig",
                  "usr/local/share/man/man1", "etc/gdb/gdbinit.d"):
            os.makedirs(os.path.join(dest, d))
        for f in ("usr/local/lib/libother.so.1", "usr/local/lib/pkgconfig/other.pc",
                  "etc/gdb/gdbinit.d/other.gdb"):
            open(os.path.join(dest, f), "w").close()
        before = tree(dest)
        r = make(build, "install", "DESTDIR=" + dest)
        if not check("make install DESTDIR=", r.returncode == 0, tail(r)):
            return
        after = tree(dest)
        added = {k: v for k, v in after.items() if k not in before}
        lib = "usr/local/lib/"
        want_files = {
            "usr/local/bin/py-heap": "file 755",
            lib + "libpyheap.so.%s" % VERSION: "file 644",
            lib + "libpyheap.so.%s" % SOMAJOR: "-> libpyheap.so.%s" % VERSION,
            lib + "libpyheap.so": "-> libpyheap.so.%s" % SOMAJOR,
            "usr/local/include/pyheap.h": "file 644",
            lib + "pkgconfig/pyheap.pc": "file 644",
            "usr/local/share/man/man1/py-heap.1": "file 644",
            "usr/local/share/bash-completion/completions/py-heap": "file 644",
            "usr/local/share/py-heap/gdb/py-heap.py": "file 644",
            "usr/local/share/py-heap/created-dirs": "file 644",
            "etc/gdb/gdbinit.d/py-heap.py": "file 644",
        }
        got_files = {k: v for k, v in added.items() if v != "dir"}
        check("make install: the files, modes and links", got_files == want_files,
              sorted(set(got_files.items()) ^ set(want_files.items())))
        dyn = readelf_dynamic(os.path.join(dest, lib, "libpyheap.so." + VERSION))
        check("the library's SONAME is libpyheap.so.%s" % SOMAJOR,
              dyn.get("SONAME") == ["libpyheap.so." + SOMAJOR], dyn)
        dyn = readelf_dynamic(os.path.join(dest, "usr/local/bin/py-heap"))
        check("installed py-heap: NEEDED libpyheap.so.%s, RUNPATH /usr/local/lib"
              % SOMAJOR, "libpyheap.so." + SOMAJOR in dyn.get("NEEDED", []) and
              dyn.get("RUNPATH") == ["/usr/local/lib"], dyn)
        pc = open(os.path.join(dest, lib, "pkgconfig/pyheap.pc")).read()
        check("pyheap.pc: the version, /usr/local", "Version: %s\n" % VERSION in pc
              and "libdir=/usr/local/lib\n" in pc, pc)
        gdbinit = open(os.path.join(dest, "etc/gdb/gdbinit.d/py-heap.py")).read()
        check("the gdbinit file sources the installed script",
              '"source /usr/local/share/py-heap/gdb/py-heap.py"' in gdbinit, gdbinit)
        r = make(build, "uninstall", "DESTDIR=" + dest)
        check("make uninstall DESTDIR=: the tree as before, others' files kept",
              r.returncode == 0 and tree(dest) == before,
              (tail(r), sorted(set(tree(dest).items()) ^ set(before.items()))))

        # PREFIX alone: an installation that is used.
        prefix = os.path.join(tmp, "prefix")
        gdbinitdir = os.path.join(prefix, "gdbinit.d")
        vars_ = ["PREFIX=" + prefix, "GDBINITDIR=" + gdbinitdir]
        r = make(build, "install", *vars_)
        if not check("make install PREFIX=%s" % prefix, r.returncode == 0, tail(r)):
            return
        exe = os.path.join(prefix, "bin", "py-heap")
        r = run([exe, "--version"])
        check("installed py-heap --version (its RUNPATH: %s/lib)" % prefix,
              r.returncode == 0 and r.stdout == "py-heap %s\n" % VERSION, tail(r))
        r = run(["ldd", exe])
        check("ldd: libpyheap.so.%s from PREFIX/lib" % SOMAJOR,
              "libpyheap.so.%s => %s/lib/libpyheap.so.%s" % (SOMAJOR, prefix, SOMAJOR)
              in r.stdout, r.stdout)
        want = run([exe, "--core", host_core, "types", "--limit", "3"])
        check("installed py-heap --core CORE types", want.returncode == 0 and
              "total" in want.stdout, tail(want))
        pc_env = dict(ENV, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        r = run(["pkg-config", "--modversion", "pyheap"], env=pc_env)
        check("pkg-config --modversion pyheap", r.stdout.strip() == VERSION, tail(r))
        r = run(["pkg-config", "--cflags", "--libs", "pyheap"], env=pc_env)
        flags = r.stdout.split()
        check("pkg-config --cflags --libs pyheap",
              flags == ["-I%s/include" % prefix, "-L%s/lib" % prefix, "-lpyheap"],
              tail(r))
        demo = os.path.join(tmp, "pyheap_demo")
        r = run(["cc", "-std=c11", "-Wall", "-Werror", "-o", demo,
                 os.path.join(ROOT, "tests", "package", "pyheap_demo.c")] + flags)
        if check("a C program builds with pkg-config's flags", r.returncode == 0,
                 tail(r)):
            libdir = run(["pkg-config", "--variable=libdir", "pyheap"],
                         env=pc_env).stdout.strip()
            r = run([demo, host_core], env=dict(ENV, LD_LIBRARY_PATH=libdir))
            check("it runs: the library's version and types as py-heap prints them",
                  r.returncode == 0 and r.stdout == "libpyheap %s\n%s"
                  % (VERSION, want.stdout), (tail(r), want.stdout))
        r = run(["man", "py-heap"], env=dict(ENV, MANPATH=os.path.join(
            prefix, "share", "man"), MANWIDTH="80"))
        check("man py-heap (MANPATH=PREFIX/share/man)", r.returncode == 0 and
              "py-heap - inspect the Python heap" in r.stdout, tail(r))
        gdb_checks_installed(prefix, gdbinitdir, interp, host_core, want.stdout)
        completion_checks("completion (make install)",
                          os.path.join(prefix, "share", "bash-completion",
                                       "completions", "py-heap"),
                          exe, host_core, types=host_types)
        r = make(build, "uninstall", *vars_)
        check("make uninstall PREFIX=: nothing left, PREFIX itself removed",
              r.returncode == 0 and not os.path.exists(prefix),
              (tail(r), tree(prefix) if os.path.exists(prefix) else None))


def gdb_checks_installed(prefix, gdbinitdir, interp, core, types_text):
    """GDB through the installed gdbinit file (given with -x: GDB reads
    only its own system directory by itself; the Debian root checks that)."""
    r = run(["gdb", "-batch", "-nx", "-x", os.path.join(gdbinitdir, "py-heap.py"),
             "-ex", "python print(_pyheap_get_lib().path)",
             "-ex", "py-heap types --limit 3",
             interp.exe, core])
    lines = r.stdout.splitlines()
    check("gdb: the installed script loads the installed library",
          "%s/lib/libpyheap.so.%s" % (prefix, SOMAJOR) in lines, tail(r))
    check("gdb: py-heap types as the CLI prints it", types_text in r.stdout,
          (types_text, r.stdout[-800:]))


# ---- the Debian packages in a fresh root ------------------------------------

class Root:
    """An overlay of the cached root (or a copy where overlayfs cannot be
    mounted), with /proc; everything written goes to the upper layer."""

    def __init__(self, lower, work):
        self.lower = lower
        self.work = work
        self.merged = os.path.join(work, "merged")
        self.upper = os.path.join(work, "upper")
        self.mounts = []
        self.overlay = False

    def __enter__(self):
        self.cleanup()
        for d in ("upper", "ovl-work", "merged"):
            os.makedirs(os.path.join(self.work, d))
        r = run(["mount", "-t", "overlay", "overlay", "-o",
                 "lowerdir=%s,upperdir=%s,workdir=%s" % (
                     self.lower, self.upper, os.path.join(self.work, "ovl-work")),
                 self.merged])
        if r.returncode == 0:
            self.overlay = True
            self.mounts.append(self.merged)
        else:
            print("package_checks: no overlayfs (%s): copying the root"
                  % r.stderr.strip())
            os.rmdir(self.merged)
            subprocess.run(["cp", "-a", self.lower, self.merged], check=True)
        proc = os.path.join(self.merged, "proc")
        if run(["mount", "-t", "proc", "proc", proc]).returncode == 0:
            self.mounts.append(proc)
        return self

    def cleanup(self):
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        self.mounts = []
        if os.path.exists(self.work):
            # (anything still mounted below from an interrupted run)
            with open("/proc/self/mountinfo") as f:
                stale = [l.split()[4] for l in f
                         if l.split()[4].startswith(self.work + "/")]
            for m in sorted(stale, reverse=True):
                subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
            subprocess.run(["rm", "-rf", "--one-file-system", self.work])

    def __exit__(self, *exc):
        self.cleanup()

    def path(self, p):
        return os.path.join(self.merged, p.lstrip("/"))

    def run(self, argv, home="/root", timeout=300):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": home,
               "LC_ALL": "C.UTF-8", "DEBUGINFOD_URLS": "", "TERM": "dumb"}
        return run(["chroot", self.merged] + argv, env=env, timeout=timeout)


def provision_root(suite):
    r = run(["bash", os.path.join(ROOT, "fixtures", "provision.sh"), suite],
            timeout=3600)
    path = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    if r.returncode != 0 or not os.path.isdir(path):
        return None, r.stderr.strip().splitlines()[-3:]
    return path, None


def deb_checks(build, suite):
    """The packages of make deb in a fresh root of suite."""
    debdir = os.path.join(os.path.abspath(build), "deb")
    debs = {}
    for p in PACKAGES:
        path = os.path.join(debdir, "%s_%s_amd64.deb" % (p, VERSION))
        if os.path.exists(path):
            debs[p] = path
    if not check("make deb left the three packages in %s" % debdir,
                 len(debs) == 3, sorted(os.listdir(debdir))
                 if os.path.isdir(debdir) else "no " + debdir):
        return
    lower, why = provision_root(suite)
    if lower is None:
        msg = ("no Debian %s root (fixtures/provision.sh %s: %s): the "
               "packages are not tested in it" % (suite, suite, " ".join(why)))
        if os.environ.get("PYHEAP_REQUIRE_ROOTS") == "1":
            check("the %s root" % suite, False, msg)
        else:
            skip("the Debian packages in a fresh root", msg)
        return
    with Root(lower, os.path.join(os.path.abspath(build), "pkgroot")) as root:
        in_root_checks(root, debs, build)


def in_root_checks(root, debs, build):
    os.makedirs(root.path("/tmp/debs"), exist_ok=True)
    for p, path in debs.items():
        shutil.copy(path, root.path("/tmp/debs"))
    names = ["/tmp/debs/" + os.path.basename(debs[p]) for p in PACKAGES]
    r = root.run(["dpkg", "-i"] + names)
    if not check("dpkg -i the three packages (no network: their dependencies "
                 "are in the root)", r.returncode == 0, tail(r)):
        return
    lists = {}
    for p in PACKAGES:
        lists[p] = root.run(["dpkg-query", "-L", p]).stdout.split("\n")
        lists[p] = [l for l in lists[p] if l.startswith("/")]
    conffiles = root.run(["dpkg-query", "-W", "-f", "${Conffiles}",
                          "py-heap"]).stdout.split()
    conffiles = [c for c in conffiles if c.startswith("/")]
    check("the conffile is the gdbinit file",
          conffiles == ["/etc/gdb/gdbinit.d/py-heap.py"], conffiles)
    r = root.run(["ldconfig", "-p"])
    check("ldconfig knows libpyheap.so.%s" % SOMAJOR,
          "libpyheap.so.%s " % SOMAJOR in r.stdout, tail(r))

    r = root.run(["man", "-w", "py-heap"])
    check("man -w py-heap", r.stdout.strip() == "/usr/share/man/man1/py-heap.1.gz",
          tail(r))
    r = root.run(["sh", "-c", "MANWIDTH=80 man py-heap"])
    check("man py-heap", r.returncode == 0 and
          "py-heap - inspect the Python heap" in r.stdout and
          "types" in r.stdout, tail(r))
    r = root.run(["py-heap", "--version"])
    check("py-heap --version", r.stdout == "py-heap %s\n" % VERSION, tail(r))

    # A core taken there, as a user of that system takes one: the root's
    # python3.11 (not the host's: another build), gcore inside the root
    # (the core names its files as the root sees them).
    for f in ("take-core.sh", "heap_basic.py"):
        shutil.copy(os.path.join(ROOT, "fixtures", f), root.path("/tmp/" + f))
    r = root.run(["bash", "/tmp/take-core.sh", "/usr/bin/python3.11",
                  "/tmp/heap_basic.py", "/tmp/out"], timeout=900)
    if not check("a core of the root's python3.11, taken there",
                 r.returncode == 0 and r.stdout.strip() == "/tmp/out/core",
                 tail(r)):
        return
    core = root.path("/tmp/out/core")
    outdir = root.path("/tmp/out")
    truth = json.load(open(os.path.join(outdir, "truth.json")))
    r = root.run(["py-heap", "--core", "/tmp/out/core", "--json", "types",
                  "--limit", "0"])
    try:
        got = {t["type"]: t["count"] for t in json.loads(r.stdout)["types"]}
        want = {k: v["count"] for k, v in truth["types"].items()
                if k.startswith("__main__.")}
        bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
        check("py-heap --core CORE types: the %d user classes counted as the "
              "process counted them" % len(want), want and not bad, bad)
    except ValueError:
        check("py-heap --core CORE types", False, tail(r))
    text = root.run(["py-heap", "--core", "/tmp/out/core", "types", "--limit", "3"])
    host = run([os.path.join(build, "bin", "py-heap"), "--core", core,
                "--sysroot", root.merged, "types", "--limit", "3"])
    check("py-heap types in the root as the build tree's outside",
          text.returncode == 0 and text.stdout == host.stdout,
          (tail(text), host.stdout))

    # GDB: a fresh HOME (no ~/.gdbinit), no source, no -x.
    home = "/tmp/fresh-home"
    os.makedirs(root.path(home), exist_ok=True)
    r = root.run(["gdb", "-batch", "-ex", "py-heap types --limit 3",
                  "-ex", "python print(_pyheap_get_lib().path)",
                  "-ex", "complete py-heap types --so",
                  "/usr/bin/python3.11", "/tmp/out/core"], home=home)
    check("gdb -batch (fresh HOME) has py-heap: types as the CLI prints it",
          text.stdout and text.stdout in r.stdout, tail(r))
    check("gdb: the packaged library (/usr/lib/x86_64-linux-gnu/libpyheap.so.%s)"
          % SOMAJOR, "/usr/lib/x86_64-linux-gnu/libpyheap.so.%s" % SOMAJOR
          in r.stdout.splitlines(), tail(r))
    check("gdb: completion", "py-heap types --sort" in r.stdout.splitlines(),
          tail(r))
    # (py-heap's note that the root has no python3.11-dbg is expected)
    bad = [l for l in r.stderr.splitlines() if l.strip() and
           not l.startswith("py-heap: no debug information for ")]
    check("gdb: no error, no traceback on stderr", not bad, bad[:5])
    r = root.run(["gdb", "-batch", "-nx", "-ex", "py-heap version"], home=home)
    check("gdb -nx: no py-heap (it came from /etc/gdb/gdbinit.d)",
          "Undefined command" in r.stderr, tail(r))

    # libpyheap-dev: the demo program, built here against the root's
    # header, .so link and pyheap.pc, runs there.
    pc_env = dict(ENV, PKG_CONFIG_SYSROOT_DIR=root.merged,
                  PKG_CONFIG_LIBDIR=root.path("/usr/lib/x86_64-linux-gnu/pkgconfig"))
    r = run(["pkg-config", "--cflags", "--libs", "pyheap"], env=pc_env)
    flags = r.stdout.split()
    check("libpyheap-dev: pkg-config --cflags --libs pyheap",
          r.returncode == 0 and "-lpyheap" in flags and
          "-L%s/usr/lib/x86_64-linux-gnu" % root.merged in flags, tail(r))
    r = run(["cc", "-std=c11", "-Wall", "-Werror", "-o", root.path("/tmp/pyheap_demo"),
             os.path.join(ROOT, "tests", "package", "pyheap_demo.c")] + flags +
            ["-I" + root.path("/usr/include")])
    if check("libpyheap-dev: the demo program builds against it",
             r.returncode == 0, tail(r)):
        r = root.run(["/tmp/pyheap_demo", "/tmp/out/core"])
        check("the demo program runs in the root", r.returncode == 0 and
              r.stdout == "libpyheap %s\n%s" % (VERSION, text.stdout), tail(r))

    # bash-completion finds the completion by itself (its loader).
    prelude = (". /usr/share/bash-completion/bash_completion\n"
               "__load_completion py-heap || exit 3\n"
               "complete -p py-heap >&2 || exit 4")
    words, r = complete(None, ["py-heap", "--core", "/tmp/out/core", "list",
                               "__main__.Se"], bash=("chroot", root.merged, "bash"),
                        prelude=prelude)
    check("bash-completion loads it: complete -p py-heap",
          r.stderr == "complete -F _py_heap py-heap\n", tail(r))
    check("bash: list TYPE from the core", words == ["__main__.Session"], tail(r))
    words, r = complete(None, ["py-heap", "types", "--sort", ""],
                        bash=("chroot", root.merged, "bash"), prelude=prelude)
    table = json.loads(run([os.path.join(build, "bin", "py-heap"), "--json",
                            "help"]).stdout)
    choices = [o["choices"] for cmd in table["commands"]
               if cmd["name"] == "types" for o in cmd["options"]
               if o["name"] == "--sort"][0]
    check("bash: a choice", sorted(words) == sorted(choices), tail(r))

    # dpkg -r: only the conffile stays, and GDB starts quietly with it.
    r = root.run(["dpkg", "-r"] + PACKAGES)
    check("dpkg -r", r.returncode == 0, tail(r))
    left = sorted(p for pkg in PACKAGES for p in lists[pkg]
                  if os.path.lexists(root.path(p)) and
                  not os.path.isdir(root.path(p)) and p not in conffiles)
    check("dpkg -r removed every file but the conffile", not left, left)
    check("the conffile stays until --purge",
          all(os.path.exists(root.path(c)) for c in conffiles), conffiles)
    r = root.run(["gdb", "-batch", "-ex", "echo ok\\n"], home=home)
    check("gdb with the conffile left and py-heap removed: quiet",
          r.returncode == 0 and r.stdout == "ok\n" and not r.stderr.strip(),
          tail(r))
    r = root.run(["ldconfig", "-p"])
    check("ldconfig forgot libpyheap", "libpyheap" not in r.stdout, tail(r))

    # dpkg --purge: nothing left; each path of the packages' lists is there
    # only if it was in the root before (/usr, /etc/gdb/gdbinit.d ...).
    r = root.run(["dpkg", "--purge"] + PACKAGES)
    check("dpkg --purge", r.returncode == 0, tail(r))
    left = sorted(p for pkg in PACKAGES for p in lists[pkg]
                  if os.path.lexists(root.path(p)) and
                  not os.path.lexists(os.path.join(root.lower, p.lstrip("/"))))
    check("dpkg --purge: nothing of the packages' lists left (%d paths)"
          % sum(len(v) for v in lists.values()), not left, left)
    r = root.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n"]
                 + PACKAGES)
    check("dpkg knows no py-heap package any more",
          "ii" not in r.stdout and "rc" not in r.stdout, r.stdout + r.stderr)
    r = root.run(["man", "-w", "py-heap"])
    check("man -w py-heap: no manual page any more", r.returncode != 0, tail(r))
    if root.overlay:
        # Everything written to the root since it was made: only this
        # test's /tmp, dpkg's own state and logs, and caches (ldconfig's,
        # man-db's, the bytecode of GDB's own Python modules, and the
        # user's own py-heap cache: the index of the cores root read, a
        # user's file as any tool's ~/.cache, not the package's).
        allowed = ("tmp/", "var/log/", "var/lib/dpkg/", "var/cache/man/",
                   "var/cache/ldconfig/", "etc/ld.so.cache",
                   "root/.cache/py-heap/")
        extra = []
        for d, dirs, files in os.walk(root.upper):
            for n in files:
                rel = os.path.relpath(os.path.join(d, n), root.upper)
                pyc = rel.startswith("usr/share/gdb/python/") and \
                    "/__pycache__/" in rel
                if not (rel.startswith(allowed) or pyc) or (
                        rel.startswith("var/lib/dpkg/info/") and
                        any(rel.startswith("var/lib/dpkg/info/%s" % p)
                            for p in ("py-heap", "libpyheap"))):
                    extra.append(rel)
        check("the root holds nothing else written since it was made (its "
              "overlay's upper layer)", not extra, extra[:10])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--python", default="/usr/bin/python3.11",
                    help="the interpreter of the host's core")
    ap.add_argument("--cores-dir", default=None)
    ap.add_argument("--suite", default="bookworm-pkg")
    ap.add_argument("--no-root", action="store_true",
                    help="only make install / uninstall, not the packages")
    a = ap.parse_args()
    cores_dir = os.path.abspath(a.cores_dir or os.path.join(a.build, "cores"))
    interp = Interp(a.python)
    outdir = os.path.join(cores_dir, "heap_basic-%s" % interp.tag)
    core = interp.take_core("heap_basic.py", outdir, need=("ready", "truth.json"))
    truth = json.load(open(os.path.join(outdir, "truth.json")))
    host_types = sorted(k for k in truth["types"] if k.startswith("__main__."))
    install_checks(a.build, interp, core, host_types)
    completion_checks("completion (build tree)",
                      os.path.join(a.build, "completion", "py-heap"),
                      os.path.abspath(os.path.join(a.build, "bin", "py-heap")),
                      core, types=host_types)
    if not a.no_root:
        deb_checks(a.build, a.suite)
    print("package_checks: %d passed, %d failed, %d skipped"
          % (results["passed"], results["failed"], results["skipped"]))
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
