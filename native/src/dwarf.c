/*
 * dwarf.c - struct member offsets from the interpreter's DWARF (libdw),
 * where it has some (its -dbg package, a debuginfod server, a build with
 * debug information): the layout tables are checked against them, and a
 * field that differs (a patch release that moved it) is taken from them.
 *
 * libdw is opened (dlopen) the first time DWARF is read, not linked: a run
 * whose layout is cached reads none, and loading libdw and the two
 * libraries it needs (liblzma, libbz2) cost every run of py-heap 0.7 ms
 * under PVM, a tenth of a command on a cached core.
 *
 * The check runs once per interpreter build and cache directory. Where
 * the DWARF is compressed (Debian's -dbg files), libdw would inflate all
 * of it; the sections the structs need are inflated here instead, into
 * an image of their own: whole by libdeflate where it is installed
 * (opened as libdw is), else by zlib, .debug_info only as far as the
 * structs are (docs/performance.md, "The first look on a new machine").
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"
#include "layout.h"

#define DW_FUNCS(X)                                                            \
	X(dwarf_begin_elf)                                                     \
	X(dwarf_end)                                                           \
	X(dwarf_nextcu)                                                        \
	X(dwarf_offdie)                                                        \
	X(dwarf_dieoffset)                                                     \
	X(dwarf_child)                                                         \
	X(dwarf_siblingof)                                                     \
	X(dwarf_tag)                                                           \
	X(dwarf_hasattr)                                                       \
	X(dwarf_diename)                                                       \
	X(dwarf_attr_integrate)                                                \
	X(dwarf_formref_die)                                                   \
	X(dwarf_formudata)

static struct {
#define DW_FIELD(name) __typeof__(name) *name;
	DW_FUNCS(DW_FIELD)
#undef DW_FIELD
	bool ok;
} dwl;
static pthread_once_t dw_once = PTHREAD_ONCE_INIT;

/*
 * libdeflate.so.0 (Debian's libdeflate0, which the package recommends):
 * it inflates a whole section in half zlib's time (.debug_info of Debian's
 * 3.11, 11.3 MB: 20 ms against 40 here), less than zlib takes for the part
 * of it the check needs (7.3 MB, 34 ms). It inflates whole buffers only;
 * where it is missing, or a section does not inflate right, zlib does as
 * before (a part at a time), so that the outcome is zlib's.
 */
#define DFL_FUNCS(X)                                                           \
	X(libdeflate_alloc_decompressor)                                       \
	X(libdeflate_zlib_decompress_ex)                                       \
	X(libdeflate_free_decompressor)

static struct {
#define DFL_FIELD(name) __typeof__(name) *name;
	DFL_FUNCS(DFL_FIELD)
#undef DFL_FIELD
	bool ok;
} dfl;

