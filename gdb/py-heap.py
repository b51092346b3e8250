# py-heap.py - the py-heap commands for GDB: a Python-aware heap inspector.
#
# Load it in GDB with
#     source /path/to/py-heap/gdb/py-heap.py
# Installed (`make install`, or Debian's py-heap package), it is
# PREFIX/share/py-heap/gdb/py-heap.py and GDB loads it by itself at start:
# the file gdb/gdbinit.py, installed in GDB's system gdbinit directory
# (/etc/gdb/gdbinit.d/py-heap.py), sources it.
#
# Then, with a CPython core loaded (gdb /usr/bin/python3.11 core.1234), or
# a process GDB holds stopped:
#     py-heap types [--limit N] [--sort count|size] [--json]
#     py-heap path ADDR            (ADDR: an expression, or a Python name)
#     p $_pyheap_count("__main__.Session")
#     set py-heap json on          (show py-heap: the settings)
#     help py-heap
# The commands, their help and their completion come from the library's
# command table (`help --json`): a command the library gains appears here
# without an edit to this file.
#
# The work is done by libpyheap (ctypes). It is looked for, in order, at
#   $PYHEAP_LIB,
#   <dir of this file>/../build/lib/libpyheap.so      (a source tree),
#   _PYHEAP_LIBRARY below                             (installed: make install
#                                  writes LIBDIR/libpyheap.so.0 there),
#   libpyheap.so.0, libpyheap.so                      (the dynamic linker).
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

# The library version this file is written for (ph_version()): make
# install writes it here; in a source tree it is read from ../VERSION.
_PYHEAP_VERSION = None
# The installed library (LIBDIR/libpyheap.so.0): make install writes it here.
_PYHEAP_LIBRARY = None
# The library's SONAME: the ABI the ctypes bindings below are written for.
_PYHEAP_SONAME = "libpyheap.so.0"


def _pyheap_err(message):
    return gdb.GdbError("py-heap: " + message)


# ---- The library ------------------------------------------------------------


def _pyheap_script_dirs():
    """The directory of this file, and of the file a symlink names."""
    if not _PYHEAP_SCRIPT:
        return []
    dirs = [os.path.dirname(os.path.abspath(_PYHEAP_SCRIPT))]
    real = os.path.dirname(os.path.realpath(_PYHEAP_SCRIPT))
    if real != dirs[0]:
        dirs.append(real)
    return dirs


def _pyheap_expected_version():
    """The library version this file is for: written in by make install,
    or the source tree's VERSION; None when neither is there."""
    if _PYHEAP_VERSION:
        return _PYHEAP_VERSION
    for d in _pyheap_script_dirs():
        try:
            with open(os.path.join(d, "..", "VERSION")) as f:
                return f.read().strip()
        except OSError:
            pass
    return None


def _pyheap_lib_candidates():
    env = os.environ.get("PYHEAP_LIB")
    if env:
        # An explicit choice is not second-guessed by falling back.
        return [env], True
    paths = []
    if not _PYHEAP_LIBRARY:
        for d in _pyheap_script_dirs():
            p = os.path.normpath(os.path.join(d, "..", "build", "lib",
                                              "libpyheap.so"))
            if p not in paths:
                paths.append(p)
    else:
        paths.append(_PYHEAP_LIBRARY)
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
        for name in (_PYHEAP_SONAME, "libpyheap.so"):
            if dll is not None or explicit:
                break
            try:
                dll = ctypes.CDLL(name)
            except OSError as e:
                tried.append("%s (%s)" % (name, e))
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
        self.version = _pyheap_str(self.ph_version())
        want = _pyheap_expected_version()
        if want is None:
            raise _pyheap_err(
                "cannot tell which libpyheap this py-heap.py is for: no "
                "../VERSION beside it; load the py-heap.py of a source tree "
                "or of an installation")
        if self.version != want:
            raise _pyheap_err(
                "%s is libpyheap %s; this py-heap.py is for %s: load the "
                "py-heap.py installed with that library (or set PYHEAP_LIB)"
                % (self.path, self.version, want))

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
        fn("ph_options_set_no_debuginfod", None, vp, ctypes.c_bool)
        fn("ph_options_add_frame_number", vp, vp, ctypes.c_uint64,
           ctypes.c_uint)
        fn("ph_session_create", vp, vp, ctypes.POINTER(vp))
        fn("ph_session_destroy", None, vp)
        fn("ph_session_notes", cs, vp)
        fn("ph_session_run", vp, vp, ctypes.c_int,
           ctypes.POINTER(cs), ctypes.c_bool, ctypes.POINTER(vp))
        fn("ph_session_exec", vp, vp, ctypes.c_int, ctypes.POINTER(cs),
           ctypes.c_uint, cs, ctypes.POINTER(vp))
        fn("ph_version", cs)
        fn("ph_interrupt", None)
        # Progress of long work: the library calls back on the thread
        # running the command (not GDB's); the line is kept here and
        # written by GDB's thread, which waits for the command (run()).
        self.progress = _PyHeapProgress()
        fn("ph_set_progress", None, _PyHeapProgress.FN, vp)
        self.ph_set_progress(self.progress.fn, None)

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

    def table(self):
        """The command table, from the library's `help --json`."""
        argv = (ctypes.c_char_p * 3)(b"help", b"--json", None)
        out = ctypes.c_void_p()
        self.check(self.ph_session_exec(None, 2, argv, 1, None,
                                        ctypes.byref(out)))
        import json
        return json.loads(self.take_string(out.value))

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


