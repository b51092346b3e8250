"""layout-dwarf.py - struct ph_layout's fields from CPython's own DWARF.

The fields are those of native/src/layout_fields.h (read from there).

    gdb -batch -x scripts/layout-dwarf.py FILE

prints every field that mirrors a C struct's member or size, named as the
newest versions name them, evaluated in FILE's DWARF (an unstripped
interpreter or libpython, or a separate debug file such as
ROOT/usr/lib/debug/.build-id/xx/rest.debug; older versions print ERR for
what they name otherwise). Diff the output of two builds to see what moved.

    python3 scripts/layout-dwarf.py --generate [--check]

writes native/src/layout_versions.h: every version's table, evaluated in
the DWARF of the build VERSIONS names for it (gdb runs this file on each),
written as the version before it plus what differs. VERSIONS says, version
by version, what changed in how a field is found: an older or newer member
name, another struct, a gdb expression, or a value that no struct holds
(a flag, pymalloc's sizes). --check only compares, and exits 1 when the
file would change.

A spec (a value of VERSIONS' dicts) is one of:
    "member.path"    offsetof(the field's struct in layout_fields.h, ...)
    "TYPE::member"   offsetof(TYPE, member); "TYPE::" sizeof(TYPE)
    "=EXPR"          a gdb expression, in bytes
    "c:NAME|NAME"    C constants (CONSTS), or-ed, written as they are
    int, bool        the value itself; None: not there (0)
    LIST             back to what layout_fields.h names
    LIST + " m n"    an array: the members layout_fields.h names, and these
    [spec, ...]      an array, element by element ("-" or None: 0)
A field no spec names is offsetof (or sizeof) of what layout_fields.h
names, in the versions that need it (since, until), else 0.
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "native", "src")
FIELDS_H = os.path.join(SRC, "layout_fields.h")
OUT_H = os.path.join(SRC, "layout_versions.h")

LIST = "<as layout_fields.h names it>"
LIST_MARK = "<list+>"

CONSTS = {
    "UINT32_MAX": 0xffffffff,
    "PH_TPFLAGS_MANAGED_WEAKREF": 1 << 3,
    "PH_TPFLAGS_MANAGED_DICT": 1 << 4,
}

# The debug files of Debian's builds, in the roots fixtures/provision.sh
# makes (by the build-id of the interpreter), and pyenv's builds.
ROOTS = "/var/cache/py-heap/roots"
PYENV = "/root/.pyenv/versions"


def debian_debug_file(root, exe):
    out = subprocess.run(["readelf", "-n", root + exe], capture_output=True,
                         text=True).stdout
    bid = re.search(r"Build ID: ([0-9a-f]+)", out).group(1)
    return "%s/usr/lib/debug/.build-id/%s/%s.debug" % (root, bid[:2], bid[2:])


# Each version: the build whose DWARF gives its table, and what changed
# since the version before it. The first one names everything that is not
# a plain offsetof or sizeof of what layout_fields.h names.
VERSIONS = [
    ("3.8", "pyenv's 3.8.18",
     lambda: PYENV + "/3.8.18/lib/libpython3.8.so.1.0", {
         "major": 3, "minor": 8, "source": "tables",
         # 3.8 keeps the GC state in _PyRuntime (rt_gc)
         "is_threads_head": "tstate_head",
         "is_modules": "modules",
         "gc_ngens": 3,
         # modules of their own in pyenv's builds (no DWARF in libpython):
         # the same in each version's module, 3.8.18 to 3.13.0, and in
         # Debian's 3.11, 3.14 and 3.15 (built in)
         "array_allocated": 32, "array_descr": 40, "arraydescr_itemsize": 4,
         "struct_codes": 32, "sizeof_formatcode": 32,
         "decimal_dec": 24, "mpd_flags": 0, "mpd_alloc": 32,
         # _ctypes' StgDict, 3.8.18 to 3.12.1 (gone in 3.13)
         "sizeof_stgdict": 192, "stgdict_length": 64,
         "stgdict_elements": 72 + 16, "stgdict_format": 168,
         "stgdict_ndim": 176, "stgdict_proto": 96,
         "stgdict_fields": [128, 136, 144, 152],
         "managed_presize": 0,
         "str_wstr": "wstr", "str_wstr_length": "wstr_length",
         "long_digits": "ob_digit",
         "func_fields": ["func_globals", None, "func_name", "func_qualname",
                         "func_code", "func_defaults", "func_kwdefaults",
                         "func_closure", "func_doc", "func_dict",
                         "func_module", "func_annotations"],
         "nfunc_fields": 12,
         "code_fields": ["co_consts", "co_names", "co_varnames",
                         "co_freevars", "co_cellvars", "co_filename",
                         "co_name", "co_lnotab", "co_code"],
         "code_qualname": "co_name",  # no co_qualname before 3.11
         "co_linetable": "co_lnotab",
         "exc_fields": ["dict", "args", None, "traceback", "context",
                        "cause"],
         "prop_fields": ["prop_get", "prop_set", "prop_del", "prop_doc",
                         None],
         # the frame object
         "frame_objects": True, "f_stackdepth": False,
         "f_stacktop": "f_stacktop",
         "if_globals": "struct _frame::f_globals",
         "if_builtins": "struct _frame::f_builtins",
         "if_locals": "struct _frame::f_locals",
         "if_code": "struct _frame::f_code",
         "if_previous": "struct _frame::f_back",
         "if_localsplus": "struct _frame::f_localsplus",
         "gen_code": "gi_code",
         "ts_cframe": "frame",  # PyThreadState.frame
         "cframe_current": "c:UINT32_MAX",
         "line_format": 1,
         # the static method_cache
         "static_method_cache": True, "static_free_lists": True,
         "type_cache_entries": 4096,
         "type_cache_entry_size": "struct method_cache_entry::",
         "type_cache_value": "struct method_cache_entry::value",
         "pool_size": 4096, "arena_size": 256 << 10, "pool_overhead": 48,
         "nsize_classes": 32,
         "immortal": False, "interned_uncounted": True,
         "refcnt_split": False, "stackrefs": False,
         "free_threaded": False,
     }),
    ("3.9", "pyenv's 3.9.18",
     lambda: PYENV + "/3.9.18/lib/libpython3.9.so.1.0", {
         "minor": 9,
     }),
    ("3.10", "pyenv's 3.10.13",
     lambda: PYENV + "/3.10.13/lib/libpython3.10.so.1.0", {
         "minor": 10,
         "func_fields": LIST, "prop_fields": LIST,
         "code_fields": ["co_consts", "co_names", "co_varnames",
                         "co_freevars", "co_cellvars", "co_filename",
                         "co_name", "co_linetable", "co_code"],
         "co_linetable": LIST,
         "f_stackdepth": True, "f_stacktop": LIST,
         "line_format": 2,
         "static_method_cache": False, "static_free_lists": False,
         "is_type_cache": "type_cache",
         "type_cache_entry_size": LIST, "type_cache_value": LIST,
         "pool_size": 16384, "arena_size": 1 << 20,
         # the float, slice, tuple, list, dict, frame, async generator and
         # context free lists: slots past their count are stale
         "interp_skip": [["=(long)&((struct _is*)0)->float_state",
                          "=(long)&((struct _is*)0)->context - "
                          "(long)&((struct _is*)0)->float_state + "
                          "sizeof(((struct _is*)0)->context)"]],
     }),
    ("3.11", "Debian's 3.11.2 (python3.11-dbg)",
     lambda: debian_debug_file("", "/usr/bin/python3.11"), {
         "minor": 11,
         "is_threads_head": LIST,
         "managed_presize": 16,
         "static_type_extra": "=sizeof(PyGC_Head)",
         "long_digits": "ob_digit",
         "code_fields": LIST + " _co_code",
         "code_qualname": LIST, "exc_fields": LIST,
         "if_func": "f_func",
         "if_globals": LIST, "if_builtins": LIST, "if_locals": LIST,
         "if_code": "f_code", "if_previous": LIST, "if_localsplus": LIST,
         "if_prev_instr": "prev_instr", "if_stacktop": "stacktop",
         "frame_objects": False, "f_stackdepth": False,
         "ts_cframe": "cframe",
         "cframe_current": "_PyCFrame::current_frame",
         "line_format": 0,
         "deepfrozen_refcnt": 999999999,
         "preheader_flags": "c:PH_TPFLAGS_MANAGED_DICT",
         "managed_layout": 311,
         "interp_skip": [
             ["=(long)&((struct _is*)0)->float_state", 16],
             ["=(long)&((struct _is*)0)->tuple", 240],
             ["=(long)&((struct _is*)0)->list", 648],
             ["=(long)&((struct _is*)0)->dict_state", 1296],
             ["=(long)&((struct _is*)0)->async_gen", 1296],
             ["=(long)&((struct _is*)0)->context", 16],
             ["=(long)&((struct _is*)0)->callable_cache", 32],
         ],
     }),
    ("3.12", "pyenv's 3.12.1",
     lambda: PYENV + "/3.12.1/lib/libpython3.12.so.1.0", {
         "minor": 12,
         "is_modules": LIST, "long_digits": LIST, "code_fields": LIST,
         "if_func": LIST,
         "is_type_cache": LIST,
         # the code is the frame's first word
         "gen_code": "=(long)&((PyGenObject*)0)->gi_iframe + "
                     "(long)&((struct _PyInterpreterFrame*)0)->f_code",
         "str_wstr": None, "str_wstr_length": None,
         "deepfrozen_refcnt": 0xffffffff,  # _Py_IMMORTAL_REFCNT
         "preheader_flags":
             "c:PH_TPFLAGS_MANAGED_DICT | PH_TPFLAGS_MANAGED_WEAKREF",
         "managed_layout": 312,
         "immortal": True, "interned_uncounted": False,
         "is_builtin_states": "types.builtins",
         "builtin_states_count": "=sizeof(((struct _is*)0)->types.builtins)"
                                 " / sizeof(static_builtin_state)",
         "builtin_state_size": "static_builtin_state::",
         "builtin_state_weaklist": "static_builtin_state::tp_weaklist",
         "interp_skip": [
             ["=(long)&((struct _is*)0)->float_state", 16],
             ["=(long)&((struct _is*)0)->tuple", 240],
             ["=(long)&((struct _is*)0)->list", 648],
             ["=(long)&((struct _is*)0)->dict_state", 1368],
             ["=(long)&((struct _is*)0)->async_gen", 1296],
             ["=(long)&((struct _is*)0)->context", 16],
             ["=(long)&((struct _is*)0)->callable_cache", 32],
         ],
     }),
    ("3.13", "pyenv's 3.13.0",
     lambda: PYENV + "/3.13.0/lib/libpython3.13.so.1.0", {
         "minor": 13,
         "static_type_extra": None,
         "sizeof_stgdict": None, "stgdict_length": None,
         "stgdict_elements": None, "stgdict_format": None,
         "stgdict_ndim": None, "stgdict_proto": None,
         "stgdict_fields": None,
         "if_code": LIST, "if_prev_instr": LIST,
         "gen_code": "=(long)&((PyGenObject*)0)->gi_iframe + "
                     "(long)&((struct _PyInterpreterFrame*)0)->f_executable",
         "ts_cframe": LIST, "cframe_current": "c:UINT32_MAX",
         "deepfrozen_refcnt": 0xffffffff,  # static immortal objects
         "managed_layout": 313,
         "interned_uncounted": True,
         "is_builtin_states": LIST,  # types.builtins.initialized
         "builtin_states_count":
             "=sizeof(((struct _is*)0)->types.builtins.initialized)"
             " / sizeof(managed_static_type_state)",
         "builtin_state_size": LIST, "builtin_state_weaklist": LIST,
         # the free lists (object_state); the callable cache (borrowed)
         "interp_skip": [
             ["=(long)&((struct _is*)0)->object_state.freelists",
              "=sizeof(((struct _is*)0)->object_state.freelists)"],
             ["=(long)&((struct _is*)0)->callable_cache", 32],
         ],
     }),
    ("3.14", "Debian's 3.14.10 (python3.14-dbg)",
     lambda: debian_debug_file(ROOTS + "/sid", "/usr/bin/python3.14"), {
         "minor": 14,
         "if_stacktop": LIST,
         # static objects: refcount 3 << 30, flags 5 (static, immortal)
         "deepfrozen_refcnt": 0x00050000c0000000,
         "refcnt_split": True, "stackrefs": True,
     }),
    ("3.15", "Debian's 3.15.2 (python3.15-dbg)",
     lambda: debian_debug_file(ROOTS + "/sid", "/usr/bin/python3.15"), {
         "minor": 15,
         # CREATED 0, SUSPENDED 1-3, EXECUTING 4, CLEARED 5
         "gen_state_done": 5,
     }),
]


# ---- the list -------------------------------------------------------------

def split_args(s):
    out, cur, q = [], "", False
    for ch in s:
        if ch == '"':
            q = not q
        if ch == "," and not q:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def read_fields():
    """The fields of layout_fields.h, in order."""
    fields = []
    for line in open(FIELDS_H):
        m = re.match(r"\s*X\((.*)\)\s*(/\*.*\*/)?\s*\\?\s*$", line)
        if not m:
            continue
        a = split_args(m.group(1))
        dims = [int(d) for d in re.findall(r"\[(\d+)\]", a[2])]
        fields.append({
            "type": a[0], "name": a[1], "dims": dims,
            "cstruct": a[3].strip('"'), "member": a[4].strip('"'),
            "dbg": a[5].strip('"'), "dbg_off": int(a[6]),
            "check": a[7].strip('"'), "since": int(a[8]),
            "until": int(a[9])})
    return fields


# ---- in gdb ---------------------------------------------------------------

def gdb_long(expr):
    import gdb
    return int(gdb.parse_and_eval("(long)(%s)" % expr))


def offsetof(t, member):
    return gdb_long("&((%s*)0)->%s" % (t, member))


def sizeof(t):
    return gdb_long("sizeof(%s)" % t)


def eval_spec(f, spec):
    """A spec's value in this build: an int, a bool, a str (a C constant
    or a string), or a list (an array)."""
    if spec is None or spec == "-":
        return 0
    if isinstance(spec, bool):
        return spec
    if isinstance(spec, int):
        return spec
    if isinstance(spec, list):
        return [eval_spec(f, s) for s in spec]
    if spec.startswith("c:"):
        return spec
    if spec.startswith("="):
        return gdb_long(spec[1:])
    if "::" in spec:
        t, mem = spec.split("::", 1)
        return offsetof(t, mem) if mem else sizeof(t)
    if f["type"] == "const char *":
        return spec
    return offsetof(f["cstruct"], spec)


def default_spec(f):
    if not f["cstruct"]:
        return None
    if not f["member"]:
        return f["cstruct"] + "::"
    if f["dims"]:
        return f["member"].split()
    return f["member"]


def version_specs():
    """Each version's full spec: the one before plus what changed."""
    out, cur = [], {}
    for ver, build, path, changes in VERSIONS:
        cur = dict(cur)
        for k, v in changes.items():
            if isinstance(v, str) and v.startswith(LIST):
                rest = v[len(LIST):].split()
                cur.pop(k, None)
                if rest:
                    cur[k] = LIST_MARK + " ".join(rest)
            else:
                cur[k] = v
        out.append((ver, build, path, cur))
    return out



