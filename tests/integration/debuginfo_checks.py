#!/usr/bin/env python3
"""Debug information by build-id, through a real debuginfod server.

Starts elfutils' debuginfod on 127.0.0.1 serving the debug file of Debian's
/usr/bin/python3.11 (from python3.11-dbg), hides /usr/lib/debug from
py-heap (PYHEAP_DEBUG_FILE_DIRECTORY=""), and checks that a core gives the
same answer through the server as with the debug file installed, that a
second run is served from the cache, and that an unreachable server or a
missing build-id degrades cleanly and quickly.

    python3 tests/integration/debuginfo_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graph_checks  # noqa: E402  (take_core, check, the counters)
from interp import sections  # noqa: E402

check = graph_checks.check
PY = "/usr/bin/python3.11"


def build_id(path):
    out = subprocess.run(["eu-readelf", "-n", path], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:")[1].strip()
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(files_dir, work):
    port = free_port()
    log = open(os.path.join(work, "debuginfod-%d.log" % port), "w")
    env = dict(os.environ)
    env.pop("DEBUGINFOD_URLS", None)   # no federation: this server only
    proc = subprocess.Popen(
        ["debuginfod", "-F", files_dir, "-p", str(port), "-d",
         os.path.join(work, "db-%d.sqlite" % port), "-t", "0", "-g", "0"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    return proc, port


def wait_served(port, bid, timeout=60):
    url = "http://127.0.0.1:%d/buildid/%s/debuginfo" % (port, bid)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except Exception:
            pass
        time.sleep(0.3)
    return False


def same_but_static_types(without, ref):
    """Without debug information only static type objects named by the
    symbol table alone can be missing: every other row is the same."""
    a = {t["type"]: (t["count"], t["bytes"]) for t in without["types"]}
    b = {t["type"]: (t["count"], t["bytes"]) for t in ref["types"]}
    for k in set(a) | set(b):
        if k == "type":
            if a.get(k, (0, 0))[0] > b.get(k, (0, 0))[0]:
                return False
        elif a.get(k) != b.get(k):
            return False
    return True


def damaged_copy(work, name, dbg, bid, section, where, n, mask):
    """A copy of the debug file dbg in work/name's build-id tree, n bytes
    of its section (as the file holds it) xor-ed with mask from
    where(the section's size) on."""
    d = os.path.join(work, name, ".build-id", bid[:2])
    os.makedirs(d)
    path = os.path.join(d, bid[2:] + ".debug")
    shutil.copy(dbg, path)
    at, size, _ = sections(path)[section]
    with open(path, "r+b") as f:
        f.seek(at + where(size))
        b = f.read(n)
        f.seek(at + where(size))
        f.write(bytes(x ^ mask for x in b))


def dwarf_env(image):
    """How the DWARF is read: "1" inflated by py-heap (libdeflate where it
    is installed), "zlib" the same with zlib only, "0" by libdw whole."""
    return {"PYHEAP_DWARF_IMAGE": "0" if image == "0" else "1",
            "PYHEAP_LIBDEFLATE": "0" if image == "zlib" else "1"}


def run(binary, core, env, *args):
    # Each run does the work: the outputs' cache would answer a command
    # with what the reference run printed, found with the debug file, and
    # look for no debug information at all.
    e = dict(os.environ, PYHEAP_NO_OUTPUT_CACHE="1")
    e.update(env)
    t = time.time()
    r = subprocess.run([binary, "--core", core, "--json"] + list(args),
                       capture_output=True, text=True, env=e, timeout=120)
    return r, time.time() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cores-dir", required=True)
    a = ap.parse_args()
    dbg = None
    bid = build_id(os.path.realpath(PY))
    if bid:
        dbg = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
    if not shutil.which("debuginfod") or not dbg or not os.path.exists(dbg):
        print("SKIP debuginfod: needs debuginfod and python3.11-dbg")
        print("0 passed, 0 failed")
        return 0
    core = graph_checks.take_core("heap_graph.py",
                                  os.path.join(a.cores_dir, "heap_graph-3.11"))
    work = tempfile.mkdtemp(prefix="pyheap-debuginfod-")
    files = os.path.join(work, "files")
    empty = os.path.join(work, "empty")
    os.makedirs(files)
    os.makedirs(empty)
    shutil.copy(dbg, os.path.join(files, "python3.11.debug"))
    cache = os.path.join(work, "cache")
    procs = []
    try:
        # The reference: the debug file installed where Debian puts it.
        ref, _ = run(a.bin, core, {"DEBUGINFOD_URLS": ""}, "types")
        ref_info, _ = run(a.bin, core, {"DEBUGINFOD_URLS": ""}, "info")
        ref_types = json.loads(ref.stdout)
        check("reference uses the arena table",
              "arena table" in json.loads(ref_info.stdout)["pymalloc_source"],
              ref_info.stdout)
        check("reference: layouts checked against the DWARF",
              "checked against DWARF" in json.loads(ref_info.stdout)["layout_source"],
              ref_info.stdout)

        server, port = start_server(files, work)
        procs.append(server)
        if not wait_served(port, bid):
            check("debuginfod serves the debug file", False, "not within 60 s")
            return
        env = {"DEBUGINFOD_URLS": "http://127.0.0.1:%d" % port,
               "DEBUGINFOD_CACHE_PATH": cache,
               "PYHEAP_DEBUG_FILE_DIRECTORY": ""}
        r, _ = run(a.bin, core, env, "types")
        check("through debuginfod: exit 0", r.returncode == 0, r.stderr)
        check("through debuginfod: the same answer",
              json.loads(r.stdout) == ref_types)
        i, _ = run(a.bin, core, env, "info")
        info = json.loads(i.stdout)
        check("through debuginfod: info names it",
              info["debug_source"] == "debuginfod" and
              info["debug_file"].startswith(cache), info)
        check("through debuginfod: arena table used",
              "arena table" in info["pymalloc_source"], info)
        check("through debuginfod: layouts checked against its DWARF",
              "checked against DWARF" in info["layout_source"], info)
        check("through debuginfod: no note about missing debug info",
              "no debug information" not in r.stderr, r.stderr)

        server.terminate()
        server.wait()
        r, _ = run(a.bin, core, env, "info")
        check("second run: served from the cache with the server gone",
              r.returncode == 0 and
              json.loads(r.stdout)["debug_source"] == "debuginfod", r.stderr)

        # Unreachable server: a clean, quick fallback.
        env2 = dict(env, DEBUGINFOD_URLS="http://127.0.0.1:%d" % free_port(),
                    DEBUGINFOD_CACHE_PATH=os.path.join(work, "cache2"))
        r, took = run(a.bin, core, env2, "types")
        check("unreachable server: exit 0 within 10 s",
              r.returncode == 0 and took < 10, "%s %.1fs" % (r.stderr, took))
        check("unreachable server: answer still right",
              same_but_static_types(json.loads(r.stdout), ref_types))
        check("unreachable server: one note says so",
              "no debug information" in r.stderr and "debuginfod" in r.stderr,
              r.stderr)

        # A server that does not have the build-id.
        server2, port2 = start_server(empty, work)
        procs.append(server2)
        time.sleep(2)
        env3 = dict(env, DEBUGINFOD_URLS="http://127.0.0.1:%d" % port2,
                    DEBUGINFOD_CACHE_PATH=os.path.join(work, "cache3"))
        r, took = run(a.bin, core, env3, "types")
        check("missing build-id: exit 0, answer right, within 10 s",
              r.returncode == 0 and took < 10 and
              same_but_static_types(json.loads(r.stdout), ref_types),
              "%s %.1fs" % (r.stderr, took))
        check("missing build-id: note", "no debug information" in r.stderr,
              r.stderr)

        # A debug file cut short (a copy or a download that stopped): its
        # section headers past its end, it is not used, and the run says so.
        cut_dir = os.path.join(work, "cut", ".build-id", bid[:2])
        os.makedirs(cut_dir)
        with open(dbg, "rb") as f, \
                open(os.path.join(cut_dir, bid[2:] + ".debug"), "wb") as g:
            g.write(f.read(1 << 20))
        env4 = {"DEBUGINFOD_URLS": "",
                "PYHEAP_DEBUG_FILE_DIRECTORY": os.path.join(work, "cut")}
        r, _ = run(a.bin, core, env4, "types")
        check("debug file cut short: exit 0, answer right",
              r.returncode == 0 and
              same_but_static_types(json.loads(r.stdout), ref_types),
              r.stderr)
        check("debug file cut short: not used, a note says so",
              "no debug information" in r.stderr, r.stderr)
        i, _ = run(a.bin, core, env4, "info")
        check("debug file cut short: info names none",
              i.returncode == 0 and not json.loads(i.stdout).get("debug_file"),
              i.stdout[-500:])

        # A debug file whose compressed DWARF is damaged (bytes flipped a
        # tenth into .debug_info), seen for the first time (no cached
        # outcome): the run goes on with its tables, corrects nothing
        # from it, and gives the same answer.
        damaged_copy(work, "bad", dbg, bid, ".debug_info",
                     lambda size: size // 10, 64, 0x5a)
        for image in ("1", "0", "zlib"):
            env5 = dict(dwarf_env(image), DEBUGINFOD_URLS="",
                        PYHEAP_CACHE_DIR=os.path.join(work, "c5-" + image),
                        PYHEAP_DEBUG_FILE_DIRECTORY=os.path.join(work, "bad"))
            r, _ = run(a.bin, core, env5, "types")
            i, _ = run(a.bin, core, env5, "info")
            src = json.loads(i.stdout).get("layout_source", "") \
                if i.returncode == 0 else i.stderr
            check("DWARF damaged (%s): exit 0, answer right, nothing "
                  "corrected (%s)" % ({"1": "its sections inflated by "
                                       "py-heap", "zlib": "its sections "
                                       "inflated by py-heap with zlib",
                                       "0": "read by libdw"}[image], src),
                  r.returncode == 0 and
                  same_but_static_types(json.loads(r.stdout), ref_types) and
                  i.returncode == 0 and "corrected" not in src,
                  r.stderr[-500:] + i.stderr[-500:])

        # Damaged near its end (nine tenths in), past the units the check
        # needs: libdeflate, which inflates the section whole, refuses it,
        # and zlib's part at a time decides as it did without libdeflate.
        damaged_copy(work, "late", dbg, bid, ".debug_info",
                     lambda size: size * 9 // 10, 64, 0x5a)
        late = {}
        for image in ("1", "zlib"):
            env7 = dict(dwarf_env(image), DEBUGINFOD_URLS="",
                        PYHEAP_CACHE_DIR=os.path.join(work, "c7-" + image),
                        PYHEAP_DEBUG_FILE_DIRECTORY=os.path.join(work,
                                                                 "late"))
            r, _ = run(a.bin, core, env7, "types")
            i, _ = run(a.bin, core, env7, "info")
            late[image] = (r.returncode, i.returncode,
                           json.loads(i.stdout).get("layout_source")
                           if i.returncode == 0 else i.stderr,
                           r.returncode == 0 and same_but_static_types(
                               json.loads(r.stdout), ref_types))
        check("DWARF damaged late: libdeflate refused, zlib's outcome (%s)"
              % late["zlib"][2], late["1"] == late["zlib"] and
              late["1"][:2] == (0, 0) and late["1"][3], late)

        # The sum at the end of a compressed section damaged (.debug_str,
        # which the check inflates whole): zlib's check of it fails, the
        # image is not used, and libdw, given the file, decides as it does
        # without the image (it drops that section: few names resolve).
        damaged_copy(work, "sum", dbg, bid, ".debug_str",
                     lambda size: size - 2, 2, 0xff)
        got = {}
        for image in ("1", "0", "zlib"):
            env6 = dict(dwarf_env(image), DEBUGINFOD_URLS="",
                        PYHEAP_TIMING="1",
                        PYHEAP_CACHE_DIR=os.path.join(work, "c6-" + image),
                        PYHEAP_DEBUG_FILE_DIRECTORY=os.path.join(work, "sum"))
            i, _ = run(a.bin, core, env6, "info")
            got[image] = (i.returncode, json.loads(i.stdout).get(
                "layout_source") if i.returncode == 0 else i.stderr,
                "DWARF check (sections inflated)" in i.stderr)
        check("DWARF's sum damaged: exit 0, the image not used, libdw's "
              "outcome (%s), nothing corrected" % got["0"][1],
              got["1"][0] == 0 and not got["1"][2] and
              got["1"][:2] == got["0"][:2] and got["zlib"] == got["1"] and
              "corrected" not in str(got["1"][1]), got)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
    print("%d passed, %d failed" % (graph_checks.results["passed"],
                                    graph_checks.results["failed"]))
    sys.exit(1 if graph_checks.results["failed"] else 0)