/* st.name from lib, by its name; st.ok cleared where one is missing */
#define LIB_SYM(st, name)                                                      \
	*(void **)&st.name = dlsym(lib, #name);                                \
	st.ok &= st.name != NULL;
#define DW_SYM(name) LIB_SYM(dwl, name)
#define DFL_SYM(name) LIB_SYM(dfl, name)

/* Once: libdw.so.1 (Debian's libdw1, which the package depends on) and
 * its functions, dwl.ok if every one was found (else no DWARF is read: the
 * layout tables stand unchecked, as with no debug information); then
 * libdeflate's, dfl.ok (PYHEAP_LIBDEFLATE=0: not opened). Both kept open:
 * a layout may be checked again in this process. */
static void libs_load(void)
{
	void *lib = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return;
	dwl.ok = true;
	DW_FUNCS(DW_SYM)
	const char *e = getenv("PYHEAP_LIBDEFLATE");
	if (!dwl.ok || (e && !strcmp(e, "0")) ||
	    !(lib = dlopen("libdeflate.so.0", RTLD_NOW | RTLD_LOCAL)))
		return;
	dfl.ok = true;
	DFL_FUNCS(DFL_SYM)
}

/* A whole zlib stream of len bytes inflated by libdeflate into out, size
 * bytes: false if it is not there, or the stream is not exactly that (its
 * sum checked, nothing after it). */
static bool dfl_inflate(struct libdeflate_decompressor *d, const uint8_t *in,
			size_t len, uint8_t *out, size_t size)
{
	size_t in_used, out_made;
	return d &&
	       dfl.libdeflate_zlib_decompress_ex(d, in, len, out, size,
						 &in_used, &out_made) ==
		       LIBDEFLATE_SUCCESS &&
	       in_used == len && out_made == size;
}

/* The offset of member in struct st and, when ret_type is not NULL, the
 * struct or union it is (or points to: a path goes on through pointers'
 * targets only where the checks name one). -1: no such member; -2: a
 * reference did not resolve (a unit not inflated yet, or damage). */
static int member_offset(Dwarf_Die *st, const char *member, Dwarf_Word *ret,
			 Dwarf_Die *ret_type)
{
	Dwarf_Die child;
	if (dwl.dwarf_child(st, &child) != 0)
		return -1;
	do {
		if (dwl.dwarf_tag(&child) != DW_TAG_member)
			continue;
		const char *n = dwl.dwarf_diename(&child);
		if (!n || strcmp(n, member))
			continue;
		Dwarf_Attribute a;
		if (!dwl.dwarf_attr_integrate(&child,
					      DW_AT_data_member_location, &a) ||
		    dwl.dwarf_formudata(&a, ret) != 0)
			return -2;
		if (ret_type) {
			Dwarf_Attribute t;
			if (!dwl.dwarf_attr_integrate(&child, DW_AT_type, &t) ||
			    !dwl.dwarf_formref_die(&t, ret_type))
				return -2;
			/* through typedefs and qualifiers to the struct */
			for (int i = 0; i < 8; i++) {
				int tag = dwl.dwarf_tag(ret_type);
				if (tag == DW_TAG_structure_type ||
				    tag == DW_TAG_union_type)
					break;
				if (!dwl.dwarf_attr_integrate(ret_type,
							      DW_AT_type, &t) ||
				    !dwl.dwarf_formref_die(&t, ret_type))
					return -2;
			}
		}
		return 0;
	} while (dwl.dwarf_siblingof(&child, &child) == 0);
	return -1;
}

/* "a.b.c" inside struct st: the sum of the nested members' offsets. The
 * last member's type is not looked at: a field may be of any type (the
 * check once went through it, and every integer field went unchecked). */
static int path_offset(Dwarf_Die *st, const char *path, Dwarf_Word *ret)
{
	Dwarf_Die cur = *st, next;
	Dwarf_Word total = 0;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	char *p = strtok_r(buf, ".", &save);
	while (p) {
		char *rest = strtok_r(NULL, ".", &save);
		Dwarf_Word off;
		int r = member_offset(&cur, p, &off, rest ? &next : NULL);
		if (r)
			return r;
		total += off;
		cur = next;
		p = rest;
	}
	*ret = total;
	return 0;
}

/* The fields layout_fields.h checks: their struct and the member paths to
 * try, the first found. */
static const struct check {
	const char *cstruct, *paths;
	size_t field;
	unsigned since, until; /* the minor versions that need it */
} checks[] = {
#define PH_DWARF_CHECK(type, name, dims, cstruct, member, dbg, dbg_off, check, \
		       since, until)                                           \
	{cstruct, check, offsetof(struct ph_layout, name), since, until},
	PH_LAYOUT_FIELDS(PH_DWARF_CHECK)
#undef PH_DWARF_CHECK
};

/* "struct _is": "_is", the tag the DWARF names it by. */
static const char *struct_tag(const char *cstruct)
{
	return strncmp(cstruct, "struct ", 7) ? cstruct : cstruct + 7;
}

