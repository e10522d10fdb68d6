/* SPDX-License-Identifier: MIT */
/*
 * The fork server (start = forkserver): a single-threaded process forked
 * early, by hpool_forkserver_start() at the top of main, or before main
 * when HPOOL_START=forkserver is in the environment at load time. A
 * process pool created with start = forkserver has its supervisor forked
 * from the server, so neither the supervisor nor any worker inherits a lock
 * that another thread of the caller held when the pool was created, nor
 * the caller's OpenMP or other runtime state from after the server began.
 *
 * Such a supervisor cannot inherit the pool's region (the server was
 * forked before the region existed), so the region is a memfd, passed with
 * SCM_RIGHTS and mapped at the caller's address (MAP_FIXED_NOREPLACE: if
 * that address is taken in the server's copy of the address space, the
 * create fails cleanly). Function pointers are valid: the server runs the
 * same program, forked from it, so code is at the same addresses, except
 * code the caller loaded with dlopen after the server started.
 *
 * The supervisor is the server's child, not the caller's: the caller
 * holds a pidfd for it (sent by the server, opened before the server could
 * reap it, so it names the right process) instead of waiting for it.
 * The server exits when the caller does (pidfd) or closes its socket.
 */
#include "forkserver.h"
#include "libfd.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct fs_req {
	void *addr;               /* where the region is mapped */
	size_t len;
	struct hpool__shared *sh; /* the pool's root block, in the region */
	pid_t owner;              /* the caller */
	int bind;
};

static pthread_mutex_t fs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fs_cond = PTHREAD_COND_INITIALIZER;
static bool fs_starting; /* a thread is forking the server (no lock held) */
static int fs_sock = -1; /* the caller's end, close-on-exec */
static pid_t fs_pid;     /* the server */
static pid_t fs_owner;   /* the process that started it: a child forked
			    by the caller inherits fs_sock, but not the
			    server, which serves its parent only */

/* Is there a live server of this process's? Context: fs_lock held. */
/* A server this process started died (it is started again on demand:
 * hpool__fs_running). Under fs_lock. */
static bool fs_died;

static bool fs_up(void)
{
	pid_t w = 0;
	int st;

	if (fs_sock < 0)
		return false;
	if (fs_owner != getpid() || (w = waitpid(fs_pid, &st, WNOHANG)) ==
					    fs_pid ||
	    (w < 0 && errno == ECHILD)) { /* ECHILD: the caller reaped it */
		/* inherited from a parent, or died: forget it */
		fs_died = fs_owner == getpid();
		hpool__fd_lock();
		hpool__lib_fd_del_locked(fs_sock);
		close(fs_sock);
		hpool__fd_unlock();
		fs_sock = -1;
		return false;
	}
	return true;
}

/* Send `len` bytes and `nfd` descriptors in one message. */
static int send_msg(int sock, const void *buf, size_t len, const int *fds,
		    int nfd)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (nfd) {
		memset(cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf;
		m.msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfd * sizeof(int));
	}
	while (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* Receive one message; descriptors land in fds (-1 where none came).
 * Return: bytes received (0 at EOF) or -errno. */
static ssize_t recv_msg(int sock, void *buf, size_t len, int *fds, int nfd)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t k;
	int i;

	for (i = 0; i < nfd; i++)
		fds[i] = -1;
	while ((k = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0)
		if (errno != EINTR)
			return -errno;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int n = (int)((c->cmsg_len - CMSG_LEN(0)) /
				      sizeof(int));

			memcpy(fds, CMSG_DATA(c),
			       (size_t)(n < nfd ? n : nfd) * sizeof(int));
		}
	return k;
}

/* In the server's child: become the pool's supervisor. */
static void __attribute__((noreturn)) supervisor_child(const struct fs_req *r,
						       int memfd, int req)
{
	struct hpool__topo *topo = NULL;

	if (hpool__shm_attach(memfd, r->addr, r->len))
		hpool__exit(HPOOL__EXIT_INIT + 2);
	close(memfd);
	if (r->bind && hpool__topo_open(&topo))
		topo = NULL; /* bind then does nothing; the pool still runs */
	hpool__exit(hpool__sup_main(r->sh, topo, req, r->owner));
}

