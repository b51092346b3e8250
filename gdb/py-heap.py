# py-heap.py - the py-heap commands for GDB: a Python-aware heap inspector.
#
# Load it in GDB with
#     source /path/to/py-heap/gdb/py-heap.py
# or, after `make install`, put this line in ~/.gdbinit:
#     source /usr/local/share/py-heap/gdb/py-heap.py
# (replace /usr/local by the PREFIX given to `make install`).
#
# Then, with a CPython core loaded (gdb /usr/bin/python3.11 core.1234):
#     py-heap types [--limit N] [--sort count|size] [--json]
#     py-heap list TYPE [--limit N] [--min-size B] [--json]
#     py-heap info [--json]
#     help py-heap
#
# The work is done by libpyheap (ctypes). It is looked for, in order, at
#   $PYHEAP_LIB,
#   <dir of this file>/../build/lib/libpyheap.so      (a source tree),
#   <dir of this file>/../../../lib/libpyheap.so      (installed: the file
#                                      is PREFIX/share/py-heap/gdb/py-heap.py),
#   libpyheap.so                                      (the dynamic linker).
#
# Everything this file defines is prefixed with _pyheap / PyHeap, because
# GDB runs sourced scripts in the __main__ namespace shared with others.

import ctypes
import os
import re
import threading

import gdb

# GDB sets __file__ while it sources a script, not necessarily afterwards.
_PYHEAP_SCRIPT = globals().get("__file__")


def _pyheap_err(message):
    return gdb.GdbError("py-heap: " + message)


# ---- The library ------------------------------------------------------------


def _pyheap_lib_candidates():
    env = os.environ.get("PYHEAP_LIB")
    if env:
        # An explicit choice is not second-guessed by falling back.
        return [env], True
    paths = []
    if _PYHEAP_SCRIPT:
        dirs = [os.path.dirname(os.path.abspath(_PYHEAP_SCRIPT))]
        real = os.path.dirname(os.path.realpath(_PYHEAP_SCRIPT))
        if real != dirs[0]:
            dirs.append(real)
        for d in dirs:
            for rel in (("..", "build", "lib"), ("..", "..", "..", "lib")):
                p = os.path.join(d, *rel, "libpyheap.so")
                p = os.path.normpath(p)
                if p not in paths:
                    paths.append(p)
    return paths, False


