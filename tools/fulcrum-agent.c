/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fulcrum-agent: the agent a GPU node runs so that lbd's agent check can read
 * its load (controlplane/agent.h has the line format).
 *
 *   fulcrum-agent [-l ADDRESS] -p PORT (-f FILE | -c COMMAND) [-t TIMEOUT_MS]
 *
 * Each TCP connection gets one line and is closed. The line is produced when
 * the connection arrives: the first line of FILE (read afresh every time), or
 * the first line COMMAND prints (run afresh every time, no cache, so the
 * report is never older than the question; a node wires it to its inference
 * queue depth). The line is checked with agent_parse_line() first; when there
 * is no valid line the connection is closed without one, which lbd takes as
 * "agent unreachable" (never a health failure), and stderr says why, once per
 * distinct reason a minute.
 *
 * One connection at a time, every step bounded: the command by TIMEOUT_MS,
 * the write by FULCRUM_AGENT_SEND_TIMEOUT_MS. Connections arriving meanwhile
 * wait in the listen backlog. Single-threaded; signals arrive through a
 * signalfd so SIGTERM/SIGINT end even a command in progress.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "controlplane/agent.h"

#define FULCRUM_AGENT_TIMEOUT_MS      1000
#define FULCRUM_AGENT_TIMEOUT_MAX_MS  60000
#define FULCRUM_AGENT_SEND_TIMEOUT_MS 1000
#define FULCRUM_AGENT_BACKLOG	      64
/* The same failure is logged again only after this long. */
#define FULCRUM_AGENT_LOG_REPEAT_MS 60000
#define FULCRUM_AGENT_MSG_LEN	    (AGENT_ERROR_LEN + 256)
/* A line, its CRLF, and one byte more to tell "too long" from "just fits". */
#define FULCRUM_AGENT_BUF_LEN (AGENT_LINE_MAX + 3)

struct fulcrum_agent_opts {
	const char *address; /* NULL: every address, IPv4 and IPv6 */
	unsigned int port;
	const char *file;
	const char *command;
	unsigned int timeout_ms;
	bool timeout_set;
};

/* Failure logging that says each distinct problem once, not per connection. */
struct fulcrum_agent_log {
	char last[FULCRUM_AGENT_MSG_LEN]; /* "" when the last report was good */
	unsigned long long last_ms;
	unsigned int repeats; /* of last, not logged */
};

static void fulcrum_agent_usage(FILE *out)
{
	fprintf(out,
		"usage: fulcrum-agent [-l ADDRESS] -p PORT (-f FILE | -c COMMAND) [-t TIMEOUT_MS]\n"
		"Answers each TCP connection with one agent check line for lbd (HAProxy's\n"
		"agent-check words: \"up 60%%\", \"drain\", \"weight:40\", \"down # reason\"), "
		"then\n"
		"closes it.\n"
		"  -l ADDRESS     listen on ADDRESS (IPv4 or IPv6; default: all, both families)\n"
		"  -p PORT        TCP port to listen on\n"
		"  -f FILE        report FILE's first line, read for each connection (replace\n"
		"                 the file atomically: write a temporary file, then rename it)\n"
		"  -c COMMAND     report the first line printed by /bin/sh -c COMMAND, run for\n"
		"                 each connection; it must exit with status 0\n"
		"  -t TIMEOUT_MS  kill COMMAND after TIMEOUT_MS (default %d, at most %d);\n"
		"                 keep it below lbd's agent check timeout\n"
		"  -h             show this help\n"
		"A missing file, a failing or slow command, or a line that is not a valid\n"
		"agent reply: the connection is closed with no line, lbd keeps its last\n"
		"report, and stderr says why.\n",
		FULCRUM_AGENT_TIMEOUT_MS, FULCRUM_AGENT_TIMEOUT_MAX_MS);
}

static unsigned long long fulcrum_agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline_ms, for poll(). */
static int fulcrum_agent_left_ms(unsigned long long deadline_ms)
{
	unsigned long long now = fulcrum_agent_now_ms();

	return now >= deadline_ms ? 0 : (int)(deadline_ms - now);
}

