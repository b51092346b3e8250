#!/usr/bin/env python3
"""Where disk is short, removes one interpreter's cores once its suites ran.

make check's loop runs every suite on each interpreter; the cores each takes
(build/cores/*-TAG) are kept for the next run, which reuses them, about
200 MB an interpreter. On a machine with less than --keep-free GB free on
the cores' file system (PYHEAP_KEEP_FREE_GB, 8 unless set), the
interpreter's cores are removed here, but its subinterpreter cores, which
subinterp_checks.py reads after the loop: a later run takes them again.
Prints the free space either way, so that a run's log says how close it came.

usage: drop_cores.py --cores-dir DIR --python SPEC [--keep-free GB]
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interp import Interp  # noqa: E402


def free_gb(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / 1e9


def tree_bytes(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_blocks * 512
            except OSError:
                pass
    return total


def owned(name, tag):
    """Whether build/cores/NAME is one of TAG's: TAG, FIXTURE-TAG or
    FIXTURE-TAG-SUFFIX (TAG-... of a debug build, TAGd, is not)."""
    return name == tag or name.endswith("-" + tag) or \
        ("-" + tag + "-") in name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores-dir", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--keep-free", type=float,
                    default=float(os.environ.get("PYHEAP_KEEP_FREE_GB", 8)))
    a = ap.parse_args()
    tag = Interp(a.python).tag
    if not os.path.isdir(a.cores_dir):
        return 0
    mine = sorted(n for n in os.listdir(a.cores_dir) if owned(n, tag))
    size = sum(tree_bytes(os.path.join(a.cores_dir, n)) for n in mine)
    free = free_gb(a.cores_dir)
    line = "drop_cores: %.1f GB free on %s; %s's cores: %d MB" % (
        free, a.cores_dir, a.python, size // 1000000)
    if free >= a.keep_free:
        print(line + ", kept")
        return 0
    gone = [n for n in mine if not n.startswith("subinterp-")]
    for n in gone:
        shutil.rmtree(os.path.join(a.cores_dir, n), ignore_errors=True)
    print(line + ", %d of them removed (under %.1f GB free): %.1f GB free"
          % (len(gone), a.keep_free, free_gb(a.cores_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