def _pyheap_readable(v):
    return v is not None and not v.is_optimized_out and int(v) != 0


def _pyheap_frameobject(frame):
    """A C frame's `f` when it is a PyFrameObject * (up to 3.10)."""
    try:
        v = frame.read_var("f")
        t = v.type.strip_typedefs()
        if t.code == gdb.TYPE_CODE_PTR and \
                t.target().strip_typedefs().tag == "_frame" and \
                _pyheap_readable(v):
            return int(v)
    except (ValueError, gdb.error):
        pass
    return None


def _pyheap_eval_frame(frame):
    """The Python frame a C frame of the interpreter's eval loop runs (a
    _PyInterpreterFrame * on 3.11+, a PyFrameObject * before), or None
    where GDB cannot read it (no debug information, optimized out)."""
    try:
        v = frame.read_var("frame")         # 3.11+
    except (ValueError, gdb.error):
        v = None
    if v is not None:
        if _pyheap_readable(v):
            return int(v)
        try:    # 3.11, 3.12: what the loop's cframe says runs
            v = frame.read_var("cframe")["current_frame"]
            if _pyheap_readable(v):
                return int(v)
        except (ValueError, gdb.error):
            pass
        return None
    # Up to 3.10 a loop runs one frame, f, which its caller passed too
    # (where it is optimized out here: as libpython.py finds it).
    addr = _pyheap_frameobject(frame)
    if addr is None and frame.older() is not None:
        addr = _pyheap_frameobject(frame.older())
    return addr


def _pyheap_frame_numbers(max_frames=10000):
    """[(Python frame address, GDB frame level)] for each C frame of the
    eval loop in every thread: the numbers py-bt and py-up show. Empty
    without debug information. Leaves the selected thread and frame as
    they were."""
    out = []
    try:
        thread = gdb.selected_thread()
        selected = gdb.selected_frame()
    except gdb.error:
        return out
    if thread is None:
        return out
    try:
        for th in gdb.selected_inferior().threads():
            th.switch()
            try:
                f = gdb.newest_frame()
            except gdb.error:
                continue
            level = 0
            while f is not None and level < max_frames:
                try:
                    if f.name() == "_PyEval_EvalFrameDefault" and \
                            f.type() == gdb.NORMAL_FRAME:
                        addr = _pyheap_eval_frame(f)
                        if addr:
                            out.append((addr, level))
                    f = f.older()
                except gdb.error:
                    break
                level += 1
    finally:
        try:
            thread.switch()
            selected.select()
        except gdb.error:
            pass
    return out


def _pyheap_libpython():
    """The namespace of CPython's libpython.py (Tools/gdb, which GDB
    auto-loads with a -dbg package's python3.X-gdb.py) when it is loaded:
    GDB runs every Python script in __main__."""
    import sys
    ns = getattr(sys.modules.get("__main__"), "__dict__", {})
    frame = ns.get("Frame")
    if frame is None or not hasattr(frame, "get_selected_python_frame"):
        return None
    return ns


def _pyheap_python_name(name):
    """The address of what a Python name refers to in the Python frame
    selected (py-up, py-down, frame N), looked up as py-print does: its
    locals, then its globals, then builtins. None when libpython.py is not
    loaded, no Python frame is selected, or the name is not there."""
    ns = _pyheap_libpython()
    if ns is None:
        return None
    try:
        frame = ns["Frame"].get_selected_python_frame()
        if not frame:
            return None
        pyop = frame.get_pyop()
        if not pyop or pyop.is_optimized_out():
            return None
        var, scope = pyop.get_var_by_name(name)
        if var is None:
            return None
        return int(var.as_address())
    except Exception:       # libpython's own trouble: not found then
        return None