static void fulcrum_agent_log_failure(struct fulcrum_agent_log *log, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fulcrum_agent_log_failure(struct fulcrum_agent_log *log, const char *fmt, ...)
{
	char msg[FULCRUM_AGENT_MSG_LEN];
	unsigned long long now = fulcrum_agent_now_ms();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, log->last) == 0 && now - log->last_ms < FULCRUM_AGENT_LOG_REPEAT_MS) {
		log->repeats++;
		return;
	}
	if (log->repeats > 0)
		fprintf(stderr, "fulcrum-agent: (the last message was repeated %u times)\n",
			log->repeats);
	fprintf(stderr, "fulcrum-agent: %s\n", msg);
	snprintf(log->last, sizeof(log->last), "%s", msg);
	log->last_ms = now;
	log->repeats = 0;
}

/* A good report after failures: say so once, and forget the failure. */
static void fulcrum_agent_log_recovery(struct fulcrum_agent_log *log, const char *line,
				       size_t length)
{
	if (log->last[0] == '\0')
		return;
	if (log->repeats > 0)
		fprintf(stderr, "fulcrum-agent: (the last message was repeated %u times)\n",
			log->repeats);
	fprintf(stderr, "fulcrum-agent: reporting again: %.*s\n", (int)length, line);
	log->last[0] = '\0';
	log->repeats = 0;
}

static int fulcrum_agent_parse_uint(const char *text, unsigned int min, unsigned int max,
				    unsigned int *value)
{
	char *end;
	unsigned long v;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*value = (unsigned int)v;
	return 0;
}

