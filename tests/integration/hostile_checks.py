#!/usr/bin/env python3
"""Hostile processes and crafted cores: nothing harmed, nothing opened,
nothing unbounded (issue 24, items 1-10).

Live targets are fixtures/hostile_target.py under the interpreter tested
(with fixtures/hostile_lib.c, built here, for what Python cannot do); each
keeps 1,234 Marker objects that py-heap must count. Each check measures the
harm itself:

  1. untouched 1 GiB mappings (private, shared, a sparse file): the pause,
     the target's RSS before and after, py-heap's RSS; a shared page only
     another process wrote reads as not copied, never as zeros;
  2. real-time signals sent all through 40 inspections: none lost;
  3. threads blocked in epoll_wait and in read() on a pipe, 100
     inspections: no EINTR; a thread in epoll_wait woken every 0.5 ms by
     another process: the copy made again, the answer whole;
  4. a file with a 1,000-character name holding a crafted maps line; an
     executable deleted and replaced on disk; an executable in another
     mount namespace whose path here names another file (each also without
     CAP_SYS_ADMIN, so without /proc/PID/map_files);
  5. a 256 MiB shared file mapping truncated under the target;
  6. a thread waiting on a vfork child; a thread that does not stop within
     the bound (PYHEAP_STOP_WAIT_MS=1, a long kernel call): let go when it
     stops, while py-heap runs on;
  7. SIGTSTP during the pause (py-heap stops only after letting go), and
     SIGINT and SIGTERM (py-heap ends after letting go);
  8. a zombie and a kernel thread: their own messages;
  9. cores made here from a real one with struct: 32k saved and 32k unsaved
     overlapping segments; an NT_FILE note of 200k names, each twice;
 10. a core naming a FIFO, a device node and a symbolic link (with and
     without --sysroot: none is opened, inotify says), and a sparse 16 GB
     ELF whose note spans it (py-heap's RSS stays small).

Every check also runs with PYHEAP_PAGEMAP_SCAN=0 where the copy matters
(the /proc/PID/pagemap path of kernels before 6.7).

    python3 tests/integration/hostile_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY]
"""
import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interp import Interp, ROOT  # noqa: E402

results = {"passed": 0, "failed": 0}
CRASH_SIGNS = ("ERROR: AddressSanitizer", "runtime error:",
               "ERROR: LeakSanitizer", "Segmentation fault", "core dumped")
MARKERS = 1234
TARGET = os.path.join(ROOT, "fixtures", "hostile_target.py")
libc = ctypes.CDLL(None, use_errno=True)


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    sys.stdout.flush()


def skip(name, why):
    print("SKIP %s: %s" % (name, why))
    sys.stdout.flush()


class Run:
    """One py-heap run: exit status, output, seconds, peak RSS (KiB)."""

    def __init__(self, binary, args, timeout=60, env=None, prefix=()):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t0 = time.time()
            p = subprocess.Popen(list(prefix) + [binary] + args, stdout=out,
                                 stderr=err, stdin=subprocess.DEVNULL,
                                 env=dict(os.environ, **(env or {})))
            self.timed_out = False
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.time() - t0 > timeout:
                    p.kill()
                    pid, status, ru = os.wait4(p.pid, 0)
                    self.timed_out = True
                    break
                time.sleep(0.005)
            p.returncode = os.waitstatus_to_exitcode(status)
            self.seconds = time.time() - t0
            self.rc = p.returncode
            self.maxrss = ru.ru_maxrss
            out.seek(0)
            err.seek(0)
            self.out = out.read().decode(errors="replace")
            self.err = err.read().decode(errors="replace")
        self.crashed = self.rc < 0 and not self.timed_out or any(
            s in self.err for s in CRASH_SIGNS)

    def pause_ms(self):
        m = re.search(r"paused process \d+ for (\d+) ms", self.err)
        return int(m.group(1)) if m else None

    def markers(self):
        """The count of Marker objects; None for no answer (an error)."""
        try:
            d = json.loads(self.out)
        except ValueError:
            return None
        if "error" in d:
            return None
        return next((t["count"] for t in d.get("types", [])
                     if t["type"] == "__main__.Marker"), 0)

    def __str__(self):
        return "exit %s%s after %.1fs: %s" % (
            self.rc, " (timed out)" if self.timed_out else "", self.seconds,
            self.err.strip()[-400:])