# ---- The session cache ------------------------------------------------------


class _PyHeapProgress:
    """The last progress line of the command running (ph_set_progress),
    for GDB's thread to write: on a terminal redrawn in place, else a line
    when the stage changes. Never on stdout, never in the JSON."""

    FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p,
                          ctypes.c_uint64, ctypes.c_uint64, ctypes.c_double)

    def __init__(self):
        self.lock = threading.Lock()
        self.pending = None      # the line not written yet
        self.drawn = False
        self.last_what = None
        self.fn = self.FN(self._report)   # (kept: ctypes must not free it)

    def _report(self, arg, what, done, total, seconds):
        if what is None:
            line = None
        elif total:
            line = "py-heap: %s: %d%% (%.0f s)" % (
                _pyheap_str(what), 100 * min(done, total) // total, seconds)
        else:
            line = "py-heap: %s... (%.0f s)" % (_pyheap_str(what), seconds)
        with self.lock:
            self.pending = (line, _pyheap_str(what) if what else None)

    def flush(self):
        """Writes the pending line through GDB (GDB's thread only)."""
        with self.lock:
            pending, self.pending = self.pending, None
        if pending is None:
            return
        line, what = pending
        try:
            tty = os.isatty(2)
        except Exception:
            tty = False
        if line is None:
            if tty and self.drawn:
                gdb.write("\r\033[K", gdb.STDERR)
            self.drawn = False
            self.last_what = None
        elif tty:
            gdb.write("\r\033[K" + line, gdb.STDERR)
            self.drawn = True
        elif what != self.last_what:
            gdb.write(line + "\n", gdb.STDERR)
        if line is not None:
            self.last_what = what
        gdb.flush(gdb.STDERR)

    def done(self):
        """The command is over: its line, if one was drawn, is cleared."""
        self.flush()
        if self.drawn:
            self._report(None, None, 0, 0, 0.0)
            self.flush()


class _PyHeapSession:
    """One open ph_session and the notes already shown for it."""

    # PH_SESSION_NO_STOP: GDB already holds the process stopped.
    NO_STOP = 1

    def __init__(self, lib, key, core, exe, sysroot, pid=None,
                 debuginfod=False):
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
            # GDB's consent to ask debuginfod servers binds py-heap too.
            lib.ph_options_set_no_debuginfod(opts, not debuginfod)
            # Frame roots carry the numbers GDB (and py-bt) gives frames.
            for frame, number in _pyheap_frame_numbers():
                lib.check(lib.ph_options_add_frame_number(opts, frame,
                                                          number))
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
                lib.progress.flush()
            except KeyboardInterrupt:
                lib.ph_interrupt()   # the command stops soon, cleanly
                interrupted = True
        lib.progress.done()
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
        debuginfod = _pyheap_debuginfod_allowed()
        if core is None:
            inf = gdb.selected_inferior()
            if inf.pid > 0 and inf.threads():
                # A live process GDB has stopped: read it through /proc.
                # The session is dropped when it runs again ("cont").
                key = ("pid", inf.pid, debuginfod)
                if self.session is not None and self.session.key == key:
                    return self.session
                self.drop()
                session = _PyHeapSession(_pyheap_get_lib(), key, None, None,
                                         None, pid=inf.pid,
                                         debuginfod=debuginfod)
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
        key = (core, exe, sysroot, ident, debuginfod)
        if self.session is not None and self.session.key == key:
            return self.session
        self.drop()
        session = _PyHeapSession(_pyheap_get_lib(), key, core, exe, sysroot,
                                 debuginfod=debuginfod)
        session.write_notes()
        self.session = session
        return session


# Sourcing the file again replaces the old hooks and session.
if globals().get("_pyheap_state") is not None:
    _pyheap_state.teardown()
_pyheap_state = _PyHeapState()


# ---- Commands ---------------------------------------------------------------


# ---- Settings: set py-heap ..., show py-heap ---------------------------------


class _PyHeapSetPrefix(gdb.Command):
    """Settings of the py-heap commands.

Use "show py-heap" to see them all."""

    def __init__(self):
        super().__init__("set py-heap", gdb.COMMAND_DATA, gdb.COMPLETE_NONE,
                         True)

    def invoke(self, arg, from_tty):
        gdb.execute("help set py-heap", from_tty)


class _PyHeapShowPrefix(gdb.Command):
    """Show the settings of the py-heap commands (all of them without a
name)."""

    def __init__(self):
        super().__init__("show py-heap", gdb.COMMAND_DATA, gdb.COMPLETE_NONE,
                         True)

    def invoke(self, arg, from_tty):
        if arg.strip():
            raise _pyheap_err("no setting '%s' (show py-heap lists them)"
                              % arg.strip())
        for name in sorted(_pyheap_settings):
            p = _pyheap_settings[name]
            gdb.write("%s:  %s\n" % (name, p.get_show_string(p.show_value())))


class _PyHeapParameter(gdb.Parameter):
    """A py-heap setting."""

    def show_value(self):
        v = self.value
        if isinstance(v, bool):
            return "on" if v else "off"
        if v is None or v == -1:
            return "unlimited"
        return str(v)

    def get_set_string(self):
        return ""


class PyHeapJsonSetting(_PyHeapParameter):
    """Whether py-heap commands print JSON instead of text.

When on, every py-heap command prints JSON as if given --json.
"set py-heap-json" is the same setting."""

    set_doc = "Set whether py-heap commands print JSON."
    show_doc = "Show whether py-heap commands print JSON."

    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_DATA, gdb.PARAM_BOOLEAN)
        self.value = False

    def get_set_string(self):
        # py-heap json and py-heap-json: one setting under two names
        for p in _pyheap_json_params:
            if p is not self:
                p.value = self.value
        return ""

    def get_show_string(self, svalue):
        return "py-heap prints JSON: %s." % svalue