/* The offset of the first of paths ("a|b") that st has, or -1. partial:
 * .debug_info is not all there, and -2 says a path's reference did not
 * resolve, so that the paths after it cannot be taken yet. */
static int first_path_offset(Dwarf_Die *st, const char *paths, bool partial,
			     Dwarf_Word *ret)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", paths);
	char *save = NULL;
	for (char *p = strtok_r(buf, "|", &save); p;
	     p = strtok_r(NULL, "|", &save)) {
		int r = path_offset(st, p, ret);
		if (!r)
			return 0;
		if (r == -2 && partial)
			return -2;
	}
	return -1;
}

/*
 * The sections the checks read. dwarf_begin_elf decompresses every debug
 * section it knows at once; in a -dbg file that is three times what the
 * struct definitions need (the line table, locations and ranges: 3.6 of
 * Debian 3.11's 9.6 MB compressed), and a first run on a machine spent
 * 0.2 s and 5,600 new pages on it. The struct definitions are found in
 * the first half to two thirds of .debug_info, so that is inflated a part
 * at a time, as far as the checks need. A file that names a supplementary
 * file (dwz's) is read as it is: the image would not find that file.
 */
static const char *const wanted_sections[] = {
	".debug_info",	   ".debug_abbrev",	 ".debug_str",
	".debug_line_str", ".debug_str_offsets", ".debug_addr",
	".debug_types",
};
enum { NWANTED = PH_ARRAY_SIZE(wanted_sections) };

/* An ELF image in memory of the wanted sections, inflated; .debug_info
 * as far as it has been inflated, cut after its last whole unit. */
struct dwarf_image {
	uint8_t *image;
	size_t size;
	Elf *elf;
	Elf64_Shdr *info; /* .debug_info's header in the image */
	uint8_t *info_data;
	size_t info_size;  /* inflated, whole */
	size_t info_done;  /* inflated so far */
	size_t info_units; /* the whole units in info_done */
	z_stream z;
	bool z_open;
	size_t in_left; /* compressed bytes not given to zlib yet */
};

static bool section_wanted(const char *name)
{
	for (size_t i = 0; i < NWANTED; i++)
		if (!strcmp(name, wanted_sections[i]))
			return true;
	return false;
}

/* The next 1 GiB at most of the input, where zlib has taken all it was
 * given (it counts in uInt). */
static void inflate_feed(z_stream *z, size_t *in_left)
{
	if (!z->avail_in && *in_left) {
		size_t k = *in_left < ((size_t)1 << 30) ? *in_left
							: (size_t)1 << 30;
		z->avail_in = (uInt)k;
		*in_left -= k;
	}
}

/* More of a zlib stream into out, as far as *done reaches want; at size,
 * the whole, its end, where zlib checks the stream's sum (the last bytes
 * out come before it). */
static bool inflate_more(z_stream *z, size_t *in_left, uint8_t *out,
			 size_t *done, size_t want, size_t size)
{
	while (*done < want) {
		inflate_feed(z, in_left);
		size_t room = want - *done;
		z->next_out = out + *done;
		z->avail_out =
			(uInt)(room < ((size_t)1 << 30) ? room
							: (size_t)1 << 30);
		uInt ao = z->avail_out, ai = z->avail_in;
		int r = inflate(z, Z_NO_FLUSH);
		*done += ao - z->avail_out;
		if (r == Z_STREAM_END)
			return *done == size && !z->avail_in && !*in_left;
		if (r != Z_OK || (ao == z->avail_out && ai == z->avail_in))
			return false;
	}
	while (*done == size) {
		/* every byte out: the stream's end and its sum still to come */
		inflate_feed(z, in_left);
		z->next_out = out + *done;
		z->avail_out = 0;
		uInt ai = z->avail_in;
		int r = inflate(z, Z_NO_FLUSH);
		if (r == Z_STREAM_END)
			return !z->avail_in && !*in_left;
		if ((r != Z_OK && r != Z_BUF_ERROR) || ai == z->avail_in)
			return false;
	}
	return true;
}

