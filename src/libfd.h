/* SPDX-License-Identifier: MIT */
/*
 * The library's descriptor table: every descriptor of the library's that
 * a process of some pool must not inherit (request sockets, the fork
 * server's socket, a region memfd in transit). A new supervisor or fork
 * server closes them all, so that no process of one pool holds another
 * pool's descriptors.
 */
#ifndef HPOOL_LIBFD_H
#define HPOOL_LIBFD_H

#include "internal.h"

/* Hold off the fork of any supervisor or server while this thread has a
 * descriptor open that no process of a pool should inherit (hwloc's files
 * while it loads, a directory of /proc, a socket not yet in the table): a
 * process forked by another thread at that moment would copy it.
 * Every fork in the process waits for it (pthread_atfork), so never fork
 * while holding it: that would deadlock.
 * Context: the caller's threads; not recursive; hold it briefly. */
HPOOL_INTERNAL void hpool__fd_lock(void);
HPOOL_INTERNAL void hpool__fd_unlock(void);
/* Add or remove a descriptor. Context: hpool__fd_lock held. */
HPOOL_INTERNAL void hpool__lib_fd_add_locked(int fd);
HPOOL_INTERNAL void hpool__lib_fd_del_locked(int fd);
/* The same, taking the lock. */
HPOOL_INTERNAL void hpool__lib_fd_add(int fd);
HPOOL_INTERNAL void hpool__lib_fd_del(int fd);
/* Close every descriptor in the table. Context: a fresh child, the only
 * thread (reads the table it copied, unlocked). */
HPOOL_INTERNAL void hpool__close_lib_fds(void);
/* The threads this process runs now. Context: the caller's threads. */
HPOOL_INTERNAL unsigned hpool__count_threads(void);
/* fork() for a process of the library's started by the caller (a
 * supervisor, the fork server): stdio flushed first, so that buffered
 * output is written once. In AddressSanitizer builds the child learns
 * whether it may run LeakSanitizer when it leaves (hpool__exit): only if
 * the caller ran one thread, since a child cannot see the stacks of the
 * others, and blocks only they pointed at would read as leaks. */
HPOOL_INTERNAL pid_t hpool__fork_lib(void);

#endif /* HPOOL_LIBFD_H */