class PyHeapLimitSetting(_PyHeapParameter):
    """The --limit of py-heap commands that take one, when none is given.

0 (the default): each command's own default (`help py-heap types`);
N: at most N rows; unlimited: all of them (as --limit 0)."""

    set_doc = "Set the --limit py-heap commands use when given none."
    show_doc = "Show the --limit py-heap commands use when given none."

    def __init__(self):
        super().__init__("py-heap limit", gdb.COMMAND_DATA,
                         gdb.PARAM_ZUINTEGER_UNLIMITED)
        self.value = 0

    def get_show_string(self, svalue):
        if svalue == "0":
            return "py-heap commands use their own --limit default."
        return "py-heap commands use --limit %s when given none." % (
            "0 (all)" if svalue == "unlimited" else svalue)


class PyHeapDebuginfodSetting(_PyHeapParameter):
    """Whether py-heap asks debuginfod servers (DEBUGINFOD_URLS) for the
debug information of the interpreter, when it has none.

auto (the default): as GDB's own "debuginfod enabled" says (on: yes;
off or ask: no; py-heap does not ask the question itself);
on: yes; off: no (as py-heap --no-debuginfod)."""

    set_doc = "Set whether py-heap asks debuginfod servers."
    show_doc = "Show whether py-heap asks debuginfod servers."

    def __init__(self):
        super().__init__("py-heap debuginfod", gdb.COMMAND_DATA,
                         gdb.PARAM_ENUM, ["auto", "on", "off"])
        self.value = "auto"

    def get_show_string(self, svalue):
        if svalue == "auto":
            return ("py-heap asks debuginfod servers when GDB's "
                    "\"debuginfod enabled\" is on (auto; it is %s)."
                    % (_pyheap_gdb_debuginfod() or "not in this GDB"))
        return "py-heap asks debuginfod servers: %s." % svalue


def _pyheap_gdb_debuginfod():
    """GDB's own `debuginfod enabled` (on, off, ask), or None in a GDB
    built without debuginfod."""
    try:
        return str(gdb.parameter("debuginfod enabled"))
    except RuntimeError:
        return None


def _pyheap_debuginfod_allowed():
    v = _pyheap_settings["debuginfod"].value
    if v == "auto":
        return _pyheap_gdb_debuginfod() == "on"
    return v == "on"


_PyHeapSetPrefix()
_PyHeapShowPrefix()
_pyheap_json_params = [PyHeapJsonSetting("py-heap json"),
                       PyHeapJsonSetting("py-heap-json")]   # the old name
_pyheap_json_param = _pyheap_json_params[0]
_pyheap_settings = {"json": _pyheap_json_param,
                    "limit": PyHeapLimitSetting(),
                    "debuginfod": PyHeapDebuginfodSetting()}


def _pyheap_entry(name):
    for c in _pyheap_table["commands"]:
        if c["name"] == name:
            return c
    return None