static bool inflate_all(const uint8_t *in, size_t len, uint8_t *out,
			size_t size)
{
	z_stream z = {0};
	if (inflateInit(&z) != Z_OK)
		return false;
	z.next_in = (Bytef *)(uintptr_t)in;
	size_t left = len, done = 0;
	bool ok =
		inflate_more(&z, &left, out, &done, size, size) && done == size;
	inflateEnd(&z);
	return ok;
}

/* Where the whole units inflated so far end: unit headers followed from
 * the last such end (32- and 64-bit DWARF). */
static size_t units_end(const uint8_t *d, size_t done, size_t from)
{
	while (from + 4 <= done) {
		uint32_t l32;
		memcpy(&l32, d + from, 4);
		uint64_t len, hdr = 4;
		if (l32 == 0xffffffff) {
			if (from + 12 > done)
				break;
			memcpy(&len, d + from + 4, 8);
			hdr = 12;
		} else if (l32 >= 0xfffffff0) {
			break; /* reserved: left to libdw, with the rest */
		} else {
			len = l32;
		}
		if (len > done - from - hdr)
			break;
		from += hdr + len;
	}
	return from;
}

/* libdw's view of the image as inflated so far (the previous view
 * ended). */
static bool dwarf_image_view(struct dwarf_image *im)
{
	if (im->elf)
		elf_end(im->elf);
	im->info->sh_size =
		im->info_done == im->info_size ? im->info_size : im->info_units;
	im->elf = elf_memory((char *)im->image, im->size);
	return im->elf != NULL;
}

/* .debug_info inflated a part further (to the end when all is true), and
 * the image's view made again. false when the stream does not inflate
 * right: then the file is read as it is. */
static bool dwarf_image_grow(struct dwarf_image *im, bool all)
{
	size_t step = im->info_size / 16 > ((size_t)1 << 20)
			      ? im->info_size / 16
			      : (size_t)1 << 20;
	while (im->info_done < im->info_size) {
		size_t want = all || im->info_size - im->info_done < step
				      ? im->info_size
				      : im->info_done + step;
		if (!inflate_more(&im->z, &im->in_left, im->info_data,
				  &im->info_done, want, im->info_size))
			return false;
		size_t units =
			units_end(im->info_data, im->info_done, im->info_units);
		if (units > im->info_units || im->info_done == im->info_size) {
			im->info_units = units;
			break;
		}
	}
	return dwarf_image_view(im);
}

static bool dwarf_image_complete(const struct dwarf_image *im)
{
	return im->info_done == im->info_size;
}

static void dwarf_image_free(struct dwarf_image *im)
{
	if (im->elf)
		elf_end(im->elf);
	if (im->z_open)
		inflateEnd(&im->z);
	if (im->image)
		ph_big_free(im->image, im->size);
	memset(im, 0, sizeof(*im));
}

/*
 * The image of the wanted sections, and its first view (.debug_info's
 * first part). false (nothing made) where none of them is compressed with
 * zlib, where the file names a supplementary file, or where anything does
 * not read right: then libdw reads the file as it is, and decides.
 */