class _PyHeapLib:
    """The ctypes binding of libpyheap (native/include/pyheap.h)."""

    def __init__(self):
        paths, explicit = _pyheap_lib_candidates()
        tried = []
        dll = None
        for p in paths:
            if not explicit and not os.path.exists(p):
                continue
            try:
                dll = ctypes.CDLL(p)
                break
            except OSError as e:
                tried.append("%s (%s)" % (p, e))
        if dll is None and not explicit:
            try:
                dll = ctypes.CDLL("libpyheap.so")
            except OSError as e:
                tried.append("libpyheap.so (%s)" % e)
        if dll is None:
            raise _pyheap_err(
                "cannot load libpyheap: tried %s; build it with `make`, "
                "install it with `make install`, or set PYHEAP_LIB to its "
                "path" % (", ".join(tried) or ", ".join(paths)))
        self.path = getattr(dll, "_name", None)
        try:
            self._bind(dll)
        except AttributeError as e:
            raise _pyheap_err("%s is not a usable libpyheap: %s"
                              % (self.path, e))

    def _bind(self, dll):
        vp = ctypes.c_void_p
        cs = ctypes.c_char_p

        def fn(name, restype, *argtypes):
            f = getattr(dll, name)
            f.restype = restype
            f.argtypes = list(argtypes)
            setattr(self, name, f)

        fn("ph_error_code", ctypes.c_int, vp)
        fn("ph_error_code_name", cs, ctypes.c_int)
        fn("ph_error_message", cs, vp)
        fn("ph_error_address", ctypes.c_uint64, vp)
        fn("ph_error_path", cs, vp)
        fn("ph_error_destroy", None, vp)
        fn("ph_free", None, vp)
        fn("ph_session_create_core", vp, cs, cs, cs, ctypes.POINTER(vp))
        fn("ph_session_create_pid", vp, ctypes.c_int, ctypes.c_uint,
           ctypes.POINTER(vp))
        fn("ph_options_create", vp, ctypes.POINTER(vp))
        fn("ph_options_destroy", None, vp)
        fn("ph_options_set_core", vp, vp, cs)
        fn("ph_options_set_pid", vp, vp, ctypes.c_int, ctypes.c_uint)
        fn("ph_options_set_exe", vp, vp, cs)
        fn("ph_options_set_sysroot", vp, vp, cs)
        fn("ph_options_add_debug_dir", vp, vp, cs)
        fn("ph_session_create", vp, vp, ctypes.POINTER(vp))
        fn("ph_session_destroy", None, vp)
        fn("ph_session_notes", cs, vp)
        fn("ph_session_run", vp, vp, ctypes.c_int,
           ctypes.POINTER(cs), ctypes.c_bool, ctypes.POINTER(vp))
        fn("ph_version", cs)
        fn("ph_interrupt", None)

    def check(self, err):
        """Turns a struct ph_error * into gdb.GdbError (and frees it)."""
        if not err:
            return
        try:
            msg = self.ph_error_message(err)
            msg = _pyheap_str(msg) if msg else "unknown error"
        finally:
            self.ph_error_destroy(err)
        raise _pyheap_err(msg)

    def take_string(self, ptr):
        """Copies a malloc'ed char * returned through ret, then frees it."""
        if not ptr:
            return ""
        try:
            return _pyheap_str(ctypes.string_at(ptr))
        finally:
            self.ph_free(ptr)


def _pyheap_str(b):
    return b.decode("utf-8", errors="replace")


def _pyheap_bytes(s):
    return None if s is None else os.fsencode(s)


_pyheap_lib = None


def _pyheap_get_lib():
    global _pyheap_lib
    if _pyheap_lib is None:
        _pyheap_lib = _PyHeapLib()
    return _pyheap_lib


# ---- What GDB has loaded ----------------------------------------------------

_PYHEAP_CORE_RE = re.compile(
    r"^Local core dump file:\n\t`(.*)', file type ", re.M)


def _pyheap_core_path():
    """The path of the core file GDB has open, or None."""
    inf = gdb.selected_inferior()
    # Newer GDBs: gdb.Inferior.corefile (a gdb.Corefile, or None).
    if hasattr(type(inf), "corefile"):
        cf = inf.corefile
        if cf is None:
            return None
        name = getattr(cf, "filename", cf)
        return os.path.abspath(str(name)) if name else None
    conn = getattr(inf, "connection", None)
    if conn is not None and getattr(conn, "type", "core") != "core":
        return None
    if conn is None and hasattr(inf, "connection"):
        return None        # no target at all
    text = gdb.execute("info target", to_string=True)
    m = _PYHEAP_CORE_RE.search(text)
    return os.path.abspath(m.group(1)) if m else None


def _pyheap_exe_path():
    name = gdb.current_progspace().filename
    return os.path.abspath(name) if name else None


def _pyheap_debug_dirs():
    """GDB's `debug-file-directory` (colon-separated), where it exists."""
    try:
        dirs = gdb.parameter("debug-file-directory") or ""
    except RuntimeError:
        return []
    return [d for d in dirs.split(":") if d and os.path.isdir(d)]


def _pyheap_sysroot():
    try:
        root = gdb.parameter("sysroot")
    except RuntimeError:
        return None
    if not root:
        return None
    if root.startswith("target:"):
        root = root[len("target:"):]
    if not root or root == "/":
        return None
    return root


# ---- The session cache ------------------------------------------------------