def _pyheap_run(subcommand, words):
    """Runs `subcommand` with its words (already split)."""
    try:
        json = bool(_pyheap_json_param.value)
        if "--json" in words:
            json = True
            words = [w for w in words if w != "--json"]
        helping = "--help" in words or "-h" in words
        # set py-heap limit: the --limit of a command given none
        limit = _pyheap_settings["limit"].value
        entry = _pyheap_entry(subcommand)
        if limit and not helping and entry and \
                any(o["name"] == "--limit" for o in entry["options"]) and \
                not any(w == "--limit" or w.startswith("--limit=")
                        for w in words):
            words = words + ["--limit", "0" if limit == -1 else str(limit)]
        if subcommand in _pyheap_no_process or helping:
            out = _pyheap_run_alone([subcommand] + words, json)
        else:
            out = _pyheap_state.get().run([subcommand] + words, json)
        gdb.write(out)
    except (gdb.GdbError, KeyboardInterrupt):
        raise
    except Exception as e:        # never a Python traceback
        raise _pyheap_err("%s: %s: %s" % (subcommand, type(e).__name__, e))


def _pyheap_run_alone(argv, json):
    """A command that needs no process (help, version, CMD --help)."""
    lib = _pyheap_get_lib()
    args = [_pyheap_bytes(a) for a in argv]
    c_argv = (ctypes.c_char_p * (len(args) + 1))(*args, None)
    out = ctypes.c_void_p()
    err = lib.ph_session_exec(None, len(args), c_argv, 1 if json else 0,
                              None, ctypes.byref(out))
    if err and out.value:
        lib.ph_free(out.value)
    lib.check(err)
    return lib.take_string(out.value)


_PYHEAP_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A word of a command line as GDB would split it, quotes kept.
_PYHEAP_TOKEN_RE = re.compile(
    r"""(?:"(?:\\.|[^"\\])*"?|'(?:\\.|[^'\\])*'?|[^\s"']+)+""")
_PYHEAP_MASK = 0xFFFFFFFFFFFFFFFF


def _pyheap_value_address(value):
    """The address a gdb.Value stands for: a pointer's or an integer's
    value, a struct's address (*op), a string's Python name."""
    t = value.type.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        value = value.address
        if value is None:
            raise _pyheap_err("the object is not in memory")
    elif t.code == gdb.TYPE_CODE_ARRAY and \
            t.target().strip_typedefs().code in (gdb.TYPE_CODE_INT,
                                                 gdb.TYPE_CODE_CHAR) and \
            t.target().sizeof == 1:
        return _pyheap_eval_address(value.string())
    return hex(int(value) & _PYHEAP_MASK)


def _pyheap_eval_address(expr):
    """An object's address as libpyheap takes it (a plain number) from a
    number, a Python name (looked up as py-print does, with libpython.py
    loaded) or any GDB expression ($rax, (PyObject *) 0x..., *op)."""
    expr = expr.strip()
    try:
        int(expr, 0)
        return expr
    except ValueError:
        pass
    name = bool(_PYHEAP_NAME_RE.match(expr))
    if name:
        addr = _pyheap_python_name(expr)
        if addr is not None:
            return hex(addr & _PYHEAP_MASK)
    try:
        value = gdb.parse_and_eval(expr)
    except gdb.error as e:
        hint = ""
        if name and _pyheap_libpython() is None:
            hint = ("; Python names are looked up in the selected Python "
                    "frame (py-up) once libpython.py is loaded (the "
                    "python3.X-dbg package's GDB script)")
        elif name:
            hint = "; nor a Python name in the selected Python frame"
        raise _pyheap_err("cannot evaluate '%s': %s%s"
                          % (expr, str(e).rstrip("."), hint))
    return _pyheap_value_address(value)


def _pyheap_tokens(arg):
    """The words of a command line with their quotes: an expression is
    handed to GDB as it was typed."""
    return _PYHEAP_TOKEN_RE.findall(arg)


def _pyheap_unquote(token):
    words = gdb.string_to_argv(token)
    return words[0] if words else ""


