/* SPDX-License-Identifier: MIT */
/*
 * The library's descriptor table (see libfd.h). The lock also keeps a
 * fork of a supervisor or fork server out of every window in which
 * another thread of the caller has a descriptor of the library's open but
 * not yet in the table.
 */
#include "libfd.h"

#include <pthread.h>
#include <unistd.h>

#define MAX_LIB_FDS 256

static pthread_mutex_t lib_fds_lock = PTHREAD_MUTEX_INITIALIZER;
static int lib_fds[MAX_LIB_FDS];
static unsigned n_lib_fds;

void hpool__fd_lock(void)
{
	pthread_mutex_lock(&lib_fds_lock);
}

void hpool__fd_unlock(void)
{
	pthread_mutex_unlock(&lib_fds_lock);
}

void hpool__lib_fd_add_locked(int fd)
{
	if (n_lib_fds < MAX_LIB_FDS)
		lib_fds[n_lib_fds++] = fd;
}

void hpool__lib_fd_del_locked(int fd)
{
	unsigned i;

	for (i = 0; i < n_lib_fds && lib_fds[i] != fd; i++)
		;
	if (i < n_lib_fds)
		lib_fds[i] = lib_fds[--n_lib_fds];
}

void hpool__lib_fd_add(int fd)
{
	hpool__fd_lock();
	hpool__lib_fd_add_locked(fd);
	hpool__fd_unlock();
}

void hpool__lib_fd_del(int fd)
{
	hpool__fd_lock();
	hpool__lib_fd_del_locked(fd);
	hpool__fd_unlock();
}

/* The fork copied the table whole; a half-done add or del in another
 * thread can only leave a stale or missing entry, which closes nothing
 * of ours. */
void hpool__close_lib_fds(void)
{
	unsigned i;

	for (i = 0; i < n_lib_fds && i < MAX_LIB_FDS; i++)
		close(lib_fds[i]);
}
