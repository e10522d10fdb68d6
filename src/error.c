/* SPDX-License-Identifier: MIT */
/*
 * error.c: error codes in words, the per-thread last-error message, signal
 * names, and hpool__die() for broken invariants.
 *
 * The last-error message lives in a thread-local buffer: a failure in one
 * thread never overwrites the message another thread is about to read.
 * Success does not clear it (like errno): it is "the last failure".
 */
#ifdef HAVE_CONFIG_H
#include "config.h" /* _GNU_SOURCE, for strerrordesc_np */
#endif

#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#ifdef HAVE_SYS_PIDFD_H
#include <sys/pidfd.h>
#endif

#define ERRBUF_SIZE 512

/* This thread's last failure; "" until the first one. */
static _Thread_local char errbuf[ERRBUF_SIZE];

static void set_error_v(const char *fmt, va_list ap)
{
	char tmp[ERRBUF_SIZE];
	int saved = errno;

	/* Format into a temporary first: an argument may be the current
	 * message itself (hpool__set_error("create: %s", hpool_last_error()))
	 * and vsnprintf must not read the buffer it writes. */
	if (vsnprintf(tmp, sizeof(tmp), fmt, ap) < 0)
		snprintf(tmp, sizeof(tmp), "(unformattable message: %s)", fmt);
	memcpy(errbuf, tmp, sizeof(errbuf));
	errno = saved; /* callers may still want the errno they saw */
}

void hpool__set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error_v(fmt, ap);
	va_end(ap);
}

int hpool__fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error_v(fmt, ap);
	va_end(ap);
	return code;
}

void hpool__die(const char *file, int line, const char *msg)
{
	char tmp[ERRBUF_SIZE];
	int n;

	/* One write(2): no stdio lock (we may be in a signal handler or a
	 * forked child of a threaded process) and no interleaving. */
	n = snprintf(tmp, sizeof(tmp), "hpool: %s:%d: %s\n",
		     file ? file : "?", line, msg ? msg : "(no message)");
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(tmp)) {
		n = sizeof(tmp) - 1;
		tmp[n - 1] = '\n'; /* keep the line ending when truncated */
	}
	if (n > 0 && write(STDERR_FILENO, tmp, (size_t)n) < 0) {
		/* nothing better to do: we abort either way */
	}
	abort();
}

bool hpool__is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
	       sig == SIGTTOU;
}

const char *hpool__signame(int sig, char *buf, size_t len)
{
	const char *a = NULL;

	if (!buf || len == 0)
		return "unknown signal";
#ifdef HAVE_SIGABBREV_NP
	a = sigabbrev_np(sig); /* "SEGV"; NULL for real-time signals */
#endif
	if (a)
		snprintf(buf, len, "SIG%s", a);
	/* SIGRTMIN is a function call in glibc (the C library keeps a few
	 * real-time signals for itself). */
	else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, len, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, len, "signal %d", sig);
	return buf;
}

/* Description of errno value e (> 0), or NULL when unknown. Static
 * strings only: hpool_strerror may run in a signal handler. */
static const char *errno_desc(int e)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE) &&                          \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	return strerrordesc_np(e); /* glibc's untranslated table */
#else
	/* Without strerrordesc_np: the codes hpool itself returns (strerror
	 * is not thread- or signal-safe everywhere). Same text as glibc. */
	switch (e) {
	case EPERM: return "Operation not permitted";
	case ENOENT: return "No such file or directory";
	case ESRCH: return "No such process";
	case EINTR: return "Interrupted system call";
	case EIO: return "Input/output error";
	case E2BIG: return "Argument list too long";
	case EBADF: return "Bad file descriptor";
	case ECHILD: return "No child processes";
	case EAGAIN: return "Resource temporarily unavailable";
	case ENOMEM: return "Cannot allocate memory";
	case EACCES: return "Permission denied";
	case EFAULT: return "Bad address";
	case EBUSY: return "Device or resource busy";
	case EEXIST: return "File exists";
	case EINVAL: return "Invalid argument";
	case ENFILE: return "Too many open files in system";
	case EMFILE: return "Too many open files";
	case ENOSPC: return "No space left on device";
	case EPIPE: return "Broken pipe";
	case ERANGE: return "Numerical result out of range";
	case EDEADLK: return "Resource deadlock avoided";
	case ENOSYS: return "Function not implemented";
	case EOVERFLOW: return "Value too large for defined data type";
	case ENOTSUP: return "Operation not supported";
	case ETIMEDOUT: return "Connection timed out";
	case ECANCELED: return "Operation canceled";
	case EOWNERDEAD: return "Owner died";
	default: return NULL;
	}
#endif
}

const char *hpool_strerror(int code)
{
	const char *s;

	switch (code) {
	case 0: return "success";
	case HPOOL_ETASK: return "a task returned a nonzero status";
	case HPOOL_ECRASH: return "the worker running the item died";
	case HPOOL_ECANCELED:
		return "the pool was terminated before the item ran";
	case HPOOL_ECLOSED: return "the pool no longer takes work";
	case HPOOL_DONE: return "the result stream is finished (not an error)";
	case HPOOL_EFORKED:
		return "the pool was used from a child forked by its owner";
	default: break;
	}
	/* Positive values are never hpool's: they are a task's own status
	 * (hpool_wait and hpool_next pass them through). */
	if (code > 0)
		return "a task's own status code (not an hpool error code)";
	/* -errno lies in [-4095, -1]; the check also keeps -INT_MIN out. */
	if (code >= -4095) {
		s = errno_desc(-code);
		if (s)
			return s;
	}
	return "unknown hpool error code";
}

const char *hpool_last_error(void)
{
	return errbuf[0] ? errbuf : "no error";
}

#ifdef HPOOL__LSAN
#include <sanitizer/lsan_interface.h>

bool hpool__leak_check_at_exit;
#endif

/* A library process leaves through _exit, not to run the caller's atexit
 * handlers (and flush its stdio) a second time, so LeakSanitizer would
 * never check it: in AddressSanitizer builds it checks here, when it can
 * tell leaks from blocks it cannot see referenced (hpool__fork_lib). A
 * leak is reported (to the harness's log_path file) and the exit code is
 * kept: a process that leaked did not crash. */
void hpool__exit(int code)
{
#ifdef HPOOL__LSAN
	if (hpool__leak_check_at_exit)
		__lsan_do_recoverable_leak_check();
#endif
	_exit(code);
}

int hpool__pidfd_open(int pid)
{
#ifdef HAVE_PIDFD_OPEN
	return pidfd_open(pid, 0);
#else
	return (int)syscall(SYS_pidfd_open, pid, 0);
#endif
}