def _pyheap_address_words(tokens, options_with_value, address_operand,
                          address_options):
    """Evaluates the address argument (the words that are not options,
    as one expression: `show (PyObject *) 0x...` as `print` takes it),
    and the values of the options that take an address (--tree ADDR), and
    hands libpyheap plain numbers. An option's value GDB cannot evaluate
    goes as it is (--tree root). Returns (words, the address or None)."""
    out, operand, i = [], [], 0
    while i < len(tokens):
        raw = tokens[i]
        w = _pyheap_unquote(raw)
        name = w.split("=", 1)[0]
        is_option = raw.startswith("--") or raw == "-h"
        if is_option and name in address_options:
            value = w[len(name) + 1:] if "=" in w else \
                (_pyheap_unquote(tokens[i + 1]) if i + 1 < len(tokens)
                 else None)
            if value is not None:
                try:
                    value = _pyheap_eval_address(value)
                except gdb.GdbError:
                    pass
                out.extend([name, value])
                i += 1 if "=" in w else 2
                continue
        if is_option and w in options_with_value:
            out.append(w)
            if i + 1 < len(tokens):
                out.append(_pyheap_unquote(tokens[i + 1]))
            i += 2
            continue
        if is_option or not address_operand:
            out.append(w)
        else:
            operand.append(raw)
        i += 1
    address = None
    if operand:
        address = _pyheap_eval_address(" ".join(operand))
        out.append(address)
    return out, address


def _pyheap_object_value(address):
    """(PyObject *) address as a gdb.Value: a void * where GDB knows no
    PyObject (no debug information)."""
    v = gdb.Value(int(address, 0))
    try:
        t = gdb.lookup_type("PyObject").pointer()
    except gdb.error:
        t = gdb.lookup_type("void").pointer()
    return v.cast(t)


def _pyheap_record(address):
    """What `show` looked at goes into GDB's value history ($, $N) and
    $_, as `print` and `x` do."""
    v = _pyheap_object_value(address)
    if hasattr(gdb, "add_history"):         # GDB 12+
        gdb.add_history(v)
    gdb.set_convenience_variable("_", v)


def _pyheap_type_names():
    """The type names of the current session, for completion."""
    try:
        session = _pyheap_state.get()
    except gdb.GdbError:
        return []
    names = getattr(session, "type_names", None)
    if names is None:
        import json
        try:
            out = session.run(["types", "--limit", "0"], True)
            names = sorted(t["type"] for t in json.loads(out)["types"])
        except Exception:
            names = []
        session.type_names = names
    return names


def _pyheap_file_names(cur):
    """The paths that complete cur (a directory's end with '/'). Made
    here: GDB's own filename completer (COMPLETE_FILENAME) looks at the
    whole argument, not at the word being completed, past the first."""
    d, base = os.path.split(cur)
    try:
        names = os.listdir(os.path.expanduser(d) or ".")
    except OSError:
        return []
    out = []
    for n in sorted(names):
        if n.startswith(base) and (base or not n.startswith(".")):
            p = os.path.join(d, n)
            if os.path.isdir(os.path.expanduser(p)):
                p += "/"
            out.append(p)
    return out


_PYHEAP_ADDR_HELP = (
    "ADDR is the object's address (id() in the process), any GDB "
    "expression that evaluates to it, the rest of the line as for print "
    "($rax, (PyObject *) 0x7f..., *op), or a Python name: with CPython's "
    "libpython.py loaded (the python3.X-dbg package's GDB script), a name "
    "is looked up in the Python frame selected (py-up, py-down) as "
    "py-print does: its locals, its globals, then builtins.")


def _pyheap_doc(c):
    """A command's GDB help: what `help py-heap CMD` prints."""
    import textwrap
    summary = c["summary"]
    if not summary.startswith("py-heap"):
        summary = summary[:1].upper() + summary[1:]
    lines = [summary + ".", "",
             "Usage: py-heap %s [--json]" % c["synopsis"], ""]
    lines += textwrap.wrap(c["help"], 76)
    opts = [(o["name"] + (" " + o["metavar"] if o["metavar"] else ""),
             o["help"] + (" (default: %s)" % o["default"]
                          if o["default"] else ""))
            for o in c["options"]]
    opts.append(("--json", "print JSON instead of text"))
    opts.append(("--plain", "text for tools: numbers without separators, "
                 "tabs between columns"))
    opts.append(("--quiet", "no progress lines"))
    lines.append("")
    for name, text in opts:
        wrapped = textwrap.wrap(text, 54) or [""]
        if len(name) > 20:      # the text under a long name
            lines.append("  " + name)
            lines += ["  %-20s %s" % ("", w) for w in wrapped]
            continue
        lines.append("  %-20s %s" % (name, wrapped[0]))
        lines += ["  %-20s %s" % ("", w) for w in wrapped[1:]]
    if c["operand"] == "ADDR":
        lines.append("")
        lines += textwrap.wrap(_PYHEAP_ADDR_HELP, 76)
    return "\n".join(lines)


