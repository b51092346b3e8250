/*
 * layout_ft.h - the layouts of free-threaded builds (--disable-gil,
 * Py_GIL_DISABLED): each the default build's table of its version plus
 * what differs, read from the DWARF of fixtures/provision.sh trixie-ft's
 * python3.13t (`gdb -batch -x scripts/layout-dwarf.py EXE`, against
 * pyenv's 3.13.0 that gives the 3.13 table). Every object field is 16
 * bytes further: the header is ob_tid, a padding word, ob_mutex,
 * ob_gc_bits (+11), ob_ref_local (+12, 32 bits), ob_ref_shared (+16),
 * ob_type (+24). There is no GC head (objects are mimalloc's blocks, the
 * tracked ones marked in ob_gc_bits) and no free list in the interpreter
 * (they are each thread state's): what it skips is the callable cache.
 * The Py_DEBUG variant (python3.13td) moves what follows PyConfig by 80
 * bytes (ph_layout_debug_adjust).
 */
#ifndef PH_LAYOUT_FT_H
#define PH_LAYOUT_FT_H

/* clang-format off */
#define PH_LAYOUT_FT_VERSIONS(V) \
	V(3, 13)

/* 3.13t: the trixie-ft root's python3.13t (Debian's 3.13.5 source) */
#define PH_LAYOUT_3_13_FT(F) PH_LAYOUT_3_13(F) \
	F(free_threaded, true) \
	F(ob_type, 24) \
	F(gc_head_size, 0) \
	F(gc_generations, 20) \
	F(interp_skip[0][0], 196160) \
	F(interp_skip[0][1], 32) \
	F(interp_skip[1][0], 0) \
	F(interp_skip[1][1], 0) \
	F(ts_skip[0], 14240) \
	F(ts_skip[1], 3536) \
	F(is_modules, 7664) \
	F(is_sysdict, 7648) \
	F(is_builtins, 7656) \
	F(is_feature_flags, 8456) \
	F(is_obmalloc, 17432) \
	F(is_interned, 197416) \
	F(tp_del, 392) \
	F(tp_finalize, 408) \
	F(sizeof_type, 432) \
	F(sizeof_heaptype, 944) \
	F(tp_name, 40) \
	F(tp_basicsize, 48) \
	F(tp_itemsize, 56) \
	F(tp_flags, 184) \
	F(tp_members, 256) \
	F(tp_base, 272) \
	F(tp_dict, 280) \
	F(tp_dictoffset, 304) \
	F(tp_bases, 352) \
	F(tp_mro, 360) \
	F(ht_name, 872) \
	F(ht_qualname, 888) \
	F(ht_slots, 880) \
	F(ht_cached_keys, 896) \
	F(ht_module, 904) \
	F(list_items, 40) \
	F(list_allocated, 48) \
	F(tuple_items, 40) \
	F(dict_used, 32) \
	F(dict_keys, 48) \
	F(dict_values, 56) \
	F(sizeof_dict, 64) \
	F(set_fill, 32) \
	F(set_used, 40) \
	F(set_mask, 48) \
	F(set_table, 56) \
	F(set_smalltable, 80) \
	F(str_length, 32) \
	F(str_state, 48) \
	F(sizeof_ascii, 56) \
	F(sizeof_compact, 72) \
	F(sizeof_unicode, 80) \
	F(str_utf8_length, 56) \
	F(str_utf8, 64) \
	F(str_data, 72) \
	F(long_digits, 40) \
	F(float_value, 32) \
	F(bytes_data, 48) \
	F(bytearray_alloc, 40) \
	F(func_fields[0], 32) \
	F(func_fields[1], 40) \
	F(func_fields[2], 48) \
	F(func_fields[3], 56) \
	F(func_fields[4], 64) \
	F(func_fields[5], 72) \
	F(func_fields[6], 80) \
	F(func_fields[7], 88) \
	F(func_fields[8], 96) \
	F(func_fields[9], 104) \
	F(func_fields[10], 120) \
	F(func_fields[11], 128) \
	F(code_fields[0], 40) \
	F(code_fields[1], 48) \
	F(code_fields[2], 56) \
	F(code_fields[3], 112) \
	F(code_fields[4], 120) \
	F(code_fields[5], 128) \
	F(code_fields[6], 136) \
	F(code_fields[7], 144) \
	F(code_fields[8], 152) \
	F(code_name, 136) \
	F(code_qualname, 144) \
	F(code_filename, 128) \
	F(code_firstlineno, 84) \
	F(method_func, 32) \
	F(method_self, 40) \
	F(module_dict, 32) \
	F(module_name, 64) \
	F(cell_ref, 32) \
	F(weakref_object, 32) \
	F(weakref_callback, 40) \
	F(exc_fields[0], 32) \
	F(exc_fields[1], 40) \
	F(exc_fields[2], 48) \
	F(exc_fields[3], 56) \
	F(exc_fields[4], 64) \
	F(exc_fields[5], 72) \
	F(prop_fields[0], 32) \
	F(prop_fields[1], 40) \
	F(prop_fields[2], 48) \
	F(prop_fields[3], 56) \
	F(prop_fields[4], 64) \
	F(cm_callable, 32) \
	F(cm_dict, 40) \
	F(frame_back, 32) \
	F(frame_iframe, 40) \
	F(frame_trace, 48) \
	F(frame_data, 80) \
	F(gen_code, 88) \
	F(gen_name, 40) \
	F(gen_qualname, 48) \
	F(gen_iframe, 88) \
	F(gen_state, 83) \
	F(co_nlocalsplus, 88) \
	F(co_stacksize, 80) \
	F(co_linetable, 152) \
	F(co_code_adaptive, 216) \
	F(co_localsplusnames, 112) \
	F(is_type_cache, 87744) \
	F(module_state, 48) \
	F(module_def, 40) \
	F(moddef_size, 72) \
	F(tp_subclasses, 376) \
	F(tp_weaklistoffset, 224) \
	F(is_builtin_states, 186056) \
	F(long_tag, 32) \
	/* the standard library's C types (kind_stdlib.c): 3.13's + 16 */ \
	F(buffered_buffer, 72) \
	F(buffered_buffer_size, 136) \
	F(bytesio_buf, 32) \
	F(array_allocated, 48) \
	F(array_descr, 56) \
	F(struct_codes, 48) \
	F(product_pools, 32) \
	F(combinations_r, 56) \
	F(cwr_r, 56) \
	F(permutations_pool, 32) \
	F(permutations_r, 64) \
	F(decimal_dec, 40) \
	F(stringio_decoder, 136) \
	F(stringio_writer_buffer, 72) \
	F(lru_elem_next, 40) \
	F(lru_elem_key, 56) \
	F(lru_elem_result, 64) \
	F(lru_cache, 88) \
	F(lru_func, 104) \
	F(lru_kwd_mark, 128) \
	F(lru_elem_type, 136) \
	F(lru_cache_info_type, 144) \
	F(lru_dict, 152)
/* clang-format on */

#endif /* PH_LAYOUT_FT_H */