def field_spec(f, spec, minor):
    """The spec of field f in a version (None: not there)."""
    if f["name"] in spec:
        s = spec[f["name"]]
        if isinstance(s, str) and s.startswith(LIST_MARK):
            return default_spec(f) + s[len(LIST_MARK):].split()
        return s
    if not f["since"] <= minor <= f["until"]:
        return None
    return default_spec(f)


def gdb_eval_version():
    ver = os.environ["PH_LAYOUT_EVAL"]
    fields = read_fields()
    minor = int(ver.split(".")[1])
    spec = [s for v, b, p, s in version_specs() if v == ver][0]
    vals = {}
    for f in fields:
        s = field_spec(f, spec, minor)
        try:
            vals[f["name"]] = eval_spec(f, s)
        except Exception as e:  # noqa: BLE001 (gdb.error)
            vals[f["name"]] = "ERR(%s: %s)" % (s, e)
    print("PH_LAYOUT_JSON " + json.dumps(vals))


def gdb_print_fields():
    for f in read_fields():
        s = default_spec(f)
        if s is None:
            continue
        try:
            v = eval_spec(f, s)
        except Exception as e:  # noqa: BLE001
            v = "ERR(%s)" % e
        print("%s = %s" % (f["name"], v))


# ---- outside gdb: the tables ----------------------------------------------