class Target:
    """fixtures/hostile_target.py in one mode, until stop()."""

    def __init__(self, interp, mode, *args, exe=None, wrap=()):
        self.work = tempfile.mkdtemp(prefix="pyheap-hostile-")
        cmd = list(wrap) + [exe or interp.python, TARGET, self.work, mode] + \
            list(args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(self.work, "ready")) or \
                not self.last():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("target %s did not start" % mode)
            time.sleep(0.02)

    def last(self):
        try:
            with open(os.path.join(self.work, "ticks")) as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        return lines[-2] if len(lines) > 1 else ""  # the last is being written

    def value(self, key):
        w = self.last().split()
        return int(w[w.index(key) + 1])

    def ticking(self):
        a = self.last()
        time.sleep(0.3)
        return self.proc.poll() is None and self.last() != a

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def tracers(self):
        """TracerPid of every thread that is not 0."""
        out = []
        for tid in os.listdir("/proc/%d/task" % self.pid):
            try:
                with open("/proc/%d/task/%s/status" % (self.pid, tid)) as f:
                    t = int(re.search(r"TracerPid:\s+(\d+)", f.read())
                            .group(1))
            except OSError:
                continue
            if t:
                out.append(t)
        return out

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def types(binary, pid, env=None, timeout=60, prefix=()):
    return Run(binary, ["--pid", str(pid), "--json", "types", "--limit",
                        "0"], timeout=timeout, env=env, prefix=prefix)


def good(r):
    return r.rc == 0 and not r.crashed and r.markers() == MARKERS


SCAN_MODES = (("", None), (" (pagemap read)", {"PYHEAP_PAGEMAP_SCAN": "0"}))


# ---- 1. untouched memory ---------------------------------------------------

def untouched_checks(binary, interp):
    for kind in ("private", "shared", "file"):
        for label, env in SCAN_MODES:
            name = "1. untouched 1 GiB %s mapping%s" % (kind, label)
            t = Target(interp, "untouched", kind)
            try:
                before = t.rss_kib()
                r = types(binary, t.pid, env=env)
                after = t.rss_kib()
                pause = r.pause_ms()
                check(name + ": read whole, right counts", good(r), str(r))
                check(name + ": paused under 2 s", pause is not None and
                      pause < 2000, "%s ms" % pause)
                check(name + ": the target's RSS did not grow",
                      after - before < 64 << 10,
                      "%d -> %d KiB" % (before, after))
                check(name + ": py-heap stayed small", r.maxrss < 256 << 10,
                      "%d KiB" % r.maxrss)
                check(name + ": the target runs on, untraced",
                      t.ticking() and not t.tracers(), t.tracers())
            except Exception as e:
                check(name, False, e)
            finally:
                t.stop()
    # A page of shared memory only another process wrote: the target never
    # touched it, so it is not copied and reads as missing, never as zeros.
    for label, env in SCAN_MODES:
        name = "1. a shared page only another process wrote%s" % label
        t = Target(interp, "foreign")
        try:
            r = Run(binary, ["--pid", str(t.pid), "--json", "info"], env=env)
            info = json.loads(r.out) if r.rc == 0 else {}
            check(name + ": not copied (missing, not zeros)",
                  info.get("memory_not_saved", 0) >= 4096, str(r))
        except Exception as e:
            check(name, False, e)
        finally:
            t.stop()


# ---- 2. signals ------------------------------------------------------------

SENDER = r'''
import errno, os, signal, sys
pid, n, stop = int(sys.argv[1]), 0, []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
while not stop:
    try:
        os.kill(pid, signal.SIGRTMIN)
        n += 1
    except OSError as e:
        if e.errno != errno.EAGAIN:
            raise
print(n)
'''