class _PyHeapSubcommand(gdb.Command):
    """A subcommand of py-heap, made from its entry in the command table."""

    def __init__(self, entry):
        self.entry = entry
        self.values = [o["name"] for o in entry["options"]
                       if o["kind"] != "flag"]
        self.addresses = [o["name"] for o in entry["options"]
                          if o["complete"] == "expression"]
        # (no completer class: GDB then calls complete() below)
        super().__init__("py-heap " + entry["name"], gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        address = None
        try:
            if self.entry["operand"] == "ADDR" or self.addresses:
                tokens = _pyheap_tokens(arg)
                words = [_pyheap_unquote(t) for t in tokens]
            else:
                words = gdb.string_to_argv(arg)
        except Exception as e:
            raise _pyheap_err(str(e))
        helping = "--help" in words or "-h" in words
        if not helping and (self.entry["operand"] == "ADDR" or
                            self.addresses):
            words, address = _pyheap_address_words(
                tokens, self.values, self.entry["operand"] == "ADDR",
                self.addresses)
        _pyheap_run(self.entry["name"], words)
        if self.entry["name"] == "show" and address is not None:
            _pyheap_record(address)

    def complete(self, text, word):
        try:
            words = gdb.string_to_argv(text)
        except Exception:
            return []
        # GDB breaks words at '-' and '.' too: match the whole word being
        # typed, and hand back only what follows GDB's idea of it.
        cur = ""
        if text and not text[-1].isspace() and words:
            cur = words.pop()
        word = word or ""
        keep = len(cur) - len(word)

        def matching(names):
            return [n[keep:] for n in names if n.startswith(cur)]

        prev = words[-1] if words else None
        opts = {o["name"]: o for o in self.entry["options"]}
        if prev in opts and opts[prev]["kind"] != "flag":
            o = opts[prev]
            if o["choices"]:
                return matching(o["choices"])
            if o["complete"] == "type":
                return matching(_pyheap_type_names())
            if o["complete"] == "file":
                return matching(_pyheap_file_names(cur))
            if o["complete"] == "expression":
                return gdb.COMPLETE_EXPRESSION
            return []
        if cur.startswith("-"):
            return matching(sorted(opts) + ["--json", "--plain", "--quiet",
                                            "--help"])
        kind = self.entry["operand_complete"]
        if kind == "type":
            return matching(_pyheap_type_names())
        if kind == "expression":
            return gdb.COMPLETE_EXPRESSION
        if kind == "command":
            return matching([c["name"] for c in _pyheap_table["commands"]])
        if kind == "file":
            return matching(_pyheap_file_names(cur))
        return []


class PyHeapCommand(gdb.Command):
    def __init__(self, table):
        import textwrap
        rows = []
        for c in table["commands"]:
            syn = "py-heap " + c["synopsis"]
            summary = textwrap.wrap(c["summary"], 79 - 35)
            if len(syn) > 32:       # the summary under a long synopsis
                rows.append("  " + syn)
                syn = ""
            rows += ["  %-32s %s" % (syn if i == 0 else "", line)
                     for i, line in enumerate(summary)]
        self.__doc__ = """Inspect the Python objects in a CPython core dump or process.

py-heap reads the memory of the CPython process whose core file GDB has
loaded, finds the interpreter's runtime state and enumerates every Python
object, without running code in the process. It works on a core file
(gdb PYTHON CORE) and on a live process GDB has stopped (gdb -p PID):
after `continue` and a stop, the commands see the new state.
CPython 3.8 to 3.15 are supported.

Subcommands:
%s

Every subcommand takes --json. ADDR may be any GDB expression, or a
Python name in the selected Python frame (with libpython.py loaded).
Frame roots carry GDB's frame numbers (as py-bt-full and py-up show them).
`show` records the object in the value history ($, $N) and in $_.

Settings (show py-heap lists them):
  set py-heap json on|off           every subcommand prints JSON
                                    (set py-heap-json: the same)
  set py-heap limit N|unlimited|0   the --limit of a command given none
  set py-heap debuginfod auto|on|off  ask DEBUGINFOD_URLS; auto: as GDB's
                                    "debuginfod enabled" says
Convenience functions (help function _pyheap_count):
  $_pyheap_count("TYPE"), $_pyheap_refcnt(ADDR), $_pyheap_size(ADDR),
  $_pyheap_retained(ADDR)

The work is done by libpyheap %s (%s);
set PYHEAP_LIB to choose another library.""" % ("\n".join(rows),
                                               table["version"],
                                               _pyheap_get_lib().path)
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
        # A command this GDB session has no subcommand for: the library
        # reports an unknown one.
        _pyheap_run(words[0], words[1:])


def _pyheap_subcommand_class(entry):
    """A class of its own per subcommand: GDB takes its help from the
    class's docstring."""
    return type("PyHeap_%s" % entry["name"], (_PyHeapSubcommand,),
                {"__doc__": _pyheap_doc(entry)})


def _pyheap_define_commands():
    global _pyheap_table, _pyheap_no_process
    _pyheap_table = _pyheap_get_lib().table()
    _pyheap_no_process = {c["name"] for c in _pyheap_table["commands"]
                          if not c["needs_process"]}
    PyHeapCommand(_pyheap_table)
    for entry in _pyheap_table["commands"]:
        _pyheap_subcommand_class(entry)(entry)


# ---- Convenience functions: p $_pyheap_count("__main__.Session") -----------


def _pyheap_query(argv):
    """A command's JSON answer, as a dict."""
    import json
    return json.loads(_pyheap_state.get().run(argv, True))


def _pyheap_function_address(value):
    """A convenience function's ADDR: a pointer, a number, a struct (*op)
    or a string, taken as a Python name ("_SESSIONS")."""
    return _pyheap_value_address(value)


def _pyheap_function_type(value):
    t = value.type.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_ARRAY, gdb.TYPE_CODE_PTR) and \
            t.target().sizeof == 1:
        return value.string()
    raise _pyheap_err('give the type as a string: $_pyheap_count('
                      '"__main__.Session")')


