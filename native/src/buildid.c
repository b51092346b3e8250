/* buildid.c - the GNU build-id of the code py-heap runs (libpyheap, or a
 * program built with its sources), hashed: what another build computed
 * (an index, a graph whose edges it drew otherwise, another refcheck) is
 * not read from the caches. */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

struct ac_build {
	uintptr_t self;
	uint64_t hash;
};

static int ac_build_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct ac_build *b = arg;
	bool mine = false;
	for (int i = 0; i < info->dlpi_phnum && !mine; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		mine = ph->p_type == PT_LOAD && b->self >= lo &&
		       b->self - lo < ph->p_memsz;
	}
	if (!mine)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr +
						     ph->p_vaddr),
			      *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			ElfW(Nhdr) nh;
			memcpy(&nh, p, sizeof(nh));
			const uint8_t *name = p + sizeof(nh);
			const uint8_t *desc = name + ((nh.n_namesz + 3) & ~3u);
			const uint8_t *next = desc + ((nh.n_descsz + 3) & ~3u);
			if (next > end)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp(name, "GNU", 4) && nh.n_descsz) {
				b->hash = ph_fnv1a(desc, nh.n_descsz,
						   PH_FNV_BASIS) |
					  1;
				return 1;
			}
			p = next;
		}
	}
	return 1;
}

uint64_t ph_build_hash(void)
{
	static uint64_t hash = 2; /* not yet looked up */
	if (hash == 2) {
		struct ac_build b = {(uintptr_t)&ph_build_hash, 0};
		dl_iterate_phdr(ac_build_cb, &b);
		hash = b.hash;
	}
	return hash;
}
