"""The interpreter a test runs its fixtures under.

A spec is either a path (/usr/bin/python3.11, a pyenv build) or
ROOT::PYTHON for an interpreter inside a Debian root made by
fixtures/provision.sh: fixtures then run there under chroot, their cores are
taken from outside with gcore, and py-heap reads them with --sysroot ROOT.
"""
import fcntl
import os
import shutil
import struct
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def not_ready(proc, where):
    """Why a fixture never wrote its ready file: its exit status (apptruth
    exits 3 when a measuring child failed) or the time it was given, and
    what a failed child wrote (the last lines of child-error.txt)."""
    code = proc.poll()
    why = ("exit %d" % code if code is not None and code >= 0 else
           "killed by signal %d" % -code if code is not None else
           "not ready after %s s" % os.environ.get("TAKE_CORE_TIMEOUT", 120))
    try:
        with open(os.path.join(where, "child-error.txt")) as f:
            lines = f.read().strip().splitlines()
        why += "; a measuring child failed: " + " | ".join(lines[-3:])
    except OSError:
        pass
    return why


PT_LOAD = 1


def segments(path):
    """The PT_LOAD headers of an ELF64 core: (vaddr, filesz, memsz, offset,
    flags)."""
    with open(path, "rb") as f:
        eh = f.read(64)
        assert eh[:4] == b"\x7fELF" and eh[4] == 2, "not an ELF64 file"
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        (p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz,
         _align) = struct.unpack_from("<IIQQQQQQ", ph, i * phentsize)
        if p_type == PT_LOAD:
            out.append((p_vaddr, p_filesz, p_memsz, p_offset, p_flags))
    return out