def signal_checks(binary, interp, lib):
    name = "2. real-time signals sent through 40 inspections"
    t = Target(interp, "signals", lib)
    try:
        sender = subprocess.Popen([sys.executable, "-c", SENDER, str(t.pid)],
                                  stdout=subprocess.PIPE, text=True)
        bad = []
        for i in range(40):
            r = types(binary, t.pid, env=SCAN_MODES[i % 2][1])
            if not good(r):
                bad.append(str(r))
        sender.terminate()
        sent = int(sender.communicate(timeout=30)[0])
        got, prev = t.value("signals"), -1
        deadline = time.time() + 30
        while got != prev and time.time() < deadline:
            time.sleep(0.5)
            prev, got = got, t.value("signals")
        check(name + ": every inspection whole", not bad, bad[:1])
        check(name + ": none lost", sent == got and sent > 0,
              "sent %d, received %d" % (sent, got))
    except Exception as e:
        check(name, False, e)
    finally:
        t.stop()


# ---- 3. EINTR --------------------------------------------------------------

def eintr_checks(binary, interp, lib):
    name = "3. threads blocked in epoll_wait and read(), 100 inspections"
    t = Target(interp, "eintr", lib)
    try:
        bad = []
        for i in range(100):
            r = types(binary, t.pid, env=SCAN_MODES[i % 2][1])
            if not good(r):
                bad.append(str(r))
        time.sleep(0.1)
        check(name + ": every inspection whole", not bad, bad[:1])
        check(name + ": no EINTR in epoll_wait",
              t.value("eintr-epoll") == 0, t.last())
        check(name + ": no EINTR in read()", t.value("eintr-read") == 0,
              t.last())
        check(name + ": the calls were never interrupted",
              t.value("calls") == 0, t.last())
    except Exception as e:
        check(name, False, e)
    finally:
        t.stop()
    # A thread in epoll_wait woken every half millisecond by another
    # process: it runs during the copy, which is made again (up to three
    # copies), and the answer stays whole. (It can be caught running into
    # epoll_wait, and then stopped: an EINTR, which is not counted here.)
    name = "3. a thread in epoll_wait woken all the time, 20 inspections"
    fifo = os.path.join(tempfile.mkdtemp(prefix="pyheap-fed-"), "fifo")
    os.mkfifo(fifo)
    t = Target(interp, "eintr", lib, fifo)
    writer = subprocess.Popen([sys.executable, "-c", FEEDER, fifo])
    try:
        bad, copies = [], []
        for i in range(20):
            r = types(binary, t.pid, env=dict(SCAN_MODES[i % 2][1] or {},
                                              PYHEAP_TIMING="1"))
            copies.append(r.err.count("live: copy"))
            if not good(r):
                bad.append(str(r))
        check(name + ": every inspection whole", not bad, bad[:1])
        check(name + ": copied again when it ran", max(copies) > 1 and
              t.value("wakes") > 100, "%s, %s" % (copies, t.last()))
    except Exception as e:
        check(name, False, e)
    finally:
        writer.kill()
        writer.wait()
        t.stop()
        shutil.rmtree(os.path.dirname(fifo), ignore_errors=True)


FEEDER = r'''
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
while True:
    os.write(fd, b"x")
    time.sleep(0.0005)
'''


# ---- 4. names, deleted files, namespaces -----------------------------------

NO_MAP_FILES = ("setpriv", "--bounding-set", "-sys_admin,-checkpoint_restore",
                "--inh-caps", "-sys_admin,-checkpoint_restore", "--")


def can_drop_caps():
    try:
        return subprocess.run(list(NO_MAP_FILES) + ["true"],
                              capture_output=True).returncode == 0
    except OSError:
        return False