static bool dwarf_image_make(Elf *elf, struct dwarf_image *ret)
{
	GElf_Ehdr eh;
	size_t shstrndx;
	memset(ret, 0, sizeof(*ret));
	if (!gelf_getehdr(elf, &eh) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    elf_getshdrstrndx(elf, &shstrndx))
		return false;
	struct {
		GElf_Shdr sh;
		const char *name;
		const uint8_t *data; /* the raw bytes */
		size_t len, size;    /* raw, and as the image holds it */
		bool zlib;
	} s[NWANTED];
	size_t n = 0, nz = 0, names = 1 + sizeof(".shstrtab"), data = 0;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		const char *name;
		if (!gelf_getshdr(scn, &sh) ||
		    !(name = elf_strptr(elf, shstrndx, sh.sh_name)))
			return false;
		if (!strcmp(name, ".gnu_debugaltlink") ||
		    !strcmp(name, ".debug_sup"))
			return false;
		if (!section_wanted(name) || sh.sh_type == SHT_NOBITS)
			continue;
		Elf_Data *d = elf_rawdata(scn, NULL);
		if (n == NWANTED /* a name twice */ || !d || !d->d_buf ||
		    d->d_size != sh.sh_size)
			return false;
		s[n].sh = sh;
		s[n].name = name;
		s[n].data = d->d_buf;
		s[n].len = s[n].size = d->d_size;
		s[n].zlib = false;
		if (sh.sh_flags & SHF_COMPRESSED) {
			Elf64_Chdr ch;
			if (s[n].len < sizeof(ch))
				return false;
			memcpy(&ch, s[n].data, sizeof(ch));
			if (ch.ch_type != ELFCOMPRESS_ZLIB ||
			    ch.ch_size > ((uint64_t)1 << 32))
				return false; /* zstd: libdw's own reading */
			s[n].data += sizeof(ch);
			s[n].len -= sizeof(ch);
			s[n].size = ch.ch_size;
			s[n].zlib = true;
			nz++;
		}
		names += strlen(name) + 1;
		data += (s[n].size + 7) & ~(size_t)7;
		n++;
	}
	if (!nz)
		return false; /* read in place: nothing to save */
	size_t shoff = sizeof(Elf64_Ehdr) + data + ((names + 7) & ~(size_t)7);
	size_t size = shoff + (n + 2) * sizeof(Elf64_Shdr);
	/* not zeroed: a page is touched when inflated into */
	uint8_t *img = ph_big_alloc(size);
	if (!img)
		return false;
	struct libdeflate_decompressor *dd =
		dfl.ok ? dfl.libdeflate_alloc_decompressor() : NULL;
	struct dwarf_image *im = ret;
	im->image = img;
	im->size = size;
	Elf64_Ehdr *e = (Elf64_Ehdr *)img;
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + shoff);
	char *strtab = (char *)img + sizeof(Elf64_Ehdr) + data;
	memset(e, 0, sizeof(*e));
	memcpy(e->e_ident, eh.e_ident, EI_NIDENT);
	e->e_type = eh.e_type;
	e->e_machine = eh.e_machine;
	e->e_version = EV_CURRENT;
	e->e_shoff = shoff;
	e->e_ehsize = sizeof(Elf64_Ehdr);
	e->e_shentsize = sizeof(Elf64_Shdr);
	e->e_shnum = (Elf64_Half)(n + 2);
	e->e_shstrndx = (Elf64_Half)(n + 1);
	memset(sh, 0, sizeof(*sh));
	strtab[0] = 0;
	size_t off = sizeof(Elf64_Ehdr), name_at = 1;
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++) {
		uint8_t *at = img + off;
		sh[i + 1] = (Elf64_Shdr){
			.sh_name = (Elf64_Word)name_at,
			.sh_type = s[i].sh.sh_type,
			.sh_flags =
				s[i].sh.sh_flags & ~(uint64_t)SHF_COMPRESSED,
			.sh_offset = off,
			.sh_size = s[i].size,
			.sh_addralign = 1,
			.sh_entsize = s[i].sh.sh_entsize,
		};
		bool info = !strcmp(s[i].name, ".debug_info");
		if (info) {
			im->info = &sh[i + 1];
			im->info_data = at;
			im->info_size = s[i].size;
		}
		if (s[i].zlib &&
		    dfl_inflate(dd, s[i].data, s[i].len, at, s[i].size)) {
			if (info)
				im->info_done = im->info_units = s[i].size;
		} else if (info && s[i].zlib) {
			im->z.next_in = (Bytef *)(uintptr_t)s[i].data;
			im->in_left = s[i].len;
			ok = im->z_open = inflateInit(&im->z) == Z_OK;
		} else if (s[i].zlib) {
			ok = inflate_all(s[i].data, s[i].len, at, s[i].size);
		} else {
			memcpy(at, s[i].data, s[i].size);
			if (info)
				im->info_done = im->info_units = s[i].size;
		}
		size_t l = strlen(s[i].name) + 1;
		memcpy(strtab + name_at, s[i].name, l);
		name_at += l;
		off += (s[i].size + 7) & ~(size_t)7;
	}
	if (dd)
		dfl.libdeflate_free_decompressor(dd);
	memcpy(strtab + name_at, ".shstrtab", sizeof(".shstrtab"));
	sh[n + 1] = (Elf64_Shdr){
		.sh_name = (Elf64_Word)name_at,
		.sh_type = SHT_STRTAB,
		.sh_offset = (uint64_t)(strtab - (char *)img),
		.sh_size = names,
		.sh_addralign = 1,
	};
	if (!im->info)
		ok = false; /* no struct to find */
	else if (ok)
		ok = dwarf_image_complete(im) ? dwarf_image_view(im)
					      : dwarf_image_grow(im, false);
	if (!ok)
		dwarf_image_free(im);
	return ok;
}