def sections(path):
    """The section headers of an ELF64 file by name: (offset, size,
    flags)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "not an ELF64 file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)

    def shdr(i):
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    strtab = shdr(shstrndx)[4]
    out = {}
    for i in range(shnum):
        name, _type, flags, _addr, offset, size = shdr(i)
        end = data.index(b"\0", strtab + name)
        out[data[strtab + name:end].decode()] = (offset, size, flags)
    return out


def file_offset(segs, addr, length=1):
    """The file offset of [addr, addr+length) in the core, or None."""
    for vaddr, filesz, _memsz, offset, _flags in segs:
        if vaddr <= addr and addr + length <= vaddr + filesz:
            return offset + addr - vaddr
    return None


def copy_core(src, dst):
    """Copies a core, its runs of zeros left holes: a free-threaded build's
    core is mostly holes (Interp.made_core), which a plain copy would write
    out whole (1.1 GB a copy)."""
    subprocess.run(["cp", "--sparse=always", src, dst], check=True)


def cache_writers_wait(cache_dir, timeout=60.0):
    """Waits (at most timeout s) for py-heap's detached writers of the
    cache files in cache_dir: each holds lock-NAME (flock) while it writes
    NAME, after the run that forked it has exited. True when none is left."""
    if not os.path.isdir(cache_dir):
        return True
    end = time.monotonic() + timeout
    for f in os.listdir(cache_dir):
        if not f.startswith("lock-"):
            continue
        try:
            fd = os.open(os.path.join(cache_dir, f), os.O_RDONLY)
        except OSError:
            continue            # (its writer done, the lock gone)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > end:
                        return False
                    time.sleep(0.002)
        finally:
            os.close(fd)
    return True


class Interp:
    def __init__(self, spec):
        self.spec = spec
        if "::" in spec:
            self.root, self.python = spec.split("::", 1)
        else:
            self.root, self.python = None, spec
        # the version, and whether it is a free-threaded build (configure
        # --disable-gil: sysconfig's Py_GIL_DISABLED, 3.13+)
        out = subprocess.run(self.command([
            "-c", "import sys, sysconfig; print('%d.%d.%d' % "
            "sys.version_info[:3], sysconfig.get_config_var("
            "'Py_GIL_DISABLED') or 0)"]),
            capture_output=True, text=True, check=True)
        self.version, ft = out.stdout.split()
        self.free_threaded = ft == "1"
        self.version_info = tuple(int(x) for x in self.version.split("."))
        self.tag = "%s-%s" % (self.version,
                              spec.strip("/").replace("/", "_").replace(":", "_"))

    def command(self, args):
        if self.root:
            return ["chroot", self.root, self.python] + args
        return [self.python] + args

    @property
    def exe(self):
        """The executable as seen from outside (for GDB)."""
        if self.root:
            return os.path.join(self.root, self.python.lstrip("/"))
        return os.path.realpath(self.python)

    @staticmethod
    def made_core(core):
        """After gcore: its runs of zeros made holes, which take no disk
        (util-linux). A free-threaded build's core is 1 GiB, mimalloc's
        arena committed at start (1.1 GB -> 9 MB for heap_ft's core); the
        threads' untouched stacks are zeros too (subinterp_checks' core of
        ten threads, 308 -> 16 MB)."""
        subprocess.run(["fallocate", "--dig-holes", core],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def py_heap_args(self):
        return ["--sysroot", self.root] if self.root else []

    def gdb_args(self):
        return ["-ex", "set sysroot %s" % self.root] if self.root else []

    def start(self, src, outdir, args=(), helpers=()):
        """Starts the fixture src; returns (process, the directory where
        it writes, as seen from here). helpers: modules it imports from its
        own directory, copied beside it into a root."""
        os.makedirs(outdir, exist_ok=True)
        if not self.root:
            return subprocess.Popen(self.command([src, outdir] + list(args))), outdir
        inside = "/tmp/pyheap-fixtures"
        os.makedirs(self.root + inside, exist_ok=True)
        shutil.copy(src, self.root + inside)
        for h in helpers:
            shutil.copy(os.path.join(os.path.dirname(src), h),
                        self.root + inside)
        out_in = "%s/out-%s" % (inside, os.path.basename(outdir.rstrip("/")))
        shutil.rmtree(self.root + out_in, ignore_errors=True)
        os.makedirs(self.root + out_in)
        proc = subprocess.Popen(self.command(
            ["%s/%s" % (inside, os.path.basename(src)), out_in] + list(args)))
        return proc, self.root + out_in

    def take_core(self, fixture, outdir, *args, need=("ready",), helpers=()):
        """Runs fixtures/FIXTURE until it is ready, gcores it, kills it;
        the core and the truth files end in outdir. Reused while newer than
        the fixture and while the files in need are there. Interpreters on
        this system go through fixtures/take-core.sh; those in a root run
        under chroot, their files copied out."""
        os.makedirs(outdir, exist_ok=True)
        core = os.path.join(outdir, "core")
        src = os.path.join(ROOT, "fixtures", fixture)
        # (newer than the fixture and its helpers, and than the
        # interpreter too: provision.sh rebuilds the free-threaded ones
        # when their source or flags change)
        newest = max([os.path.getmtime(src), os.path.getmtime(self.exe)] + [
            os.path.getmtime(os.path.join(os.path.dirname(src), h))
            for h in helpers])
        if os.path.exists(core) and os.path.getmtime(core) > newest and \
                all(os.path.exists(os.path.join(outdir, f)) for f in need):
            return core
        if not self.root and not args:
            r = subprocess.run(
                ["bash", os.path.join(ROOT, "fixtures", "take-core.sh"),
                 self.python, src, outdir], stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=600)
            if r.returncode != 0 or not os.path.exists(core):
                raise RuntimeError("take-core.sh %s: %s" % (
                    fixture, r.stderr.strip() or "exit %d" % r.returncode))
            self.made_core(core)
            return core
        for f in ("ready", "truth.txt", "truth.json", "core"):
            if os.path.exists(os.path.join(outdir, f)):
                os.unlink(os.path.join(outdir, f))
        proc, where = self.start(src, outdir, args, helpers)
        try:
            deadline = time.time() + int(os.environ.get("TAKE_CORE_TIMEOUT", 120))
            while not os.path.exists(os.path.join(where, "ready")):
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("%s did not get ready: %s" % (
                        fixture, not_ready(proc, where)))
                time.sleep(0.05)
            subprocess.run(["gcore", "-o", core, str(proc.pid)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=300)
            os.rename("%s.%d" % (core, proc.pid), core)
            self.made_core(core)
            if where != outdir:
                for f in os.listdir(where):
                    shutil.copy(os.path.join(where, f), outdir)
        finally:
            proc.kill()
            proc.wait()
        return core
