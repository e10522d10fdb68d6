/* SPDX-License-Identifier: MIT */
/*
 * The fork-server backend (process mode, start = forkserver): the same
 * supervisor as the fork backend, forked by the fork server instead of
 * the caller (forkserver.c), so it inherits nothing of the caller's state
 * after the server began. The region is a memfd, which the server's
 * supervisor maps at the caller's address.
 */
#include "backend.h"
#include "forkserver.h"
#include "libfd.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct fs_priv {
	struct hpool__sup sup; /* first: the shared supervisor operations */
	int memfd;             /* until the supervisor has its own copy */
};

static void close_memfd(struct fs_priv *f)
{
	if (f->memfd < 0)
		return;
	hpool__fd_lock();
	hpool__lib_fd_del_locked(f->memfd);
	hpool__fd_unlock();
	close(f->memfd);
	f->memfd = -1;
}

int hpool__fs_backend_map(struct hpool__workers *wk, size_t size)
{
	struct fs_priv *f = calloc(1, sizeof(*f));
	int e;

	if (!f)
		return -ENOMEM;
	f->sup.pidfd = -1;
	f->memfd = -1;
	wk->priv = f;
	/* Registered at once, so that no other pool's supervisor forked
	 * meanwhile keeps a copy. */
	hpool__fd_lock();
	e = hpool__shm_create_fd(size, &wk->shm, &f->memfd);
	if (!e)
		hpool__lib_fd_add_locked(f->memfd);
	hpool__fd_unlock();
	return e;
}

int hpool__fs_backend_start(struct hpool__workers *wk)
{
	struct fs_priv *f = wk->priv;
	int e;

	e = hpool__fs_sup_start(f->memfd, wk->shm, hpool__shm_map_size(wk->shm),
				wk->sh, wk->bind, &f->sup);
	close_memfd(f); /* the supervisor has its own copy now */
	if (e)
		return hpool__fail(e, "hpool_create: the fork server could "
				   "not start a supervisor: %s%s",
				   hpool_strerror(e), e == -ENOSYS ?
				   " (it needs pidfd_open, Linux 5.3)" : "");
	return 0;
}

void hpool__fs_backend_release(struct hpool__workers *wk)
{
	if (wk->priv)
		close_memfd(wk->priv);
	free(wk->priv);
	wk->priv = NULL;
}

const struct hpool__backend hpool__backend_forkserver = {
	.name = "forkserver",
	.isolated = true,
	.map = hpool__fs_backend_map,
	.start = hpool__fs_backend_start,
	.stop = hpool__sup_backend_stop,
	.lost = hpool__sup_backend_lost,
	/* The new supervisor is forked by the caller itself (the region
	 * is a shared mapping it holds): the fork server may be gone. */
	.restart = hpool__sup_backend_restart,
	.poke = hpool__sup_backend_poke,
	.pids = hpool__sup_backend_pids,
	.release = hpool__fs_backend_release,
};