class _PyHeapSession:
    """One open ph_session and the notes already shown for it."""

    # PH_SESSION_NO_STOP: GDB already holds the process stopped.
    NO_STOP = 1

    def __init__(self, lib, key, core, exe, sysroot, pid=None):
        self.lib = lib
        self.key = key
        self.handle = None
        self.shown_notes = set()
        out = ctypes.c_void_p()
        opts = ctypes.c_void_p()
        lib.check(lib.ph_options_create(ctypes.byref(opts)))
        try:
            if pid is not None:
                lib.check(lib.ph_options_set_pid(opts, pid, self.NO_STOP))
            else:
                lib.check(lib.ph_options_set_core(opts, _pyheap_bytes(core)))
                if exe:
                    lib.check(lib.ph_options_set_exe(opts, _pyheap_bytes(exe)))
                if sysroot:
                    lib.check(lib.ph_options_set_sysroot(
                        opts, _pyheap_bytes(sysroot)))
            # GDB's own debug directories first: what it loaded, we reuse.
            for d in _pyheap_debug_dirs():
                lib.check(lib.ph_options_add_debug_dir(opts,
                                                       _pyheap_bytes(d)))
            lib.check(lib.ph_session_create(opts, ctypes.byref(out)))
        finally:
            lib.ph_options_destroy(opts)
        self.handle = out.value

    def run(self, argv, json):
        lib = self.lib
        args = [_pyheap_bytes(a) for a in argv]
        c_argv = (ctypes.c_char_p * (len(args) + 1))(*args, None)
        out = ctypes.c_void_p()
        result = {}

        def work():
            # ctypes lets go of the GIL: GDB's Ctrl-C reaches the thread
            # that waits below, as KeyboardInterrupt.
            result["err"] = lib.ph_session_run(self.handle, len(args),
                                               c_argv, bool(json),
                                               ctypes.byref(out))

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        interrupted = False
        while worker.is_alive():
            try:
                worker.join(0.05)
            except KeyboardInterrupt:
                lib.ph_interrupt()   # the command stops soon, cleanly
                interrupted = True
        try:
            lib.check(result.get("err"))
        finally:
            self.write_notes()
        if interrupted and not out.value:
            raise _pyheap_err("interrupted")
        return lib.take_string(out.value)

    def write_notes(self):
        """Writes to stderr the library's notes not written before."""
        if not self.handle:
            return
        notes = self.lib.ph_session_notes(self.handle)
        if not notes:
            return
        new = []
        for line in _pyheap_str(notes).splitlines():
            # GDB holds a live process stopped: the library's warning that
            # it read without stopping it does not apply.
            if "without stopping it" in line:
                continue
            if line and line not in self.shown_notes:
                self.shown_notes.add(line)
                new.append(line + "\n")
        if new:
            gdb.write("".join(new), gdb.STDERR)

    def destroy(self):
        if self.handle:
            h, self.handle = self.handle, None
            self.lib.ph_session_destroy(h)


class _PyHeapState:
    """The cached session plus the GDB event hooks that invalidate it."""

    EVENTS = ("clear_objfiles", "exited", "cont", "inferior_deleted",
              "gdb_exiting")

    def __init__(self):
        self.session = None
        self.hooked = []
        for name in self.EVENTS:
            reg = getattr(gdb.events, name, None)
            if reg is not None:
                reg.connect(self.drop)
                self.hooked.append(reg)
        # new_objfile is not hooked: GDB also fires it when it lazily
        # loads separate debug info, which changes nothing py-heap reads.
        # A changed executable, core or sysroot changes the cache key.

    def drop(self, event=None):
        s, self.session = self.session, None
        if s is not None:
            s.destroy()

    def teardown(self):
        self.drop()
        for reg in self.hooked:
            try:
                reg.disconnect(self.drop)
            except Exception:
                pass
        self.hooked = []

    def get(self):
        core = _pyheap_core_path()
        if core is None:
            inf = gdb.selected_inferior()
            if inf.pid > 0 and inf.threads():
                # A live process GDB has stopped: read it through /proc.
                # The session is dropped when it runs again ("cont").
                key = ("pid", inf.pid)
                if self.session is not None and self.session.key == key:
                    return self.session
                self.drop()
                session = _PyHeapSession(_pyheap_get_lib(), key, None, None,
                                         None, pid=inf.pid)
                session.write_notes()
                self.session = session
                return session
            self.drop()
            raise _pyheap_err("no process: load a core (core-file CORE) or "
                              "attach to a process (attach PID)")
        exe = _pyheap_exe_path()
        sysroot = _pyheap_sysroot()
        try:
            st = os.stat(core)
            ident = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            ident = None        # the library reports the error
        key = (core, exe, sysroot, ident)
        if self.session is not None and self.session.key == key:
            return self.session
        self.drop()
        session = _PyHeapSession(_pyheap_get_lib(), key, core, exe, sysroot)
        session.write_notes()
        self.session = session
        return session