def long_name_checks(binary, interp):
    """A mapped file whose /proc/PID/maps line is 1,060 characters, with
    what looks like a line of its own where a 1,024-byte buffer cut it: a
    1 GiB mapping at 0x10000 naming a FIFO."""
    base = tempfile.mkdtemp(prefix="pyheap-long-")
    fifo = os.path.join(base, "fifo")
    os.mkfifo(fifo)
    # the path starts at column 73 of its line: a 1,024-byte buffer ends
    # 950 characters into it
    path = base
    while len(path) < 950 - 1:
        path += "/" + "n" * min(200, 950 - 1 - len(path) - 1)
    path += "/"
    assert len(path) == 950, len(path)
    fake = "10000-40010000 rw-p 00000000 00:00 0 "
    real = path + fake + fifo  # a regular file of that name
    os.makedirs(os.path.dirname(real))
    with open(real, "wb") as f:
        f.write(b"x" * 4096)
    name = "4. a 1,000-character file name holding a maps line"
    t = Target(interp, "mapfile", real)
    try:
        with open("/proc/%d/maps" % t.pid) as f:
            line = next(l for l in f if l.rstrip("\n").endswith(fifo) and
                        len(l) > 1000)
        check(name + ": the line is cut there by a 1 KiB buffer",
              line[1023:].startswith(fake), line[1000:1060])
        for label, env in SCAN_MODES:
            r = types(binary, t.pid, env=env, timeout=30)
            check(name + ": one mapping, nothing else opened%s" % label,
                  good(r), str(r))
    except Exception as e:
        check(name, False, e)
    finally:
        t.stop()
        shutil.rmtree(base, ignore_errors=True)

    caps = can_drop_caps()
    # An executable deleted and replaced on disk by another ELF file.
    work = tempfile.mkdtemp(prefix="pyheap-deleted-")
    exe = os.path.join(work, "python")
    shutil.copy(interp.exe, exe)
    name = "4. an executable deleted and replaced on disk"
    t = Target(interp, "untouched", "private", exe=exe)
    try:
        os.unlink(exe)
        shutil.copy("/bin/true", exe)
        r = types(binary, t.pid)
        check(name + ": read through map_files", good(r), str(r))
        if caps:
            r = types(binary, t.pid, prefix=NO_MAP_FILES)
            check(name + ", without map_files: refused, not misread",
                  r.rc == 2 and not r.crashed and r.markers() is None and
                  len(r.err.strip().splitlines()) <= 2, str(r))
    except Exception as e:
        check(name, False, e)
    finally:
        t.stop()
        shutil.rmtree(work, ignore_errors=True)

    # In another mount namespace, the executable's path names another file
    # here (an ELF of another build).
    if os.geteuid() != 0 or not shutil.which("unshare"):
        skip("4. another mount namespace", "needs root and unshare")
        return
    work = tempfile.mkdtemp(prefix="pyheap-ns-")
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    shutil.copy("/bin/true", os.path.join(mnt, "python"))
    name = "4. a process in another mount namespace"
    script = ('mount -t tmpfs none "%s" && cp "%s" "%s/python" && '
              'exec "%s/python" "$@"' % (mnt, interp.exe, mnt, mnt))
    try:
        t = Target(interp, "untouched", "private", exe="sh",
                   wrap=("unshare", "--mount", "--propagation", "private",
                         "sh", "-c", script))
    except Exception as e:
        skip(name, e)
        shutil.rmtree(work, ignore_errors=True)
        return
    try:
        r = types(binary, t.pid)
        check(name + ": its own files, not this one's", good(r), str(r))
        if caps:
            r = types(binary, t.pid, prefix=NO_MAP_FILES)
            check(name + ", without map_files: through /proc/PID/root",
                  good(r), str(r))
    except Exception as e:
        check(name, False, e)
    finally:
        t.stop()
        shutil.rmtree(work, ignore_errors=True)


# ---- 5. truncated file -----------------------------------------------------

def truncated_checks(binary, interp):
    work = tempfile.mkdtemp(prefix="pyheap-trunc-")
    fn = os.path.join(work, "data")
    with open(fn, "wb") as f:
        f.truncate(256 << 20)
    name = "5. a 256 MiB shared file mapping truncated under the target"
    t = Target(interp, "truncated", fn)
    try:
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(t.work, "mapped")):
            if time.time() > deadline:
                raise RuntimeError("not mapped")
            time.sleep(0.02)
        os.truncate(fn, 0)
        # copied whole, its pages are read too: the 256 MiB batch, read
        # on two threads, fails, and is read again page by page
        for label, env in SCAN_MODES + ((" (copied whole)",
                                         {"PYHEAP_PAGEMAP": "0"}),):
            r = types(binary, t.pid, env=env, timeout=30)
            check(name + "%s: read, no crash" % label, good(r), str(r))
        check(name + ": the target runs on", t.ticking())
    except Exception as e:
        check(name, False, e)
    finally:
        t.stop()
        shutil.rmtree(work, ignore_errors=True)


