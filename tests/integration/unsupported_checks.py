#!/usr/bin/env python3
"""Interpreters py-heap does not read yet must say so, clearly.

Cores of pyenv's 3.7 and 3.6 (older than py-heap supports), of a future
version (Debian's python3.15 from the sid root, read with a copy of its
executable whose Py_Version says 3.16: a version py-heap has no layout for)
and of a debug build py-heap has no layout for (bullseye's python3.9d):
each command exits 2 with one line naming the version or build, never a
wrong answer. Roots come from fixtures/provision.sh; a root that cannot be
made, or an interpreter that is not installed, is reported as SKIP.

    python3 tests/integration/unsupported_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interp import Interp, ROOT  # noqa: E402
import graph_checks  # noqa: E402

check = graph_checks.check

def future_root(work, root, py):
    """A sysroot holding only a copy of root's py whose Py_Version (read
    from the file: the core does not save read-only data) says 3.16.0."""
    out = os.path.join(os.path.abspath(work), "future-root")
    # gcore, run outside the chroot, names the file by its full path
    dst = out + root + py
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(root + py, "rb") as f:
        data = bytearray(f.read())
    syms = subprocess.run(["readelf", "-Ws", "--dyn-syms", root + py],
                          capture_output=True, text=True).stdout
    vaddr = next(int(l.split()[1], 16) for l in syms.splitlines()
                 if l.split()[-1:] == ["Py_Version"])
    for l in subprocess.run(["readelf", "-lW", root + py], capture_output=True,
                            text=True).stdout.splitlines():
        w = l.split()
        if w[:1] == ["LOAD"]:
            off, va, filesz = int(w[1], 16), int(w[2], 16), int(w[4], 16)
            if va <= vaddr < va + filesz:
                data[off + vaddr - va:off + vaddr - va + 4] = \
                    (0x031000f0).to_bytes(4, "little")
                break
    with open(dst, "wb") as f:
        f.write(data)
    os.chmod(dst, 0o755)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cores-dir", required=True)
    a = ap.parse_args()
    cases = []
    pyenv = subprocess.run(["pyenv", "root"], capture_output=True,
                           text=True).stdout.strip() or "/root/.pyenv"
    for v in ("3.7.16", "3.6.15"):
        cases.append((None, "%s/versions/%s/bin/python%s" % (
            pyenv, v, v.rsplit(".", 1)[0]), "not supported"))
    for suite, pys in (("sid", ["/usr/bin/python3.15"]),
                       ("bullseye", ["/usr/bin/python3.9d"])):
        r = subprocess.run(["bash", os.path.join(ROOT, "fixtures/provision.sh"),
                            suite], capture_output=True, text=True)
        root = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and \
            r.stdout.strip() else None
        for py in pys:
            if not root or not os.path.exists(root + py):
                print("SKIP %s %s: no root (%s)" % (suite, py, r.stderr[-200:]))
                continue
            cases.append((root, py, "3.16.0 is not supported"
                          if py.endswith("3.15") else "debug build"))
    for root, py, want in cases:
        spec = "%s::%s" % (root, py) if root else py
        if not root and not os.path.exists(py):
            print("SKIP %s: not installed" % py)
            continue
        try:
            it = Interp(spec)
            core = it.take_core("sleeper.py", os.path.join(
                a.cores_dir, "sleeper-" + it.tag))
            args = it.py_heap_args()
            if "3.16" in want:
                args = ["--sysroot", future_root(a.cores_dir, root, py)]
            for cmd in (["types"], ["info"], ["cycles"]):
                r = subprocess.run([a.bin, "--core", core] + args +
                                   cmd, capture_output=True, text=True,
                                   timeout=60)
                lines = [l for l in r.stderr.splitlines() if l.strip()]
                check("%s %s: %s refused clearly" % (it.version, spec, cmd[0]),
                      r.returncode == 2 and not r.stdout and len(lines) == 1 and
                      want in lines[0], "rc=%d %r" % (r.returncode, r.stderr))
        except Exception as e:
            check("%s" % spec, False, e)
    print("%d passed, %d failed" % (graph_checks.results["passed"],
                                    graph_checks.results["failed"]))
    return 1 if graph_checks.results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