# Sourcing the file again replaces the old hooks and session.
if globals().get("_pyheap_state") is not None:
    _pyheap_state.teardown()
_pyheap_state = _PyHeapState()


# ---- Commands ---------------------------------------------------------------


class PyHeapJsonParameter(gdb.Parameter):
    """Whether py-heap commands print JSON instead of text.

    When on, every py-heap command prints JSON as if given --json."""

    set_doc = "Set whether py-heap commands print JSON."
    show_doc = "Show whether py-heap commands print JSON."

    def __init__(self):
        super().__init__("py-heap-json", gdb.COMMAND_DATA, gdb.PARAM_BOOLEAN)
        self.value = False

    def get_set_string(self):
        return ""

    def get_show_string(self, svalue):
        return "py-heap prints JSON: %s." % svalue


_pyheap_json_param = PyHeapJsonParameter()


def _pyheap_run(subcommand, arg):
    """Runs `subcommand` with arg (a string, or a list of words)."""
    try:
        words = gdb.string_to_argv(arg) if isinstance(arg, str) else arg
        json = bool(_pyheap_json_param.value)
        if "--json" in words:
            json = True
            words = [w for w in words if w != "--json"]
        out = _pyheap_state.get().run([subcommand] + words, json)
        gdb.write(out)
    except (gdb.GdbError, KeyboardInterrupt):
        raise
    except Exception as e:        # never a Python traceback
        raise _pyheap_err("%s: %s: %s" % (subcommand, type(e).__name__, e))


class PyHeapCommand(gdb.Command):
    """Inspect the Python objects in a CPython core dump.

py-heap reads the memory of the CPython process whose core file GDB has
loaded, finds the interpreter's runtime state and enumerates every Python
object, without running code in the process. It works on a core file
(gdb PYTHON CORE) and on a live process GDB has stopped (gdb -p PID):
after `continue` and a stop, the commands see the new state.
CPython 3.11, 3.12, 3.13, 3.14 and 3.15 are supported.

Subcommands:
  py-heap summary                 a first look: totals, top types, GC, pymalloc
  py-heap types [--limit N] [--sort count|size]
                                  objects by type: count, sys.getsizeof() bytes
  py-heap list TYPE [--limit N] [--min-size B]
                                  the objects of one type: address, size, value
  py-heap show ADDR               one object: type, size, refcount, value
  py-heap referents ADDR          what it holds, and how
  py-heap referrers ADDR [--depth N]
                                  who holds it (as gc.get_referrers())
  py-heap path ADDR [--all N]     why it is alive: the chain from a root
  py-heap cycles [--unreachable]  reference cycles; what gc.collect() frees
  py-heap refcount ADDR           refcount against the references found
  py-heap refcheck [--min-excess K] [--type T]
                                  the refcount audit: suspected leaks
  py-heap info                    what py-heap found and how
Every subcommand takes --json. ADDR may be any GDB expression.
"set py-heap-json on" makes every subcommand print JSON.
The work is done by libpyheap; set PYHEAP_LIB to choose the library
(default: build/lib/libpyheap.so of the source tree this file is in,
or PREFIX/lib/libpyheap.so when installed)."""

    def __init__(self):
        super().__init__("py-heap", gdb.COMMAND_DATA, gdb.COMPLETE_NONE,
                         True)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        try:
            words = gdb.string_to_argv(arg)
        except Exception as e:
            raise _pyheap_err(str(e))
        if not words:
            gdb.execute("help py-heap", from_tty)
            return
        # A command libpyheap has and this file does not know yet; the
        # library reports an unknown one.
        _pyheap_run(words[0], words[1:])


