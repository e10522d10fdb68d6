/* SPDX-License-Identifier: MIT */
/*
 * The supervisor layer (process backends): one single-threaded process
 * per pool that forks, reaps, repairs and replaces the workers. Protocol
 * at the top of supervisor.c.
 */
#ifndef HPOOL_SUPERVISOR_H
#define HPOOL_SUPERVISOR_H

#include "shared.h"

#include <sys/types.h>

struct hpool__sup {          /* private to the caller */
	pid_t pid;           /* the supervisor process */
	int req_fd;          /* the caller's end of the request socket */
	int pidfd;           /* fork server's supervisor (not our child): a
				pidfd for it; -1 when we forked it */
};

/* In a fresh process of the pool's (supervisor, fork server): a process
 * group of its own and the signal dispositions of an exec'd program (the
 * caller's ignored ones stay ignored; SIGTTIN, SIGTTOU ignored).
 * Context: a single-threaded child, before it forks anything. */
HPOOL_INTERNAL void hpool__own_signals(void);
/* The supervisor's life (what a forked supervisor runs). Return: its exit
 * code. Context: a fresh single-threaded child. */
HPOOL_INTERNAL int hpool__sup_main(struct hpool__shared *sh,
				   const struct hpool__topo *topo, int req,
				   pid_t owner);
/* Fork the supervisor, which forks the workers. Return: 0 or -errno. */
HPOOL_INTERNAL int hpool__sup_start(struct hpool__shared *sh,
				    const struct hpool__topo *topo,
				    struct hpool__sup *sup);
/* Ask the supervisor something: 'w' wake up and look (timeouts), 'q'
 * drain and quit (destroy), 't' kill everything, cancel, quit
 * (terminate). */
HPOOL_INTERNAL void hpool__sup_request(struct hpool__sup *sup, char what);
/* Has the supervisor died? (Its zombie stays for hpool__sup_join.) */
HPOOL_INTERNAL bool hpool__sup_gone(const struct hpool__sup *sup);
/* Wait for the supervisor to exit; return its wait status (0 for a fork
 * server's supervisor, whose status the server collects). */
HPOOL_INTERNAL int hpool__sup_join(struct hpool__sup *sup);

#endif /* HPOOL_SUPERVISOR_H */