def run_gdb(ver, path):
    env = dict(os.environ, PH_LAYOUT_EVAL=ver)
    r = subprocess.run(["gdb", "-nx", "-batch", "-x", os.path.abspath(__file__),
                        path], capture_output=True, text=True, env=env)
    for line in r.stdout.splitlines():
        if line.startswith("PH_LAYOUT_JSON "):
            return json.loads(line[len("PH_LAYOUT_JSON "):])
    sys.exit("layout-dwarf.py: gdb on %s gave nothing: %s" %
             (path, r.stderr[-2000:]))


def numeric(v):
    if isinstance(v, str) and v.startswith("c:"):
        n = 0
        for c in v[2:].split("|"):
            n |= CONSTS[c.strip()]
        return n
    return v


def c_value(f, v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str) and v.startswith("c:"):
        return " | ".join(c.strip() for c in v[2:].split("|"))
    if f["type"] == "const char *":
        return '"%s"' % v if v else "NULL"
    if f["type"] == "uint64_t" and v > 0xffffffff:
        return "0x%016xULL" % v
    return str(v)


def elements(f, v):
    """(designator, value) of a field: one, or one per array element."""
    if not f["dims"]:
        return [(f["name"], v)]
    if not isinstance(v, list):
        v = [] if not v else [v]
    out = []
    if len(f["dims"]) == 1:
        for i in range(f["dims"][0]):
            out.append(("%s[%d]" % (f["name"], i), v[i] if i < len(v) else 0))
    else:
        for i in range(f["dims"][0]):
            row = v[i] if i < len(v) else [0] * f["dims"][1]
            for j in range(f["dims"][1]):
                out.append(("%s[%d][%d]" % (f["name"], i, j),
                            row[j] if j < len(row) else 0))
    return out


