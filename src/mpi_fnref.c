/* SPDX-License-Identifier: MIT */
/*
 * Functions across ranks. A function pointer is not the same address on
 * every rank (PIE, ASLR, modules loaded in another order), so rank 0 sends
 * (module, offset from its load base) and the server adds its own load
 * base of the same module. Both sides also compare the module's build id
 * (the ELF NT_GNU_BUILD_ID note; a module without one is identified by
 * the sizes of its loaded segments): another build at the same path would
 * put another function at that offset, so it is refused, never called.
 *
 * Test hook (documented in docs/mpi.md): HPOOL_MPI_FAKE_BUILD_ID=hex
 * replaces this process's program build id, so that a test can make one
 * rank look like another build.
 */
#include "mpi_wire.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hpool__build_id_hex(const unsigned char *id, unsigned n, char *buf,
			 size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < n && o + 3 <= len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%02x", id[i]);
	if (!n)
		snprintf(buf, len, "(none)");
}

/* The build id of a loaded module, else a digest of its load segments. */
static unsigned module_id(const struct dl_phdr_info *info, unsigned char *id)
{
	uint64_t h = 1469598103934665603ull;
	int i;

	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const char *name = p + sizeof(*nh);
			const unsigned char *desc = (const unsigned char *)
				name + ((nh->n_namesz + 3) & ~3u);

			if (nh->n_type == NT_GNU_BUILD_ID &&
			    nh->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
			    nh->n_descsz <= HPOOL__BUILD_ID_MAX) {
				memcpy(id, desc, nh->n_descsz);
				return nh->n_descsz;
			}
			p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
	for (i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD) {
			h = (h ^ info->dlpi_phdr[i].p_memsz) * 1099511628211ull;
			h = (h ^ info->dlpi_phdr[i].p_vaddr) * 1099511628211ull;
		}
	memcpy(id, &h, sizeof(h));
	return sizeof(h);
}

/* The fake program build id of a test, if set. */
static unsigned fake_id(unsigned char *id)
{
	const char *f = getenv("HPOOL_MPI_FAKE_BUILD_ID");
	unsigned n = 0;

	while (f && f[0] && f[1] && n < HPOOL__BUILD_ID_MAX) {
		unsigned v;

		if (sscanf(f, "%2x", &v) != 1)
			break;
		id[n++] = (unsigned char)v;
		f += 2;
	}
	return n;
}

struct find {
	const void *addr;        /* make: the code address */
	const char *module;      /* resolve: the module's name */
	bool program;            /* the first module: the program */
	bool found;
	ElfW(Addr) base;
	unsigned id_len;
	unsigned char id[HPOOL__BUILD_ID_MAX];
	char name[HPOOL__MODULE_MAX];
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;
	bool first = !f->program;
	int i;

	f->program = true;
	if (f->module) { /* resolve: by name; "" is the program */
		if (f->module[0] ? strcmp(info->dlpi_name, f->module) : !first)
			return 0;
	} else {
		for (i = 0; i < info->dlpi_phnum; i++) {
			const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
			ElfW(Addr) lo = info->dlpi_addr + ph->p_vaddr;

			if (ph->p_type == PT_LOAD &&
			    (ElfW(Addr))f->addr >= lo &&
			    (ElfW(Addr))f->addr < lo + ph->p_memsz)
				break;
		}
		if (i == info->dlpi_phnum)
			return 0;
	}
	f->found = true;
	f->base = info->dlpi_addr;
	snprintf(f->name, sizeof(f->name), "%s", first ? "" : info->dlpi_name);
	f->id_len = first ? fake_id(f->id) : 0;
	if (!f->id_len)
		f->id_len = module_id(info, f->id);
	return 1;
}

unsigned hpool__program_build_id(unsigned char *id, unsigned max)
{
	struct find f = { .module = "" };

	dl_iterate_phdr(find_cb, &f);
	if (!f.found || f.id_len > max)
		return 0;
	memcpy(id, f.id, f.id_len);
	return f.id_len;
}

int hpool__fnref_make(const void *fn, struct hpool__fnref *r)
{
	struct find f = { .addr = fn };

	memset(r, 0, sizeof(*r));
	dl_iterate_phdr(find_cb, &f);
	if (!f.found)
		return hpool__fail(-ENOENT, "function %p lies in no loaded "
				   "module: it cannot be named to another "
				   "rank", fn);
	if (strlen(f.name) >= sizeof(r->module))
		return hpool__fail(-ENAMETOOLONG, "module path too long: %s",
				   f.name);
	r->offset = (uint64_t)((ElfW(Addr))fn - f.base);
	r->id_len = f.id_len;
	memcpy(r->id, f.id, f.id_len);
	memcpy(r->module, f.name, strlen(f.name) + 1);
	return 0;
}

int hpool__fnref_resolve(const struct hpool__fnref *r, void **fn, char *why,
			 size_t len)
{
	struct find f = { .module = r->module };
	char a[2 * HPOOL__BUILD_ID_MAX + 8], b[2 * HPOOL__BUILD_ID_MAX + 8];

	dl_iterate_phdr(find_cb, &f);
	if (!f.found) {
		snprintf(why, len, "module %s is not loaded on this rank "
			 "(dlopen it on every rank before the pool runs its "
			 "functions)", r->module);
		return -ENOENT;
	}
	if (f.id_len != r->id_len || memcmp(f.id, r->id, f.id_len)) {
		hpool__build_id_hex(r->id, r->id_len, a, sizeof(a));
		hpool__build_id_hex(f.id, f.id_len, b, sizeof(b));
		snprintf(why, len, "%s is another build on this rank (build id "
			 "%s here, %s on rank 0): every rank must run the "
			 "same build", r->module[0] ? r->module : "the program",
			 b, a);
		return -ENOEXEC;
	}
	*fn = (void *)(f.base + (ElfW(Addr))r->offset);
	return 0;
}