class _PyHeapFunction(gdb.Function):
    """A convenience function made from (name, doc, fn)."""

    def __init__(self, name, fn):
        self.fn = fn
        super().__init__(name)

    def invoke(self, *args):
        if len(args) != 1:
            raise _pyheap_err("$%s takes one argument" % self._name)
        try:
            return gdb.Value(self.fn(args[0]))
        except (gdb.GdbError, KeyboardInterrupt):
            raise
        except Exception as e:        # never a Python traceback
            raise _pyheap_err("$%s: %s: %s" % (self._name,
                                                type(e).__name__, e))


def _pyheap_count(value):
    return int(_pyheap_query(["list", _pyheap_function_type(value),
                              "--limit", "1"])["count"])


def _pyheap_refcnt(value):
    return int(_pyheap_query(["refcount",
                              _pyheap_function_address(value)])["refcount"])


def _pyheap_size(value):
    return int(_pyheap_query(["show", _pyheap_function_address(value),
                              "--limit", "1"])["size"])


def _pyheap_retained(value):
    return int(_pyheap_query(["retained", _pyheap_function_address(
        value)])["retained"]["bytes"])


_PYHEAP_FUNCTIONS = [
    ("_pyheap_count", _pyheap_count, """How many objects of a type the heap holds.

Usage: $_pyheap_count("TYPE"), TYPE as `py-heap types` names it
("__main__.Session", "dict"); the count `py-heap list TYPE` gives."""),
    ("_pyheap_refcnt", _pyheap_refcnt, """An object's reference count (ob_refcnt).

Usage: $_pyheap_refcnt(ADDR). ADDR: a pointer or a number (id() in the
process), or a string: a Python name looked up in the selected Python frame
(libpython.py loaded): $_pyheap_refcnt("_SESSIONS")."""),
    ("_pyheap_size", _pyheap_size, """An object's size, as sys.getsizeof() gives it.

Usage: $_pyheap_size(ADDR). ADDR: a pointer or a number (id() in the
process), or a string: a Python name looked up in the selected Python frame
(libpython.py loaded): $_pyheap_size("_SESSIONS")."""),
    ("_pyheap_retained", _pyheap_retained, """An object's retained size in bytes.

What deleting the object would free: itself and everything only it keeps
alive (py-heap retained ADDR). Usage: $_pyheap_retained(ADDR), ADDR as
for $_pyheap_size."""),
]


def _pyheap_define_functions():
    for name, fn, doc in _PYHEAP_FUNCTIONS:
        cls = type("PyHeapFunction_%s" % name, (_PyHeapFunction,),
                   {"__doc__": doc})
        f = cls(name, fn)
        f._name = name


_pyheap_table = {"commands": []}
_pyheap_no_process = set()
_pyheap_define_commands()
_pyheap_define_functions()