def table(fields, vals, spec, ver):
    """The version's values, by designator; code_field_names and the
    derived counts filled in."""
    minor = int(ver.split(".")[1])
    vals = dict(vals)
    code = field_spec([f for f in fields if f["name"] == "code_fields"][0],
                      spec, minor)
    vals["ncode_fields"] = len(code)
    if minor <= 10:
        vals["code_field_names"] = code
    else:
        vals["code_field_names"] = None
    errs = ["%s %s: %s" % (ver, k, v) for k, v in vals.items()
            if isinstance(v, str) and v.startswith("ERR")]
    if errs:
        sys.exit("layout-dwarf.py: " + "\nlayout-dwarf.py: ".join(errs))
    out = {}
    for f in fields:
        v = vals[f["name"]]
        if f["type"] == "const char *const *":
            out[f["name"]] = v
            continue
        for d, x in elements(f, v):
            out[d] = x
    return out


def emissions(fields, tables):
    """Each version's (designator, C value) pairs: what differs from the
    version before, and what it needs that no version before named."""
    byname = {f["name"]: f for f in fields}
    out, prev, named = [], {}, set()
    for ver, build, path, spec, t in tables:
        minor = int(ver.split(".")[1])
        tag = ver.replace(".", "_")
        lines = []
        for d, v in t.items():
            name = d.split("[")[0]
            f = byname[name]
            needed = f["since"] <= minor <= f["until"]
            if d == "code_field_names":
                if v != prev.get(d) or (needed and d not in named):
                    lines.append((d, "ph_code_names_%s" % tag if v
                                  else "NULL", v))
                    named.add(d)
                continue
            if not needed and numeric(v) and not prev:
                sys.exit("layout-dwarf.py: %s sets %s, which it does not "
                         "need (since, until in layout_fields.h)" % (ver, d))
            changed = d in prev and c_value(f, v) != c_value(f, prev[d]) \
                or d not in prev and numeric(v)
            # the first version that needs a field names it (an array by
            # its first element at least), even as 0
            first = needed and name not in named and \
                (numeric(v) or not f["dims"] or d.endswith("[0]") or
                 d.endswith("[0][0]"))
            if changed or first:
                lines.append((d, c_value(f, v), v))
                named.add(name)
        out.append((ver, build, tag, lines))
        prev = t
    return out