# ---- 6. vfork --------------------------------------------------------------

def vfork_checks(binary, interp, lib):
    name = "6. a thread waiting on its vfork child"
    t = Target(interp, "vfork", lib)
    child = t.value("vfork-child")
    try:
        r = types(binary, t.pid, timeout=20)
        check(name + ": read within the bound", good(r) and r.seconds < 10,
              str(r))
        check(name + ": the target runs on, untraced",
              t.ticking() and not t.tracers(), t.tracers())
    except Exception as e:
        check(name, False, e)
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass
        t.stop()


def late_stop_checks(binary, interp, lib):
    """A thread that does not stop within the bound (here 1 ms: a thread
    almost always inside one long kernel call): the inspection goes on,
    and the thread is let go as soon as it stops, while py-heap still runs
    (waiting for --batch commands on its stdin)."""
    name = "6. a thread that does not stop in time"
    t = Target(interp, "populate", lib, "128")
    try:
        p = subprocess.Popen([binary, "--pid", str(t.pid), "--json",
                              "--batch", "-"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=dict(os.environ,
                                                 PYHEAP_STOP_WAIT_MS="1"))
        deadline = time.time() + 20
        while t.tracers() and time.time() < deadline:
            time.sleep(0.01)
        check(name + ": let go while py-heap runs on",
              not t.tracers() and p.poll() is None, t.tracers())
        out, err = p.communicate("types --limit 0\n", timeout=60)
        ok = p.returncode == 0 and '"__main__.Marker", "count": %d' % \
            MARKERS in out
        check(name + ": the answer is whole", ok, "exit %s: %s" % (
            p.returncode, err[-300:]))
        check(name + ": the target runs on", t.ticking())
    except Exception as e:
        check(name, False, e)
    finally:
        t.stop()


# ---- 7. job control --------------------------------------------------------

def state(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return s[s.rindex(")") + 2]


def own_job():
    """In a child: a process group of its own, under this one's, so not
    orphaned (SIGTSTP would be discarded), and the signals' default
    actions (a shell runs a background job with SIGINT ignored)."""
    os.setpgid(0, 0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_DFL)


def job_control_checks(binary, interp):
    t = Target(interp, "big", "512")
    try:
        for sig in (signal.SIGTSTP, signal.SIGINT, signal.SIGTERM):
            name = "7. %s during the pause" % sig.name
            p = subprocess.Popen([binary, "--pid", str(t.pid), "types",
                                  "--limit", "1"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL,
                                 preexec_fn=own_job)
            caught = False
            deadline = time.time() + 30
            while p.poll() is None and time.time() < deadline:
                if t.tracers():
                    caught = True
                    break
            p.send_signal(sig)
            if not caught:
                p.wait()
                skip(name, "the pause was over before it could be seen")
                continue
            for _ in range(1000):
                if p.poll() is not None or state(p.pid) == "T":
                    break
                time.sleep(0.01)
            if sig == signal.SIGTSTP:
                stopped = p.poll() is None and state(p.pid) == "T"
                check(name + ": py-heap stops after letting go",
                      stopped and not t.tracers() and t.ticking(),
                      "py-heap %s, tracers %s" % (
                          "stopped" if stopped else "not stopped",
                          t.tracers()))
                p.send_signal(signal.SIGCONT)
                check(name + ": then finishes", p.wait(timeout=60) == 0)
            else:
                rc = p.wait(timeout=60)
                check(name + ": py-heap ends after letting go",
                      rc == -sig and not t.tracers() and t.ticking(),
                      "exit %s, tracers %s" % (rc, t.tracers()))
    except Exception as e:
        check("7. job control", False, e)
    finally:
        t.stop()


# ---- 8. zombies and kernel threads -----------------------------------------

def kernel_thread():
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        flags = int(s[s.rindex(")") + 2:].split()[6])
        if flags & 0x00200000:  # PF_KTHREAD
            return int(d)
    return None


def zombie_checks(binary):
    z = subprocess.Popen(["true"])
    time.sleep(0.2)
    try:
        r = Run(binary, ["--pid", str(z.pid), "types"], timeout=20)
        check("8. a zombie is called a zombie",
              r.rc == 2 and "zombie" in r.err and "permit" not in r.err,
              str(r))
    finally:
        z.wait()
    k = kernel_thread()
    if k is None:
        skip("8. a kernel thread", "none visible here")
        return
    r = Run(binary, ["--pid", str(k), "types"], timeout=20)
    check("8. a kernel thread is called a kernel thread",
          r.rc == 2 and "kernel thread" in r.err and "permit" not in r.err,
          str(r))


# ---- crafted cores ---------------------------------------------------------

PT_LOAD, PT_NOTE, NT_FILE = 1, 4, 0x46494c45
PHDR = struct.Struct("<IIQQQQQQ")


class Core:
    """A real core, and new ones made from it: the original bytes, then
    new notes and a new program header table appended."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        phoff, = struct.unpack_from("<Q", self.data, 32)
        phnum, = struct.unpack_from("<H", self.data, 56)
        self.phdrs = [list(PHDR.unpack_from(self.data, phoff + i * 56))
                      for i in range(phnum)]
        note = next(p for p in self.phdrs if p[0] == PT_NOTE)
        self.notes = []
        blob, off = self.data[note[2]:note[2] + note[5]], 0
        while off + 12 <= len(blob):
            namesz, descsz, typ = struct.unpack_from("<III", blob, off)
            name_off = off + 12
            desc_off = name_off + (namesz + 3 & ~3)
            self.notes.append((blob[name_off:name_off + namesz], typ,
                               blob[desc_off:desc_off + descsz]))
            off = desc_off + (descsz + 3 & ~3)

    def files(self):
        desc = next(d for n, t, d in self.notes if t == NT_FILE)
        count, page = struct.unpack_from("<QQ", desc)
        entries = [struct.unpack_from("<QQQ", desc, 16 + 24 * i)
                   for i in range(count)]
        names = desc[16 + 24 * count:].split(b"\0")[:count]
        return page, list(zip(entries, names))

    @staticmethod
    def nt_file(page, files):
        out = [struct.pack("<QQ", len(files), page)]
        out += [struct.pack("<QQQ", *e) for e, _ in files]
        out += [n + b"\0" for _, n in files]
        return b"".join(out)

    def write(self, path, extra_phdrs=(), nt_file=None, extra_notes=()):
        out = bytearray(self.data)
        out += b"\0" * (-len(out) % 8)
        notes = [(n, t, nt_file if t == NT_FILE and nt_file is not None
                  else d) for n, t, d in self.notes] + list(extra_notes)
        blob = bytearray()
        for n, t, d in notes:
            blob += struct.pack("<III", len(n), len(d), t)
            blob += n + b"\0" * (-len(n) % 4) + d + b"\0" * (-len(d) % 4)
        note_off = len(out)
        out += blob
        out += b"\0" * (-len(out) % 8)
        phdrs = []
        for p in self.phdrs:
            p = list(p)
            if p[0] == PT_NOTE:
                p[2], p[5] = note_off, len(blob)
            phdrs.append(p)
        phdrs += [list(p) for p in extra_phdrs]
        struct.pack_into("<Q", out, 32, len(out))
        struct.pack_into("<H", out, 56, len(phdrs))
        for p in phdrs:
            out += PHDR.pack(*p)
        with open(path, "wb") as f:
            f.write(out)
        return path


def crafted_core_checks(binary, interp, work):
    try:
        real = interp.take_core("sleeper.py", os.path.join(
            work, "sleeper-" + interp.tag))
    except Exception as e:
        check("9. the real core", False, e)
        return
    core = Core(real)
    args = interp.py_heap_args()
    base = 0x100000000000

    # 9. 32k saved segments under 32k unsaved ones over all of them.
    n = 32000
    data_off = 4096  # any saved bytes will do
    saved = [(PT_LOAD, 6, data_off, base + i * 0x2000, 0, 0x1000, 0x1000,
              0x1000) for i in range(n)]
    unsaved = [(PT_LOAD, 6, 0, base, 0, 0, n * 0x2000, 0x1000)] * n
    path = core.write(os.path.join(work, "overlaps.core"),
                      extra_phdrs=saved + unsaved)
    r = Run(binary, ["--core", path] + args + ["types"], timeout=30)
    check("9. 32k saved and 32k overlapping unsaved segments: fast, small",
          r.rc == 0 and not r.crashed and r.seconds < 20 and
          r.maxrss < 1 << 20, "%s, %d KiB" % (r, r.maxrss))

    # 9. NT_FILE naming 100k files twice each.
    page, files = core.files()
    fake = [((base + i * 0x1000, base + (i + 1) * 0x1000, 0),
             b"/nonexistent/pyheap-hostile/lib%d.so" % i)
            for i in range(100000)]
    path = core.write(os.path.join(work, "names.core"),
                      nt_file=Core.nt_file(page, files + fake + fake))
    r = Run(binary, ["--core", path] + args + ["types"], timeout=30)
    check("9. NT_FILE naming 100k files twice each: fast",
          r.rc == 0 and not r.crashed and r.seconds < 20, str(r))

    # 10. A FIFO, a device node and a symbolic link named in NT_FILE, here
    # and under --sysroot: none opened (inotify), no wait.
    d = tempfile.mkdtemp(prefix="pyheap-nodes-")
    try:
        # the device first: a FIFO opened blocks what comes after it
        nodes = ["dev", "fifo", "link"]
        os.mkfifo(os.path.join(d, "fifo"))
        try:
            os.mknod(os.path.join(d, "dev"), 0o600 | 0o020000,
                     os.makedev(1, 3))
        except OSError:
            nodes.remove("dev")
        os.symlink(os.path.join(d, "fifo"), os.path.join(d, "link"))
        extra = [((base + i * 0x1000, base + (i + 1) * 0x1000, 0),
                  os.path.join(d, k).encode()) for i, k in enumerate(nodes)]
        path = core.write(os.path.join(work, "nodes.core"),
                          nt_file=Core.nt_file(page, files + extra))
        opened = watch_opens(d, lambda: Run(
            binary, ["--core", path] + args + ["types"], timeout=20))
        r = opened[0]
        check("10. a FIFO, a device and a link named by a core: no wait",
              r.rc == 0 and not r.crashed, str(r))
        check("10. ... none of them opened", not opened[1], opened[1])
        check("10. ... and the user is told which were not used, and why",
              all("%s: not used: " % os.path.join(d, k) in r.err
                  for k in nodes), r.err[-600:])
        rj = Run(binary, ["--core", path] + args + ["--json", "types"],
                 timeout=20)
        try:
            codes = [n["code"] for n in json.loads(rj.out)["notes"]]
        except Exception as e:
            codes = e
        check("10. ... in JSON too: notes with code files-not-used",
              isinstance(codes, list) and
              codes.count("files-not-used") == len(nodes), codes)
        if not args:
            # the same under --sysroot: the interpreter copied in, the
            # nodes named as the core's process saw them
            root = os.path.join(d, "root")
            exe = os.path.realpath(interp.python)
            os.makedirs(os.path.dirname(root + exe))
            shutil.copy(exe, root + exe)
            os.makedirs(os.path.join(root, "x"))
            os.mkfifo(os.path.join(root, "x/fifo"))
            if "dev" in nodes:
                os.mknod(os.path.join(root, "x/dev"), 0o600 | 0o020000,
                         os.makedev(1, 3))
            os.symlink("/x/fifo", os.path.join(root, "x/link"))
            extra = [((base + i * 0x1000, base + (i + 1) * 0x1000, 0),
                      b"/x/" + k.encode()) for i, k in enumerate(nodes)]
            path = core.write(os.path.join(work, "nodes-root.core"),
                              nt_file=Core.nt_file(page, files + extra))
            opened = watch_opens(os.path.join(root, "x"), lambda: Run(
                binary, ["--core", path, "--sysroot", root, "types"],
                timeout=20))
            r = opened[0]
            check("10. the same under --sysroot: no wait", r.rc == 0 and
                  not r.crashed, str(r))
            check("10. ... none of them opened", not opened[1], opened[1])

        # A sparse 16 GB ELF whose note segment spans all of it.
        big = os.path.join(d, "big.so")
        with open(big, "wb") as f:
            eh = bytearray(64)
            eh[0:4] = b"\x7fELF"
            eh[4], eh[5], eh[6] = 2, 1, 1
            struct.pack_into("<HHIQQQIHHHHHH", eh, 16, 3, 62, 1, 0, 64, 0,
                             0, 64, 56, 1, 0, 0, 0)
            f.write(eh)
            f.write(PHDR.pack(PT_NOTE, 4, 4096, 0, 0, (16 << 30) - 4096,
                              (16 << 30) - 4096, 4))
            f.truncate(16 << 30)
        extra = [((base, base + 0x1000, 0), big.encode())]
        path = core.write(os.path.join(work, "sparse.core"),
                          nt_file=Core.nt_file(page, files + extra))
        r = Run(binary, ["--core", path] + args + ["types"], timeout=30)
        check("10. a sparse 16 GB ELF named by a core: fast, small",
              r.rc == 0 and not r.crashed and r.seconds < 20 and
              r.maxrss < 512 << 10, "%s, %d KiB" % (r, r.maxrss))
        # a note segment whose end wraps around: the core is refused as
        # truncated, its note never read
        wrap = [(PT_NOTE, 4, 0x100, 0, 0, (1 << 64) - 0x80, 0, 4)]
        path = core.write(os.path.join(work, "wrap.core"), extra_phdrs=wrap)
        r = Run(binary, ["--core", path] + args + ["types"], timeout=30)
        check("10. a note segment whose end wraps around: refused clearly",
              r.rc == 2 and not r.crashed and r.seconds < 20 and
              len(r.err.strip().splitlines()) == 1, str(r))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def watch_opens(d, fn):
    """Runs fn(); returns its value and the files of d opened meanwhile."""
    fd = libc.inotify_init1(os.O_NONBLOCK)
    if fd < 0 or libc.inotify_add_watch(fd, d.encode(), 0x20) < 0:  # IN_OPEN
        raise RuntimeError("inotify: errno %d" % ctypes.get_errno())
    try:
        v = fn()
        names = []
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            data = b""
        off = 0
        while off + 16 <= len(data):
            _, mask, _, ln = struct.unpack_from("iIII", data, off)
            names.append(data[off + 16:off + 16 + ln].rstrip(b"\0").decode())
            off += 16 + ln
        return v, names
    finally:
        os.close(fd)


def build_lib(work):
    out = os.path.join(work, "hostile_lib.so")
    src = os.path.join(ROOT, "fixtures", "hostile_lib.c")
    if not os.path.exists(out) or os.path.getmtime(out) < \
            os.path.getmtime(src):
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", out, src,
                        "-lpthread"], check=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cores-dir", required=True)
    ap.add_argument("--python", default="/usr/bin/python3.11")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    interp = Interp(a.python)
    work = os.path.join(os.path.abspath(a.cores_dir), "hostile")
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    lib = build_lib(work)
    for fn, args in ((untouched_checks, ()), (signal_checks, (lib,)),
                     (eintr_checks, (lib,)), (long_name_checks, ()),
                     (truncated_checks, ()), (vfork_checks, (lib,)),
                     (late_stop_checks, (lib,)),
                     (job_control_checks, ())):
        fn(binary, interp, *args)
    zombie_checks(binary)
    crafted_core_checks(binary, interp, os.path.abspath(a.cores_dir))
    print("%d passed, %d failed (%.0f s)" % (results["passed"],
                                             results["failed"],
                                             time.time() - t0))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