/* Returns 0, 1 for -h, or -EINVAL after printing what is wrong. */
static int fulcrum_agent_parse_args(int argc, char **argv, struct fulcrum_agent_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = FULCRUM_AGENT_TIMEOUT_MS;
	opterr = 0;
	while ((c = getopt(argc, argv, ":l:p:f:c:t:h")) != -1) {
		switch (c) {
		case 'l':
			o->address = optarg;
			break;
		case 'p':
			if (fulcrum_agent_parse_uint(optarg, 1, 65535, &o->port) < 0) {
				fprintf(stderr,
					"fulcrum-agent: -p: \"%s\" is not a port (1..65535)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'f':
			o->file = optarg;
			break;
		case 'c':
			o->command = optarg;
			break;
		case 't':
			if (fulcrum_agent_parse_uint(optarg, 1, FULCRUM_AGENT_TIMEOUT_MAX_MS,
						     &o->timeout_ms) < 0) {
				fprintf(stderr,
					"fulcrum-agent: -t: \"%s\" is not a timeout in ms "
					"(1..%d)\n",
					optarg, FULCRUM_AGENT_TIMEOUT_MAX_MS);
				return -EINVAL;
			}
			o->timeout_set = true;
			break;
		case 'h':
			return 1;
		case ':':
			fprintf(stderr, "fulcrum-agent: -%c needs a value\n", optopt);
			return -EINVAL;
		default:
			fprintf(stderr, "fulcrum-agent: unknown option -%c\n", optopt);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fulcrum-agent: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (o->port == 0) {
		fprintf(stderr, "fulcrum-agent: -p PORT is required\n");
		return -EINVAL;
	}
	if (!o->file == !o->command) {
		fprintf(stderr, "fulcrum-agent: give either -f FILE or -c COMMAND\n");
		return -EINVAL;
	}
	if ((o->file && !o->file[0]) || (o->command && !o->command[0])) {
		fprintf(stderr, "fulcrum-agent: -%c: the value is empty\n", o->file ? 'f' : 'c');
		return -EINVAL;
	}
	if (o->file && o->timeout_set) {
		fprintf(stderr, "fulcrum-agent: -t applies to -c COMMAND only\n");
		return -EINVAL;
	}
	return 0;
}

/*
 * Opens the listening socket (non-blocking, close-on-exec). Without an
 * address: IPv6 with IPV6_V6ONLY off, so IPv4 clients arrive as
 * ::ffff:a.b.c.d; IPv4 alone where the kernel has no IPv6. Returns the fd or
 * -errno; -EINVAL for an address that is not numeric.
 */
static int fulcrum_agent_listen(const char *address, unsigned int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int one = 1, zero = 0, fd, ret;

	memset(&ss, 0, sizeof(ss));
	if (!address || inet_pton(AF_INET6, address, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((__u16)port);
		len = sizeof(*sin6);
	} else if (inet_pton(AF_INET, address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((__u16)port);
		len = sizeof(*sin);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && errno == EAFNOSUPPORT && !address) {
		memset(&ss, 0, sizeof(ss));
		sin->sin_family = AF_INET;
		sin->sin_port = htons((__u16)port);
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof(*sin);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	/* A restarted agent must not wait for the old one's TIME_WAIT sockets. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, FULCRUM_AGENT_BACKLOG) < 0)
		goto fail;
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

/*
 * Reads the first line of path into buf: at most FULCRUM_AGENT_BUF_LEN
 * bytes, through the first '\n'. Returns 0, or -errno with why filled in.
 */
static int fulcrum_agent_read_file(const char *path, char *buf, size_t *length, char *why,
				   size_t why_size)
{
	size_t n = 0;
	int fd, ret = 0;

	/* O_NONBLOCK: a FIFO without a writer must not stall the agent. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, why_size, "cannot open %s: %s", path, strerror(-ret));
		return ret;
	}
	while (n < FULCRUM_AGENT_BUF_LEN && !memchr(buf, '\n', n)) {
		ssize_t got = read(fd, buf + n, FULCRUM_AGENT_BUF_LEN - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			ret = -errno;
			snprintf(why, why_size, "cannot read %s: %s", path, strerror(-ret));
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	*length = n;
	return ret;
}

/*
 * Reads the signals waiting on sig_fd. Returns true when SIGTERM or SIGINT
 * was among them (SIGCHLD only wakes the caller up).
 */
static bool fulcrum_agent_signalled(int sig_fd)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			stop = true;
	}
	return stop;
}

/*
 * Runs /bin/sh -c command in its own process group with stdout on a pipe,
 * and keeps the first FULCRUM_AGENT_BUF_LEN bytes through its first '\n' in
 * buf. The command must exit 0 within timeout_ms; otherwise its whole group
 * is killed (a shell's children too). Returns 0, -EINTR when SIGTERM/SIGINT
 * arrived meanwhile, or another -errno with why filled in.
 */
static int fulcrum_agent_run(const struct fulcrum_agent_opts *o, int sig_fd,
			     const sigset_t *child_mask, char *buf, size_t *length, char *why,
			     size_t why_size)
{
	unsigned long long deadline_ms = fulcrum_agent_now_ms() + o->timeout_ms;
	size_t n = 0;
	bool line_done = false, exited = false;
	int pipe_fd[2], status = 0, ret = 0;
	pid_t pid;

	if (pipe2(pipe_fd, O_CLOEXEC) < 0) {
		ret = -errno;
		snprintf(why, why_size, "cannot run the command: pipe: %s", strerror(-ret));
		return ret;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		snprintf(why, why_size, "cannot run the command: fork: %s", strerror(-ret));
		close(pipe_fd[0]);
		close(pipe_fd[1]);
		return ret;
	}
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (null_fd >= 0)
			dup2(null_fd, STDIN_FILENO);
		dup2(pipe_fd[1], STDOUT_FILENO);
		/* The agent blocks its signals for the signalfd; exec keeps the mask. */
		sigprocmask(SIG_SETMASK, child_mask, NULL);
		execl("/bin/sh", "sh", "-c", o->command, (char *)NULL);
		_exit(127);
	}
	/* Also here, so the group exists before any kill(-pid) below. */
	setpgid(pid, pid);
	close(pipe_fd[1]);
	fcntl(pipe_fd[0], F_SETFL, O_NONBLOCK);

	while (!exited) {
		struct pollfd pfd[2] = {{.fd = sig_fd, .events = POLLIN},
					{.fd = pipe_fd[0], .events = POLLIN}};
		int left = fulcrum_agent_left_ms(deadline_ms);

		if (left == 0) {
			snprintf(why, why_size, "command timed out after %u ms, killed",
				 o->timeout_ms);
			ret = -ETIMEDOUT;
			break;
		}
		if (poll(pfd, pipe_fd[0] >= 0 ? 2 : 1, left) < 0 && errno != EINTR) {
			ret = -errno;
			snprintf(why, why_size, "poll: %s", strerror(-ret));
			break;
		}
		if (pfd[0].revents && fulcrum_agent_signalled(sig_fd)) {
			ret = -EINTR;
			break;
		}
		/* Everything the command wrote before it exited is in the pipe. */
		exited = waitpid(pid, &status, WNOHANG) == pid;
		/* Bounded: a background child of the command could write forever. */
		for (int reads = 0; pipe_fd[0] >= 0 && reads < 16; reads++) {
			char discard[4096];
			char *to = line_done ? discard : buf + n;
			size_t room = line_done ? sizeof(discard) : FULCRUM_AGENT_BUF_LEN - n;
			ssize_t got = read(pipe_fd[0], to, room);

			if (got < 0 && errno == EINTR)
				continue;
			if (got == 0 || (got < 0 && errno != EAGAIN)) {
				close(pipe_fd[0]);
				pipe_fd[0] = -1;
			}
			if (got <= 0)
				break;
			/* The rest is read and dropped: a command blocked on a full
			 * pipe would only time out. */
			if (!line_done) {
				n += (size_t)got;
				line_done = memchr(buf, '\n', n) || n == FULCRUM_AGENT_BUF_LEN;
			}
		}
	}
	if (pipe_fd[0] >= 0)
		close(pipe_fd[0]);
	if (!exited) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return ret;
	}
	*length = n;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		snprintf(why, why_size, "command exited with status %d", WEXITSTATUS(status));
		return -ECHILD;
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, why_size, "command killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return -ECHILD;
	}
	return 0;
}

/*
 * Sends line and '\n' to a non-blocking socket within
 * FULCRUM_AGENT_SEND_TIMEOUT_MS. Returns 0 or -errno (-ETIMEDOUT).
 */
static int fulcrum_agent_send(int fd, const char *line, size_t length)
{
	unsigned long long deadline_ms = fulcrum_agent_now_ms() + FULCRUM_AGENT_SEND_TIMEOUT_MS;
	char out[AGENT_LINE_MAX + 1];
	size_t sent = 0;

	memcpy(out, line, length);
	out[length++] = '\n';
	while (sent < length) {
		/* MSG_NOSIGNAL: a client gone away is an error code, not SIGPIPE. */
		ssize_t n = send(fd, out + sent, length - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0) {
			sent += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int left = fulcrum_agent_left_ms(deadline_ms);

		if (left == 0 || poll(&pfd, 1, left) == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/*
 * Closes a client's connection. Bytes it sent (HAProxy may send a
 * greeting) are read first: closing with unread data makes the kernel send
 * a reset, and a reset can destroy the line before the client reads it.
 */
static void fulcrum_agent_close(int fd)
{
	char discard[1024];

	for (int i = 0; i < 16 && recv(fd, discard, sizeof(discard), MSG_DONTWAIT) > 0; i++)
		;
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void fulcrum_agent_peer(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const void *addr = NULL;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			addr = &((struct sockaddr_in *)&ss)->sin_addr;
		else if (ss.ss_family == AF_INET6)
			addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	}
	if (!addr || !inet_ntop(ss.ss_family, addr, buf, (socklen_t)size))
		snprintf(buf, size, "a client");
}

/*
 * Answers one connection: produces the line, validates it, sends it or
 * nothing. Returns -EINTR when the agent should stop, 0 otherwise.
 */
static int fulcrum_agent_serve(const struct fulcrum_agent_opts *o, int client_fd, int sig_fd,
			       const sigset_t *child_mask, struct fulcrum_agent_log *log)
{
	char buf[FULCRUM_AGENT_BUF_LEN], why[FULCRUM_AGENT_MSG_LEN], err[AGENT_ERROR_LEN];
	const char *source = o->file ? o->file : "command";
	struct agent_report report;
	size_t n = 0, length;
	int ret;

	if (o->file)
		ret = fulcrum_agent_read_file(o->file, buf, &n, why, sizeof(why));
	else
		ret = fulcrum_agent_run(o, sig_fd, child_mask, buf, &n, why, sizeof(why));
	if (ret == -EINTR) {
		fulcrum_agent_close(client_fd);
		return ret;
	}
	if (ret < 0) {
		fulcrum_agent_log_failure(log, "%s; closed without a line", why);
		goto out;
	}
	const char *newline = memchr(buf, '\n', n);

	if (!newline && n == FULCRUM_AGENT_BUF_LEN) {
		fulcrum_agent_log_failure(
			log, "%s: first line is longer than %d bytes; closed without a line",
			source, AGENT_LINE_MAX);
		goto out;
	}
	length = newline ? (size_t)(newline - buf) : n;
	if (length > 0 && buf[length - 1] == '\r')
		length--;
	if (agent_parse_line(buf, length, &report, err, sizeof(err)) < 0) {
		fulcrum_agent_log_failure(log, "%s: %s; closed without a line", source, err);
		goto out;
	}
	/* The line goes out as written, reason and all, not reformatted. */
	ret = fulcrum_agent_send(client_fd, buf, length);
	if (ret < 0) {
		char peer[INET6_ADDRSTRLEN];

		fulcrum_agent_peer(client_fd, peer, sizeof(peer));
		fulcrum_agent_log_failure(log, "cannot send to %s: %s", peer, strerror(-ret));
		goto out;
	}
	fulcrum_agent_log_recovery(log, buf, length);
out:
	fulcrum_agent_close(client_fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct fulcrum_agent_opts o;
	struct fulcrum_agent_log log = {0};
	sigset_t block, old_mask;
	int listen_fd, sig_fd, ret;

	ret = fulcrum_agent_parse_args(argc, argv, &o);
	if (ret == 1) {
		fulcrum_agent_usage(stdout);
		return 0;
	}
	if (ret < 0) {
		fulcrum_agent_usage(stderr);
		return 2;
	}
	/* Signals come through a signalfd, polled with the sockets: no handler
	 * races with a blocking call. SIGCHLD wakes the wait for a command. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &block, &old_mask) < 0) {
		perror("fulcrum-agent: sigprocmask");
		return 1;
	}
	sig_fd = signalfd(-1, &block, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0) {
		perror("fulcrum-agent: signalfd");
		return 1;
	}
	listen_fd = fulcrum_agent_listen(o.address, o.port);
	if (listen_fd == -EINVAL) {
		fprintf(stderr, "fulcrum-agent: -l: \"%s\" is not an IPv4 or IPv6 address\n",
			o.address);
		fulcrum_agent_usage(stderr);
		return 2;
	}
	if (listen_fd < 0) {
		fprintf(stderr, "fulcrum-agent: cannot listen on %s port %u: %s\n",
			o.address ? o.address : "all addresses", o.port, strerror(-listen_fd));
		return 1;
	}
	fprintf(stderr, "fulcrum-agent: listening on %s port %u, reporting %s%s%s\n",
		o.address ? o.address : "all addresses", o.port, o.file ? "the first line of " : "",
		o.file ? o.file : "the output of ", o.file ? "" : o.command);

	for (;;) {
		struct pollfd pfd[2] = {{.fd = sig_fd, .events = POLLIN},
					{.fd = listen_fd, .events = POLLIN}};

		if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
			perror("fulcrum-agent: poll");
			ret = 1;
			break;
		}
		if (pfd[0].revents && fulcrum_agent_signalled(sig_fd)) {
			ret = 0;
			break;
		}
		if (!pfd[1].revents)
			continue;
		int client_fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (client_fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				continue;
			fulcrum_agent_log_failure(&log, "accept: %s", strerror(errno));
			/* Out of descriptors or memory: do not spin on the backlog. */
			poll(NULL, 0, 100);
			continue;
		}
		if (fulcrum_agent_serve(&o, client_fd, sig_fd, &old_mask, &log) == -EINTR) {
			ret = 0;
			break;
		}
	}
	if (ret == 0)
		fprintf(stderr, "fulcrum-agent: stopping\n");
	close(listen_fd);
	close(sig_fd);
	return ret;
}