def macro(head, items):
    """A #define of items, one a line."""
    return " \\\n\t".join([head] + items) + "\n"


def generate(check):
    fields = read_fields()
    tables = []
    for ver, build, path, spec in version_specs():
        vals = run_gdb(ver, path())
        tables.append((ver, build, path(), spec,
                       table(fields, vals, spec, ver)))
    em = emissions(fields, tables)
    L = ["/*",
         " * layout_versions.h - the per-version layout tables, generated by",
         " * `python3 scripts/layout-dwarf.py --generate` from the DWARF of",
         " * the builds named below and the fields of layout_fields.h: do",
         " * not edit. Each version is the one before it plus what differs.",
         " */",
         "#ifndef PH_LAYOUT_VERSIONS_H", "#define PH_LAYOUT_VERSIONS_H", "",
         "/* clang-format off */"]
    for ver, build, tag, lines in em:
        for d, cv, v in lines:
            if d == "code_field_names" and v:
                L.append("static const char *const %s[] = {" % cv)
                for i in range(0, len(v), 4):
                    L.append("\t" + " ".join('"%s",' % n
                                             for n in v[i:i + 4]))
                L.append("};")
    L += ["", macro("#define PH_LAYOUT_VERSIONS(V)",
                    ["V(%s, %s)" % tuple(v.split(".")) for v, *_ in em])]
    prev = None
    for ver, build, tag, lines in em:
        L.append("/* %s: %s */" % (ver, build))
        head = "#define PH_LAYOUT_%s(F)" % tag
        if prev:
            head += " PH_LAYOUT_%s(F)" % prev
        L.append(macro(head, ["F(%s, %s)" % (d, cv) for d, cv, v in lines]))
        prev = tag
    L += ["/* clang-format on */", "", "#endif /* PH_LAYOUT_VERSIONS_H */"]
    text = "\n".join(L) + "\n"
    old = open(OUT_H).read() if os.path.exists(OUT_H) else ""
    if check:
        if old != text:
            print("layout-dwarf.py: %s would change" % OUT_H)
            return 1
        print("layout-dwarf.py: %s is up to date" % OUT_H)
        return 0
    if old != text:
        open(OUT_H, "w").write(text)
        print("layout-dwarf.py: wrote %s" % OUT_H)
    else:
        print("layout-dwarf.py: %s unchanged" % OUT_H)
    return 0


def dump_json():
    """Every version's values as JSON (for comparing with the tables)."""
    fields = read_fields()
    out = {}
    for ver, build, path, spec in version_specs():
        t = table(fields, run_gdb(ver, path()), spec, ver)
        out[ver] = {k: numeric(v) for k, v in t.items()}
    print(json.dumps(out, indent=1))


try:
    import gdb  # noqa: F401
    IN_GDB = True
except ImportError:
    IN_GDB = False

if IN_GDB:
    if os.environ.get("PH_LAYOUT_EVAL"):
        gdb_eval_version()
    else:
        gdb_print_fields()
elif __name__ == "__main__":
    if "--generate" in sys.argv:
        sys.exit(generate("--check" in sys.argv))
    if "--json" in sys.argv:
        dump_json()
        sys.exit(0)
    sys.exit(__doc__)