/* The structs the checks name, each once: their names and, where found,
 * their definitions' offsets. */
struct wanted {
	const char *name;
	Dwarf_Off off;
	bool found;
};

/*
 * Looks for the wanted structs in the units from *off on, as far as dw
 * has units; *off is where it stopped. The first complete definition of
 * each, in the units' order.
 */
static size_t find_structs(Dwarf *dw, struct wanted *w, size_t nw,
			   size_t nfound, Dwarf_Off *off)
{
	Dwarf_Off next;
	size_t hsize;
	while (nfound < nw && dwl.dwarf_nextcu(dw, *off, &next, &hsize, NULL,
					       NULL, NULL) == 0) {
		Dwarf_Die cu, die;
		if (dwl.dwarf_offdie(dw, *off + hsize, &cu) &&
		    dwl.dwarf_child(&cu, &die) == 0) {
			do {
				int tag = dwl.dwarf_tag(&die);
				if (tag != DW_TAG_structure_type ||
				    dwl.dwarf_hasattr(&die, DW_AT_declaration))
					continue;
				const char *n = dwl.dwarf_diename(&die);
				for (size_t i = 0; n && i < nw; i++)
					if (!w[i].found &&
					    !strcmp(n, w[i].name)) {
						w[i].off = dwl.dwarf_dieoffset(
							&die);
						w[i].found = true;
						nfound++;
					}
			} while (dwl.dwarf_siblingof(&die, &die) == 0);
		}
		*off = next;
	}
	return nfound;
}

/* The checks against the structs found: L's fields set from them, the
 * number checked and differing. *ret_missed: a struct found whose path
 * did not resolve (its member's type may be in a unit not inflated yet). */
static int apply_checks(Dwarf *dw, const struct wanted *w, const size_t *wi,
			bool partial, struct ph_layout *L, int *ret_checked,
			bool *ret_missed)
{
	int differ = 0;
	*ret_checked = 0;
	*ret_missed = false;
	for (size_t i = 0; i < PH_ARRAY_SIZE(checks); i++) {
		Dwarf_Word v;
		Dwarf_Die die;
		/* a field the version does not use is left alone: its
		 * table has none, and another member of that name would set
		 * it */
		if (!*checks[i].paths || !w[wi[i]].found ||
		    L->minor < checks[i].since || L->minor > checks[i].until)
			continue;
		if (!dwl.dwarf_offdie(dw, w[wi[i]].off, &die)) {
			*ret_missed = true;
			continue;
		}
		int r = first_path_offset(&die, checks[i].paths, partial, &v);
		if (r == -2)
			*ret_missed = true;
		if (r || v > UINT32_MAX)
			continue;
		uint32_t *f = (uint32_t *)((char *)L + checks[i].field);
		if (*f != (uint32_t)v) {
			*f = (uint32_t)v;
			differ++;
		}
		(*ret_checked)++;
	}
	return differ;
}

