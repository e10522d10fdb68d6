/* SPDX-License-Identifier: MIT */
/*
 * The library's descriptor table (see libfd.h). The lock also keeps every
 * fork of the process (the library's and the user's, through
 * pthread_atfork) out of every window in which another thread of the
 * caller has a descriptor of the library's open but not yet in the table,
 * so the child's copy of the table is whole.
 *
 * Fork rule: no library lock is ever held across a fork by the thread that
 * forks, and a child never inherits one locked: the prepare handler takes
 * this lock (waiting for any window to close), the parent handler lets it
 * go, the child handler makes a fresh one. Other modules' locks get fresh
 * copies in the child the same way (handle.c, forkserver.c), so a child
 * forked while another thread was inside the library can use the library.
 */
#include "libfd.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#define MAX_LIB_FDS 256

static pthread_mutex_t lib_fds_lock = PTHREAD_MUTEX_INITIALIZER;
static int lib_fds[MAX_LIB_FDS];
static unsigned n_lib_fds;

void hpool__fd_lock(void)
{
	pthread_mutex_lock(&lib_fds_lock);
	HPOOL__FAULT(HPOOL__F_FD_LOCKED);
}

void hpool__fd_unlock(void)
{
	pthread_mutex_unlock(&lib_fds_lock);
}

static void fd_prepare(void)
{
	pthread_mutex_lock(&lib_fds_lock);
}

static void fd_parent(void)
{
	pthread_mutex_unlock(&lib_fds_lock);
}

/* The child's only thread is the one that took the lock in fd_prepare:
 * it releases it, as the parent does (the usual atfork idiom; a fresh
 * init would leave ThreadSanitizer believing the lock still held). */
static void fd_child(void)
{
	pthread_mutex_unlock(&lib_fds_lock);
}

/* Before any fork the library makes (the fork server starts from a
 * constructor of default priority). */
__attribute__((constructor(101))) static void fd_atfork(void)
{
	pthread_atfork(fd_prepare, fd_parent, fd_child);
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
unsigned hpool__count_threads(void)
{
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	/* A supervisor forked meanwhile by another thread would copy d. */
	hpool__fd_lock();
	d = opendir("/proc/self/task");
	if (d) {
		while ((e = readdir(d)))
			n += e->d_name[0] != '.';
		closedir(d);
	}
	hpool__fd_unlock();
	return n ? n : 1;
}

pid_t hpool__fork_lib(void)
{
	pid_t pid;
#ifdef HPOOL__LSAN
	bool alone = hpool__count_threads() == 1;
#endif

	fflush(NULL);
	pid = fork();
#ifdef HPOOL__LSAN
	if (pid == 0)
		hpool__leak_check_at_exit = alone;
#endif
	return pid;
}

void hpool__close_lib_fds(void)
{
	unsigned i;

	for (i = 0; i < n_lib_fds && i < MAX_LIB_FDS; i++)
		close(lib_fds[i]);
}
