/* SPDX-License-Identifier: MIT */
/*
 * The fork server: a single-threaded process forked early, from which the
 * supervisors of start = forkserver pools are forked. See forkserver.c.
 */
#ifndef HPOOL_FORKSERVER_H
#define HPOOL_FORKSERVER_H

#include "supervisor.h"

/* Is this process's fork server running? */
HPOOL_INTERNAL bool hpool__fs_running(void);
/* Have the fork server fork a supervisor for the pool whose region is
 * memfd, mapped at addr (len bytes), root block sh. Return: 0 and *sup;
 * -ENOENT (no server); -errno. */
HPOOL_INTERNAL int hpool__fs_sup_start(int memfd, void *addr, size_t len,
				       struct hpool__shared *sh, int bind,
				       struct hpool__sup *sup);

#endif /* HPOOL_FORKSERVER_H */