class PyHeapTypesCommand(gdb.Command):
    """Show which Python types fill the heap.

Usage: py-heap types [--limit N] [--sort count|size] [--json]

Counts the objects of each type and sums their sys.getsizeof() sizes.
  --limit N            show the N biggest types (the rest in one line)
  --sort count|size    order by number of objects or by bytes
  --json               print JSON instead of a table"""

    def __init__(self):
        super().__init__("py-heap types", gdb.COMMAND_DATA,
                         gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run("types", arg)


class PyHeapListCommand(gdb.Command):
    """List the Python objects of one type.

Usage: py-heap list TYPE [--limit N] [--min-size B] [--json]

Prints the address, sys.getsizeof() size and a short value of each object
whose type is named TYPE (as "py-heap types" prints it).
  --limit N            show at most N objects
  --min-size B         only objects of at least B bytes
  --json               print JSON instead of a table"""

    def __init__(self):
        super().__init__("py-heap list", gdb.COMMAND_DATA,
                         gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run("list", arg)


class PyHeapInfoCommand(gdb.Command):
    """Show what py-heap found in the core.

Usage: py-heap info [--json]

Prints the Python version, executable and build-id, where the runtime state
is, how many threads and objects were found, how objects were found, and
how much memory the core did not save."""

    def __init__(self):
        super().__init__("py-heap info", gdb.COMMAND_DATA,
                         gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run("info", arg)


def _pyheap_address_words(words, options_with_value):
    """Evaluates the address argument as a GDB expression ($rax, a
    variable, 0x7f...) and hands libpyheap a plain number."""
    out, i = [], 0
    while i < len(words):
        w = words[i]
        if w in options_with_value:
            out.extend(words[i:i + 2])
            i += 2
            continue
        if w.startswith("--"):
            out.append(w)
            i += 1
            continue
        try:
            int(w, 0)
            out.append(w)
        except ValueError:
            try:
                value = gdb.parse_and_eval(w)
                out.append(hex(int(value) & 0xFFFFFFFFFFFFFFFF))
            except gdb.error as e:
                raise _pyheap_err("cannot evaluate '%s': %s" % (w, e))
        i += 1
    return out


def _pyheap_run_addr(subcommand, arg, options_with_value=()):
    try:
        words = gdb.string_to_argv(arg)
    except Exception as e:
        raise _pyheap_err(str(e))
    _pyheap_run(subcommand, _pyheap_address_words(words, options_with_value))


class PyHeapShowCommand(gdb.Command):
    """Show one Python object: type, size, refcount, GC state and value.

Usage: py-heap show ADDR [--limit N] [--json]

ADDR is the object's address (id() in the process), or any GDB expression
that evaluates to it ($rax, a variable). Prints its type, sys.getsizeof()
size, refcount, GC state, a repr()-like value, and what it holds (items,
keys, attributes), at most N of them (default 20; 0 for all)."""

    def __init__(self):
        super().__init__("py-heap show", gdb.COMMAND_DATA,
                         gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run_addr("show", arg, ("--limit",))


class PyHeapReferentsCommand(gdb.Command):
    """List what one Python object refers to, and how.

Usage: py-heap referents ADDR [--json]

Each referent with its address, type and the way it is held: an index
([3]), a dict key (['name']), an attribute (.name), a field (.__dict__);
weak references are marked (weak), guessed ones (conservative)."""

    def __init__(self):
        super().__init__("py-heap referents", gdb.COMMAND_DATA,
                         gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run_addr("referents", arg)


class PyHeapReferrersCommand(gdb.Command):
    """List who holds one Python object: the answer gc.get_referrers() gives.

Usage: py-heap referrers ADDR [--depth N] [--limit N] [--json]

Each object that holds a strong reference to ADDR, with the way it holds
it, and the roots (module globals, thread frame locals, C data) that hold it
directly. --depth N follows referrers of referrers N levels up (1 to 16)."""

    def __init__(self):
        super().__init__("py-heap referrers", gdb.COMMAND_DATA,
                         gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run_addr("referrers", arg, ("--depth", "--limit"))


class PyHeapPathCommand(gdb.Command):
    """Show why a Python object is alive: the chain from a root to it.

Usage: py-heap path ADDR [--all N] [--json]

The shortest chain of strong references from a root (a module's globals,
a thread's frame, the interpreter, C data) to ADDR, root first, each step
labelled. --all N gives up to N distinct chains. An object no root reaches
is garbage: held only by a cycle or by a reference py-heap cannot see."""

    def __init__(self):
        super().__init__("py-heap path", gdb.COMMAND_DATA,
                         gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run_addr("path", arg, ("--all",))


class PyHeapCyclesCommand(gdb.Command):
    """List reference cycles, and what gc.collect() would free now.

Usage: py-heap cycles [--unreachable] [--min-size B] [--limit N]
                      [--sort size|count] [--json]

The strongly connected components of the graph of strong references with
more than one object or a self-reference, largest first: objects, bytes,
types, and one loop through each written out edge by edge.
--unreachable keeps the cycles no outside reference keeps alive: the
garbage the collector would free (found as the collector does: refcounts
less the references among tracked objects)."""

    def __init__(self):
        super().__init__("py-heap cycles", gdb.COMMAND_DATA,
                         gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run("cycles", arg)


class PyHeapRefcountCommand(gdb.Command):
    """Compare one object's refcount with the references that exist.

Usage: py-heap refcount ADDR [--json]

Prints ob_refcnt, every strong reference py-heap found (objects, thread
frames, the interpreter, C data) and the difference: an excess is held by
code py-heap cannot see, or leaked by a C extension."""

    def __init__(self):
        super().__init__("py-heap refcount", gdb.COMMAND_DATA,
                         gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run_addr("refcount", arg)


class PyHeapRefcheckCommand(gdb.Command):
    """Audit every refcount in the heap: suspected C-extension leaks.

Usage: py-heap refcheck [--min-excess K] [--type T] [--limit N] [--json]

Objects whose refcount exceeds the references found by at least K
(default 1), grouped by type, worst first; and objects with fewer
references than found (over-released, or corrupt)."""

    def __init__(self):
        super().__init__("py-heap refcheck", gdb.COMMAND_DATA,
                         gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run("refcheck", arg)


class PyHeapSummaryCommand(gdb.Command):
    """A first look at the heap: totals, top types, GC and pymalloc.

Usage: py-heap summary [--json]

Objects and bytes, the ten largest types, GC generations, pymalloc pools
(used, free, fragmentation) and threads."""

    def __init__(self):
        super().__init__("py-heap summary", gdb.COMMAND_DATA,
                         gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        _pyheap_run("summary", arg)


PyHeapCommand()
PyHeapTypesCommand()
PyHeapListCommand()
PyHeapInfoCommand()
PyHeapShowCommand()
PyHeapReferentsCommand()
PyHeapReferrersCommand()
PyHeapPathCommand()
PyHeapCyclesCommand()
PyHeapRefcountCommand()
PyHeapRefcheckCommand()
PyHeapSummaryCommand()
