"""layout-dwarf.py - the struct ph_layout fields of a CPython build, from
its DWARF, for writing or checking a table in native/src/layout.c (3.12+
names; older versions print ERR for what they lack).

    gdb -batch -x scripts/layout-dwarf.py FILE

FILE is an unstripped interpreter (python3.Xd, a pyenv libpython) or a
separate debug file (ROOT/usr/lib/debug/.build-id/xx/rest.debug). Lines
that are not fields (sizes, object_state, callable_cache) are what the
table's interp_skip and sizeof_tstate are made of. Diff the output of two
builds to see what moved.
"""
import gdb

out = []


def off(t, path):
    try:
        return int(gdb.parse_and_eval("(long)&((%s*)0)->%s" % (t, path)))
    except gdb.error as e:
        return "ERR(%s)" % e


def size(t):
    try:
        return int(gdb.parse_and_eval("sizeof(%s)" % t))
    except gdb.error as e:
        return "ERR(%s)" % e


def f(name, v):
    out.append((name, v))


def fields(t, pairs):
    for name, path in pairs:
        f(name, off(t, path))


RT, IS, GC = "struct pyruntimestate", "struct _is", "struct _gc_runtime_state"
TP, HT, TS = "PyTypeObject", "PyHeapTypeObject", "struct _ts"
IF, CO = "struct _PyInterpreterFrame", "PyCodeObject"
f("rt_interpreters_head", off(RT, "interpreters.head"))
fields(IS, [("is_next", "next"), ("is_threads_head", "threads.head"),
            ("is_gc", "gc"), ("is_modules", "imports.modules"),
            ("is_sysdict", "sysdict"), ("is_builtins", "builtins")])
fields(GC, [("gc_generations", "generations"),
            ("gc_permanent", "permanent_generation"),
            ("gc_garbage", "garbage")])
f("gc_gen_stride", size("struct gc_generation"))
fields(TP, [(x, x) for x in (
    "tp_del", "tp_finalize", "tp_name", "tp_basicsize", "tp_itemsize",
    "tp_flags", "tp_members", "tp_base", "tp_dict", "tp_dictoffset",
    "tp_bases", "tp_mro", "tp_subclasses", "tp_weaklistoffset")])
f("ts_next", off(TS, "next"))
f("sizeof_type", size(TP))
f("sizeof_heaptype", size(HT))
fields(HT, [(x, x) for x in ("ht_name", "ht_qualname", "ht_slots",
                             "ht_cached_keys", "ht_module")])
f("sizeof_memberdef", size("PyMemberDef"))
fields("PyMemberDef", [("md_type", "type"), ("md_offset", "offset")])
fields("PyListObject", [("list_items", "ob_item"),
                        ("list_allocated", "allocated")])
f("tuple_items", off("PyTupleObject", "ob_item"))
fields("PyDictObject", [("dict_used", "ma_used"), ("dict_keys", "ma_keys"),
                        ("dict_values", "ma_values")])
f("sizeof_dict", size("PyDictObject"))
fields("struct _dictkeysobject", [(x, x) for x in (
    "dk_refcnt", "dk_log2_size", "dk_log2_index_bytes", "dk_kind",
    "dk_usable", "dk_nentries", "dk_indices")])
f("sizeof_dictkeys", size("struct _dictkeysobject"))
fields("PySetObject", [("set_" + x, x) for x in ("fill", "used", "mask",
                                                  "table", "smalltable")])
fields("PyASCIIObject", [("str_length", "length"), ("str_state", "state")])
f("sizeof_ascii", size("PyASCIIObject"))
f("sizeof_compact", size("PyCompactUnicodeObject"))
f("sizeof_unicode", size("PyUnicodeObject"))
fields("PyCompactUnicodeObject", [("str_utf8_length", "utf8_length"),
                                  ("str_utf8", "utf8")])