static void __attribute__((noreturn)) server_main(int sock, pid_t owner)
{
	int owner_fd = hpool__pidfd_open(owner), sfd;
	sigset_t set;

	prctl(PR_SET_NAME, "hpool-forksrv");
	hpool__own_signals();
	/* Without pidfds (ENOSYS: old kernels, valgrind) the parent check,
	 * once a second, tells the caller's death instead. */
	if (owner_fd < 0 && (errno != ENOSYS || getppid() != owner))
		hpool__exit(0); /* the caller is gone already */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	for (;;) {
		struct pollfd fds[3] = {
			{ .fd = sock, .events = POLLIN },
			{ .fd = owner_fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		struct fs_req r;
		int fd[2], reply[1], st;
		int32_t rep;
		pid_t pid;
		ssize_t k;

		if (poll(fds, 3, owner_fd < 0 ? 1000 : -1) < 0 &&
		    errno != EINTR)
			hpool__exit(1);
		if (fds[1].revents || (owner_fd < 0 && getppid() != owner))
			hpool__exit(0); /* the caller died */
		if (fds[2].revents) {
			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			while (waitpid(-1, &st, WNOHANG) > 0)
				;
		}
		if (!fds[0].revents)
			continue;
		k = recv_msg(sock, &r, sizeof(r), fd, 2);
		if (k <= 0)
			hpool__exit(0); /* the caller closed its end */
		if (k != sizeof(r) || fd[0] < 0 || fd[1] < 0) {
			rep = -EPROTO;
			reply[0] = -1;
		} else if ((pid = fork()) == 0) {
			close(sock);
			close(owner_fd);
			close(sfd);
			supervisor_child(&r, fd[0], fd[1]);
		} else if (pid < 0) {
			rep = -errno;
			reply[0] = -1;
		} else {
			/* Not reaped yet (that happens in this loop), so the
			 * pidfd names this child even if it already died. */
			rep = pid;
			reply[0] = hpool__pidfd_open(pid);
			if (reply[0] < 0)
				rep = -errno;
		}
		if (fd[0] >= 0)
			close(fd[0]);
		if (fd[1] >= 0)
			close(fd[1]);
		send_msg(sock, &rep, sizeof(rep), reply, reply[0] >= 0);
		if (reply[0] >= 0)
			close(reply[0]);
	}
}

/* In a forked child: fresh locks (another thread may have held them at
 * the fork; see libfd.c). The server it finds is its parent's: fs_up()
 * forgets it. */
static void fs_child(void)
{
	pthread_mutex_init(&fs_lock, NULL);
	pthread_cond_init(&fs_cond, NULL);
	fs_starting = false;
}

__attribute__((constructor(101))) static void fs_atfork(void)
{
	pthread_atfork(NULL, NULL, fs_child);
}

/* Fork the server. Context: fs_starting set by this thread, no lock held
 * (the fork must not carry one). Return: 0 or -errno. */
static int fs_fork(int *sock, pid_t *server)
{
	int sv[2], e;
	pid_t pid;

	/* Both ends into the table at once: another thread's library fork
	 * meanwhile closes them in its child. */
	hpool__fd_lock();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		e = -errno;
		hpool__fd_unlock();
		return e;
	}
	hpool__lib_fd_add_locked(sv[0]);
	hpool__lib_fd_add_locked(sv[1]);
	hpool__fd_unlock();
	pid = hpool__fork_lib();
	e = pid < 0 ? -errno : 0;
	if (pid == 0) {
		hpool__lib_fd_del(sv[1]);
		hpool__close_lib_fds();
		server_main(sv[1], getppid());
	}
	hpool__fd_lock();
	hpool__lib_fd_del_locked(sv[1]);
	close(sv[1]);
	if (e) {
		hpool__lib_fd_del_locked(sv[0]);
		close(sv[0]);
	}
	hpool__fd_unlock();
	*sock = sv[0];
	*server = pid;
	return e;
}

int hpool_forkserver_start(void)
{
	int e = 0, sock = -1;
	pid_t pid = 0;

	pthread_mutex_lock(&fs_lock);
	while (fs_starting)
		pthread_cond_wait(&fs_cond, &fs_lock);
	if (fs_up())
		goto out;
	fs_starting = true;
	pthread_mutex_unlock(&fs_lock);
	e = fs_fork(&sock, &pid);
	pthread_mutex_lock(&fs_lock);
	if (!e) {
		fs_sock = sock;
		fs_pid = pid;
		fs_owner = getpid();
	}
	fs_starting = false;
	pthread_cond_broadcast(&fs_cond);
out:
	pthread_mutex_unlock(&fs_lock);
	return e ? hpool__fail(e, "hpool_forkserver_start: %s",
			       hpool_strerror(e)) : 0;
}

/* HPOOL_START=forkserver in the environment: start it before main, while
 * the process is single-threaded. A bad value is left for hpool_create to
 * report. */
__attribute__((constructor)) static void forkserver_at_load(void)
{
	const char *v = getenv("HPOOL_START");

	if (v && !strcmp(v, "forkserver"))
		hpool_forkserver_start();
}

bool hpool__fs_running(void)
{
	bool up, died;

	pthread_mutex_lock(&fs_lock);
	while (fs_starting)
		pthread_cond_wait(&fs_cond, &fs_lock);
	up = fs_up();
	died = fs_died;
	pthread_mutex_unlock(&fs_lock);
	/* Ours died (killed, OOM): start another, as a dead supervisor is
	 * replaced. It is forked from this process as it is now, maybe
	 * threaded: the hazard the server avoids, taken once per death. */
	if (!up && died && !hpool_forkserver_start()) {
		pthread_mutex_lock(&fs_lock);
		fs_died = false;
		pthread_mutex_unlock(&fs_lock);
		up = true;
	}
	return up;
}

int hpool__fs_sup_start(int memfd, void *addr, size_t len,
			struct hpool__shared *sh, int bind,
			struct hpool__sup *sup)
{
	struct fs_req r = { addr, len, sh, getpid(), bind };
	int p[2], fds[2], pidfd = -1, e;
	int32_t rep = -EPROTO;
	ssize_t k;

	pthread_mutex_lock(&fs_lock);
	while (fs_starting)
		pthread_cond_wait(&fs_cond, &fs_lock);
	if (!fs_up()) {
		pthread_mutex_unlock(&fs_lock);
		return -ENOENT;
	}
	hpool__fd_lock();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) {
		e = -errno;
		hpool__fd_unlock();
		pthread_mutex_unlock(&fs_lock);
		return e;
	}
	hpool__lib_fd_add_locked(p[0]);
	hpool__lib_fd_add_locked(p[1]);
	hpool__fd_unlock();
	fds[0] = memfd;
	fds[1] = p[1];
	e = send_msg(fs_sock, &r, sizeof(r), fds, 2);
	if (!e) {
		k = recv_msg(fs_sock, &rep, sizeof(rep), &pidfd, 1);
		if (k != sizeof(rep))
			rep = k < 0 ? (int32_t)k : -EPIPE;
	}
	pthread_mutex_unlock(&fs_lock);
	hpool__fd_lock();
	hpool__lib_fd_del_locked(p[1]);
	close(p[1]);
	if (e || rep < 0 || pidfd < 0) {
		hpool__lib_fd_del_locked(p[0]);
		close(p[0]);
		if (pidfd >= 0)
			close(pidfd);
		hpool__fd_unlock();
		return e ? e : rep < 0 ? rep : -EPROTO;
	}
	hpool__fd_unlock();
	sup->pid = rep;
	sup->req_fd = p[0];
	sup->pidfd = pidfd;
	return 0;
}
