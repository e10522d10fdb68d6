/* SPDX-License-Identifier: MIT */
/*
 * The backend table: the settings' mode and start method pick a backend.
 * The only place outside config.c that names a mode.
 */
#include "config.h" /* HAVE_MPI */
#include "backend.h"
#include "forkserver.h"

#include <errno.h>

const struct hpool__backend *hpool__backend_for(const struct hpool__settings *s)
{
	switch (s->mode) {
	case HPOOL_MODE_THREAD:
		return &hpool__backend_thread;
	case HPOOL_MODE_SERIAL:
		return &hpool__backend_serial;
	case HPOOL_MODE_PROCESS:
	case HPOOL_MODE_HYBRID:
		if (s->start != 1)
			return s->mode == HPOOL_MODE_HYBRID ?
				&hpool__backend_hybrid : &hpool__backend_fork;
		if (hpool__fs_running())
			return s->mode == HPOOL_MODE_HYBRID ?
				&hpool__backend_hybrid_fs :
				&hpool__backend_forkserver;
		hpool__set_error("hpool_create: start = forkserver, but the "
				 "fork server is not running: call "
				 "hpool_forkserver_start() at the top of main, "
				 "or set HPOOL_START=forkserver in the "
				 "environment before the program starts");
		return NULL;
	case HPOOL_MODE_MPI:
#ifdef HAVE_MPI
		return &hpool__backend_mpi;
#else
		hpool__set_error("hpool_create: HPOOL_MODE=mpi: this build of "
				 "hpool has no MPI backend (configure found no "
				 "Open MPI: install libopenmpi-dev and "
				 "reconfigure)");
		return NULL;
#endif
	case HPOOL_MODE_ENV:
		break;
	}
	hpool__set_error("hpool_create: no backend for mode %d", (int)s->mode);
	return NULL;
}