f("str_data", off("PyUnicodeObject", "data"))
fields("PyLongObject", [("long_digits", "long_value.ob_digit"),
                        ("long_tag", "long_value.lv_tag")])
f("float_value", off("PyFloatObject", "ob_fval"))
f("bytes_data", off("PyBytesObject", "ob_sval"))
f("bytearray_alloc", off("PyByteArrayObject", "ob_alloc"))
f("func_fields", [off("PyFunctionObject", x) for x in (
    "func_globals", "func_builtins", "func_name", "func_qualname",
    "func_code", "func_defaults", "func_kwdefaults", "func_closure",
    "func_doc", "func_dict", "func_module", "func_annotations")])
f("code_fields", [off(CO, x) for x in (
    "co_consts", "co_names", "co_exceptiontable", "co_localsplusnames",
    "co_localspluskinds", "co_filename", "co_name", "co_qualname",
    "co_linetable")])
fields(CO, [("code_name", "co_name"), ("code_qualname", "co_qualname"),
            ("code_filename", "co_filename"),
            ("code_firstlineno", "co_firstlineno")] +
       [(x, x) for x in ("co_nlocalsplus", "co_stacksize", "co_linetable",
                         "co_code_adaptive", "co_localsplusnames")])
fields("PyMethodObject", [("method_func", "im_func"),
                          ("method_self", "im_self")])
fields("PyModuleObject", [("module_dict", "md_dict"),
                          ("module_name", "md_name"),
                          ("module_state", "md_state"),
                          ("module_def", "md_def"),
                          ("module_state_size", "md_state_size")])
f("moddef_size", off("PyModuleDef", "m_size"))
f("cell_ref", off("PyCellObject", "ob_ref"))
fields("PyWeakReference", [("weakref_object", "wr_object"),
                           ("weakref_callback", "wr_callback")])
f("exc_fields", [off("PyBaseExceptionObject", x) for x in (
    "dict", "args", "notes", "traceback", "context", "cause")])
f("prop_fields", [off("propertyobject", x) for x in (
    "prop_get", "prop_set", "prop_del", "prop_doc", "prop_name")])
fields("classmethod", [("cm_callable", "cm_callable"), ("cm_dict", "cm_dict")])
fields("struct _frame", [("frame_back", "f_back"), ("frame_iframe", "f_frame"),
                         ("frame_trace", "f_trace"),
                         ("frame_data", "_f_frame_data")])
fields(IF, [("if_func", "f_funcobj"), ("if_globals", "f_globals"),
            ("if_builtins", "f_builtins"), ("if_locals", "f_locals"),
            ("if_code", "f_executable"), ("if_previous", "previous"),
            ("if_prev_instr", "instr_ptr"), ("if_stacktop", "stackpointer"),
            ("if_localsplus", "localsplus"), ("if_owner", "owner")])
fields("PyGenObject", [("gen_iframe", "gi_iframe"), ("gen_name", "gi_name"),
                       ("gen_qualname", "gi_qualname"),
                       ("gen_state", "gi_frame_state")])
fields(TS, [("ts_cframe", "current_frame"), ("ts_thread_id", "thread_id")])
f("sizeof_tstate", size(TS))
f("is_type_cache", off(IS, "types.type_cache"))
f("type_cache_entry_size", size("struct type_cache_entry"))
f("type_cache_value", off("struct type_cache_entry", "value"))
f("is_builtin_states", off(IS, "types.builtins"))
f("builtin_state_size", size("managed_static_type_state"))
f("(object_state: free lists)", off(IS, "object_state"))
f("(sizeof object_state.freelists)",
  size("((struct _is*)0)->object_state.freelists"))
f("(callable_cache)", off(IS, "callable_cache"))
f("(sizeof callable_cache)", size("((struct _is*)0)->callable_cache"))
f("(sizeof PyObject)", size("PyObject"))
for name, v in out:
    print("%s = %s" % (name, v))