/*
 * The checks on the image, .debug_info inflated a part at a time until
 * every struct is found (or all of it is inflated); all of it when a
 * found struct's member did not resolve in the part. false when a part
 * did not inflate or libdw did not take the image: then L is as it was,
 * and the file is read as it is.
 */
static bool check_image(struct dwarf_image *im, struct wanted *w, size_t nw,
			const size_t *wi, struct ph_layout *L, int *ret_differ,
			int *ret_checked)
{
	size_t nfound = 0;
	Dwarf_Off off = 0;
	Dwarf *dw;
	for (;;) {
		if (!(dw = dwl.dwarf_begin_elf(im->elf, DWARF_C_READ, NULL)))
			return false;
		nfound = find_structs(dw, w, nw, nfound, &off);
		if (dwarf_image_complete(im) || nfound == nw)
			break;
		dwl.dwarf_end(dw);
		if (!dwarf_image_grow(im, false))
			return false;
	}
	struct ph_layout before = *L;
	bool missed;
	*ret_differ = apply_checks(dw, w, wi, !dwarf_image_complete(im), L,
				   ret_checked, &missed);
	if ((missed || *ret_differ) && !dwarf_image_complete(im)) {
		/* A member's type in a unit not inflated yet; or a field to
		 * correct, which is taken only from a stream inflated to its
		 * end, where zlib checks its sum (a part is not checked: its
		 * damage could move an offset). */
		*L = before;
		dwl.dwarf_end(dw);
		if (!dwarf_image_grow(im, true) ||
		    !(dw = dwl.dwarf_begin_elf(im->elf, DWARF_C_READ, NULL)))
			return false;
		*ret_differ =
			apply_checks(dw, w, wi, false, L, ret_checked, &missed);
	}
	dwl.dwarf_end(dw);
	return true;
}

int ph_dwarf_check_layout(const struct ph_module *mod, struct ph_layout *L,
			  int *ret_checked)
{
	Elf *elf = ph_module_debug_elf(mod);
	if (!elf)
		elf = ph_module_elf(mod);
	*ret_checked = 0;
	if (!elf || pthread_once(&dw_once, libs_load) || !dwl.ok)
		return 0;
	/* the structs the checks name, each once */
	struct wanted w[PH_ARRAY_SIZE(checks)];
	size_t nw = 0, wi[PH_ARRAY_SIZE(checks)];
	memset(w, 0, sizeof(w));
	for (size_t i = 0; i < PH_ARRAY_SIZE(checks); i++) {
		if (!*checks[i].paths)
			continue;
		const char *tag = struct_tag(checks[i].cstruct);
		size_t k;
		for (k = 0; k < nw; k++)
			if (!strcmp(w[k].name, tag))
				break;
		if (k == nw)
			w[nw++].name = tag;
		wi[i] = k;
	}
	int differ = 0;
	ph_stage(NULL);
	const char *e = getenv("PYHEAP_DWARF_IMAGE");
	struct dwarf_image im;
	if (!(e && !strcmp(e, "0")) && dwarf_image_make(elf, &im)) {
		bool ok = check_image(&im, w, nw, wi, L, &differ, ret_checked);
		dwarf_image_free(&im);
		if (ok) {
			ph_stage("DWARF check (sections inflated)");
			return differ;
		}
		for (size_t i = 0; i < nw; i++)
			w[i].found = false;
	}
	Dwarf *dw = dwl.dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (!dw)
		return 0;
	Dwarf_Off off = 0;
	find_structs(dw, w, nw, 0, &off);
	bool missed;
	differ = apply_checks(dw, w, wi, false, L, ret_checked, &missed);
	dwl.dwarf_end(dw);
	ph_stage("DWARF check (the file read)");
	return differ;
}
