/*
 * bench/stub.c: the fake Lambda Runtime API + Extensions API of the benchmark (`python -m bench` compiles it with
 * `gcc -O2` at run time).
 *
 * Serve mode (default): listen on 127.0.0.1:<ephemeral>, fork/exec the runtime command with AWS_LAMBDA_RUNTIME_API
 * pointing at it (the child takes CLOCK_MONOTONIC right before execve, into a shared page), serve N invocations with
 * Lambda's ordering rules, then read /proc/PID/status, SIGKILL the runtime and write the measurements to --out.
 *
 *   - the runtime's first /next completes init only once every registered extension has called event/next once;
 *   - invocation k+1 goes out (INVOKE events to the extensions' pending event/next first, then the runtime's /next
 *     reply) only when the runtime has called /next after posting k's result AND every extension has called
 *     event/next after receiving k's INVOKE event;
 *   - extension registration closes at the runtime's first /next (403 Extension.RegistrationClosed after);
 *   - an extension registered without "INVOKE" in its events gates init only (one event/next, never answered).
 *
 * One thread, epoll, non-blocking sockets, any number of keep-alive HTTP/1.1 connections; requests may arrive split
 * across reads or several per read; bodies by Content-Length or chunked; `Expect: 100-continue` is honoured. Replies
 * are written whole (poll for POLLOUT on a full socket buffer). All timestamps are CLOCK_MONOTONIC ns, the clock of
 * Python's time.monotonic_ns() on Linux.
 *
 * Client mode (--client): a minimal C runtime (next -> response loop, no JSON), the measurement floor of the stub
 * itself plus loopback TCP.
 *
 * Output (--out FILE), one record a line, space separated:
 *   status ok|timeout|child_exited|init_error|error <detail>
 *   pid P / exec_ns T / register_ns T / extensions REGISTERED INVOKE_SUBSCRIBED
 *   inv K next_ns ready_ns write_ns dispatch_ns response_ns kind bytes
 *                                                            (kind: 0 response, 1 error; write_ns: the /next reply's
 *                                                            write started, dispatch_ns: done; bytes: the /response
 *                                                            or /error body's length, after de-chunking)
 *   final_next_ns T                                          (the /next after the last result)
 *   rss K VmRSS_kB VmHWM_kB                                  (read when the /next after result K arrived)
 *   child_cpu_ns AT_FIRST_DISPATCH AT_END                    (all threads, from schedstat)
 *   stub_cpu_us USER SYS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define MAX_EXTENSIONS 10
#define MAX_RSS_POINTS 16
#define MAX_BODY (16 * 1024 * 1024)
#define MAX_HEAD (64 * 1024)
#define WRITE_TIMEOUT_MS 10000

static const char *ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench";
static const char *TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

typedef struct {
    int fd;
    char *buf;
    size_t start, len, cap; /* unread bytes are buf[start .. start+len) */
    int sent_continue;
} Conn;

typedef struct {
    char id[40];
    int pending_fd; /* connection holding an unanswered event/next, -1 if none */
    long ready_for; /* the invocation number this extension's pending event/next is ready for */
    int invoke;     /* subscribed to INVOKE; if not, it only gates init (one event/next) and never gets events */
    int ready_once; /* has called event/next at least once */
} Extension;

typedef struct {
    int64_t next_ns, ready_ns, write_ns, dispatch_ns, response_ns;
    int kind;
    size_t bytes; /* the result's body length */
} Inv;

/* Serve state. */
static Conn conns[MAX_CONNS];
static Extension exts[MAX_EXTENSIONS];
static int n_exts = 0;
static int epfd = -1;
static long n_invocations = 1;
static long dispatched = 0;      /* invocations handed out so far */
static int awaiting_result = 0;  /* the current invocation has not been answered yet */
static int runtime_fd = -1;      /* connection holding the runtime's unanswered /next */
static int registration_closed = 0;
static int64_t pending_next_ns = 0; /* when the runtime's pending /next arrived */
static int64_t ready_ns = 0;        /* when the conditions of the next dispatch were all met (0: not yet) */
static int64_t pause_ns = 0;
static int64_t register_ns = 0;
static int64_t final_next_ns = 0;
static Inv *invs = NULL;
static char *event_body = NULL;
static size_t event_len = 0;
static pid_t child = -1;
static long rss_at[MAX_RSS_POINTS];
static long rss_vals[MAX_RSS_POINTS][2];
static int n_rss = 0;
static long long cpu_first = -1, cpu_end = -1;
static char current_id[64];
static int finished = 0;
static const char *status = "error";
static char status_detail[256] = "";

/* "0" or "1,2,3" → CPU set; returns 0 when empty. */
static int parse_cpus(const char *list, cpu_set_t *set) {
    CPU_ZERO(set);
    int count = 0;
    for (const char *p = list; *p; ) {
        char *end;
        long cpu = strtol(p, &end, 10);
        if (end == p || cpu < 0 || cpu >= CPU_SETSIZE) return 0;
        CPU_SET((int)cpu, set);
        count++;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end) return 0;
    }
    return count;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t epoch_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "stub: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    exit(2);
}

static int failed = 0; /* a write to the runtime or an extension failed: the run is not ok */

static void set_status(const char *s, const char *fmt, ...) {
    va_list ap;
    if (failed) return;
    failed = strcmp(s, "error") == 0;
    status = s;
    va_start(ap, fmt);
    vsnprintf(status_detail, sizeof status_detail, fmt, ap);
    va_end(ap);
}

/* Write all of iov, waiting for POLLOUT when the socket buffer is full; 0 on success, -1 on error/timeout. */
static int write_all(int fd, struct iovec *iov, int iovcnt) {
    int64_t deadline = now_ns() + (int64_t)WRITE_TIMEOUT_MS * 1000000LL;
    for (int guard = 0; iovcnt > 0 && guard < 1000000; guard++) {
        ssize_t n = writev(fd, iov, iovcnt);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            int64_t left_ms = (deadline - now_ns()) / 1000000;
            if (left_ms <= 0) return -1;
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, (int)left_ms);
            continue;
        }
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return iovcnt == 0 ? 0 : -1;
}

static int write_str(int fd, const char *head, size_t head_len, const char *body, size_t body_len) {
    struct iovec iov[2] = {{(void *)head, head_len}, {(void *)body, body_len}};
    return write_all(fd, iov, body_len ? 2 : 1);
}

static void reply(int fd, int code, const char *reason, const char *extra_headers, const char *body) {
    char head[1024];
    size_t blen = strlen(body);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n", code,
                     reason, extra_headers, blen);
    if (write_str(fd, head, (size_t)n, body, blen) != 0) set_status("error", "write failed on fd %d", fd);
}

static Conn *conn_of(int fd) {
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd == fd) return &conns[i];
    return NULL;
}

static void close_conn(Conn *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (runtime_fd == c->fd) runtime_fd = -1;
    for (int i = 0; i < n_exts; i++)
        if (exts[i].pending_fd == c->fd) exts[i].pending_fd = -1;
    free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static long read_proc_status(pid_t pid, const char *key) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long value = -1;
    size_t klen = strlen(key);
    for (int guard = 0; guard < 200 && fgets(line, sizeof line, f); guard++) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            value = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return value;
}

/* CPU time of every thread of the process so far, in ns (/proc/PID/task/TID/schedstat, first field). */
static long long read_proc_cpu_ns(pid_t pid) {
    char path[320], buf[256];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir) return -1;
    long long total = 0;
    struct dirent *entry;
    for (int guard = 0; guard < 100000 && (entry = readdir(dir)) != NULL; guard++) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", (int)pid, entry->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = 0;
        total += strtoll(buf, NULL, 10);
    }
    closedir(dir);
    return total;
}

/* Lambda's gate: the runtime waits in /next and every extension waits in event/next for this invocation. */
static int dispatch_ready(void) {
    if (runtime_fd < 0 || awaiting_result) return 0;
    for (int i = 0; i < n_exts; i++) {
        if (!exts[i].invoke) {
            if (!exts[i].ready_once) return 0;
            continue;
        }
        if (exts[i].pending_fd < 0 || exts[i].ready_for != dispatched + 1) return 0;
    }
    return 1;
}

static void finish(int64_t t) {
    final_next_ns = t;
    cpu_end = read_proc_cpu_ns(child);
    set_status("ok", "");
    finished = 1;
}

static void dispatch(void) {
    long k = dispatched + 1;
    int64_t deadline = epoch_ms() + 60000;
    snprintf(current_id, sizeof current_id, "8476a536-e9f4-11e8-9739-%012ld", k);
    char head[1024], ev[1024];
    /* The INVOKE events first: RAPID releases the extensions together with the runtime. */
    for (int i = 0; i < n_exts; i++) {
        if (!exts[i].invoke) continue;
        int evlen = snprintf(ev, sizeof ev,
                             "{\"eventType\":\"INVOKE\",\"deadlineMs\":%lld,\"requestId\":\"%s\","
                             "\"invokedFunctionArn\":\"%s\",\"tracing\":{\"type\":\"X-Amzn-Trace-Id\",\"value\":\"%s\"}}",
                             (long long)deadline, current_id, ARN, TRACE);
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Extension-Event-Identifier: "
                         "ev-%ld-%d\r\nContent-Length: %d\r\n\r\n",
                         k, i, evlen);
        if (write_str(exts[i].pending_fd, head, (size_t)n, ev, (size_t)evlen) != 0)
            set_status("error", "write to extension %d failed", i);
        exts[i].pending_fd = -1;
    }
    int64_t write_start = now_ns();
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: %s\r\n"
                     "Lambda-Runtime-Deadline-Ms: %lld\r\nLambda-Runtime-Invoked-Function-Arn: %s\r\n"
                     "Lambda-Runtime-Trace-Id: %s\r\nContent-Length: %zu\r\n\r\n",
                     current_id, (long long)deadline, ARN, TRACE, event_len);
    if (write_str(runtime_fd, head, (size_t)n, event_body, event_len) != 0) set_status("error", "write of /next failed");
    int64_t t = now_ns();
    if (k == 1) cpu_first = read_proc_cpu_ns(child);
    invs[k - 1].next_ns = pending_next_ns;
    invs[k - 1].ready_ns = ready_ns;
    invs[k - 1].write_ns = write_start;
    invs[k - 1].dispatch_ns = t;
    runtime_fd = -1;
    awaiting_result = 1;
    dispatched = k;
    ready_ns = 0;
}

/* After a state change: note when the gate opened, and dispatch now unless pacing asks to wait. */
static void maybe_dispatch(int64_t t) {
    if (finished || !dispatch_ready()) return;
    if (ready_ns == 0) ready_ns = t;
    if (pause_ns > 0 && now_ns() < ready_ns + pause_ns) return;
    dispatch();
}

static const char *header_value(const char *head, size_t head_len, const char *name, size_t *vlen) {
    size_t nlen = strlen(name);
    const char *p = memchr(head, '\n', head_len);
    const char *end = head + head_len;
    for (int guard = 0; p && p < end && guard < 1000; guard++) {
        p++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

/* Decode a chunked body in place; returns bytes consumed (incl. trailers) or 0 if incomplete, -1 if malformed. */
static long dechunk(char *p, size_t avail, size_t *body_len) {
    size_t in = 0, out = 0;
    for (int guard = 0; guard < 1000000; guard++) {
        char *eol = memmem(p + in, avail - in, "\r\n", 2);
        if (!eol) return 0;
        char *endp;
        unsigned long size = strtoul(p + in, &endp, 16);
        if (endp == p + in) return -1;
        size_t data = (size_t)(eol - p) + 2;
        if (size == 0) {
            /* trailers up to an empty line */
            size_t q = data;
            for (int g2 = 0; g2 < 1000; g2++) {
                char *e2 = memmem(p + q, avail - q, "\r\n", 2);
                if (!e2) return 0;
                if (e2 == p + q) {
                    *body_len = out;
                    return (long)(q + 2);
                }
                q = (size_t)(e2 - p) + 2;
            }
            return -1;
        }
        if (data + size + 2 > avail) return 0;
        memmove(p + out, p + data, size);
        out += size;
        in = data + size + 2;
    }
    return -1;
}

static int starts(const char *s, size_t len, const char *prefix) {
    size_t pl = strlen(prefix);
    return len >= pl && memcmp(s, prefix, pl) == 0;
}

static void handle_request(Conn *c, const char *method, const char *path, size_t path_len, const char *head,
                           size_t head_len, const char *body, size_t body_len, int64_t t) {
    int fd = c->fd;
    int is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;
    static const char RT[] = "/2018-06-01/runtime/";
    static const char EX[] = "/2020-01-01/extension/";
    if (is_get && path_len == strlen(RT) + 15 && starts(path, path_len, "/2018-06-01/runtime/invocation/next")) {
        if (awaiting_result) {
            reply(fd, 403, "Forbidden", "", "{\"errorMessage\":\"/next before the result\",\"errorType\":\"InvalidStateTransition\"}");
            return;
        }
        registration_closed = 1;
        runtime_fd = fd;
        pending_next_ns = t;
        if (n_rss > 0)
            for (int i = 0; i < n_rss; i++)
                if (rss_at[i] == dispatched) {
                    rss_vals[i][0] = read_proc_status(child, "VmRSS");
                    rss_vals[i][1] = read_proc_status(child, "VmHWM");
                }
        if (dispatched >= n_invocations) {
            finish(t);
            return;
        }
        maybe_dispatch(t);
        return;
    }
    if (is_post && starts(path, path_len, "/2018-06-01/runtime/invocation/")) {
        const char *id = path + strlen("/2018-06-01/runtime/invocation/");
        const char *slash = memchr(id, '/', (size_t)(path + path_len - id));
        if (slash) {
            size_t idlen = (size_t)(slash - id);
            size_t rest = (size_t)(path + path_len - slash);
            int is_resp = rest == 9 && memcmp(slash, "/response", 9) == 0;
            int is_err = rest == 6 && memcmp(slash, "/error", 6) == 0;
            if (is_resp || is_err) {
                if (!awaiting_result || idlen != strlen(current_id) || memcmp(id, current_id, idlen) != 0) {
                    reply(fd, 400, "Bad Request", "", "{\"errorMessage\":\"Invalid request ID\",\"errorType\":\"InvalidRequestID\"}");
                    return;
                }
                invs[dispatched - 1].response_ns = t;
                invs[dispatched - 1].kind = is_err;
                invs[dispatched - 1].bytes = body_len;
                awaiting_result = 0;
                reply(fd, 202, "Accepted", "", "{\"status\":\"OK\"}");
                return;
            }
        }
    }
    if (is_post && path_len == strlen(RT) + 10 && starts(path, path_len, "/2018-06-01/runtime/init/error")) {
        reply(fd, 202, "Accepted", "", "{\"status\":\"OK\"}");
        set_status("init_error", "the runtime posted /init/error");
        finished = 1;
        return;
    }
    if (is_post && path_len == strlen(EX) + 8 && starts(path, path_len, "/2020-01-01/extension/register")) {
        if (registration_closed) {
            reply(fd, 403, "Forbidden", "", "{\"errorMessage\":\"Extension registration closed already\",\"errorType\":\"Extension.RegistrationClosed\"}");
            return;
        }
        if (n_exts >= MAX_EXTENSIONS) {
            reply(fd, 403, "Forbidden", "", "{\"errorMessage\":\"Too many extensions\",\"errorType\":\"Extension.TooManyExtensions\"}");
            return;
        }
        Extension *e = &exts[n_exts];
        snprintf(e->id, sizeof e->id, "a1b2c3d4-0000-4000-8000-%012d", n_exts + 1);
        e->pending_fd = -1;
        e->ready_for = 0;
        e->ready_once = 0;
        e->invoke = body_len >= 8 && memmem(body, body_len, "\"INVOKE\"", 8) != NULL;
        n_exts++;
        if (register_ns == 0) register_ns = t;
        char hdr[128];
        snprintf(hdr, sizeof hdr, "Lambda-Extension-Identifier: %s\r\n", e->id);
        reply(fd, 200, "OK", hdr, "{\"functionName\":\"bench\",\"functionVersion\":\"$LATEST\",\"handler\":\"bench\"}");
        return;
    }
    if (is_get && path_len == strlen(EX) + 10 && starts(path, path_len, "/2020-01-01/extension/event/next")) {
        size_t vlen = 0;
        const char *v = header_value(head, head_len, "Lambda-Extension-Identifier", &vlen);
        for (int i = 0; v && i < n_exts; i++) {
            if (vlen == strlen(exts[i].id) && memcmp(v, exts[i].id, vlen) == 0) {
                exts[i].pending_fd = fd;
                exts[i].ready_for = dispatched + 1;
                exts[i].ready_once = 1;
                maybe_dispatch(t);
                return;
            }
        }
        reply(fd, 403, "Forbidden", "", "{\"errorMessage\":\"unknown extension\",\"errorType\":\"Extension.UnknownExtensionIdentifier\"}");
        return;
    }
    if (is_post && starts(path, path_len, "/2020-01-01/extension/")) { /* init/error, exit/error */
        reply(fd, 202, "Accepted", "", "{\"status\":\"OK\"}");
        return;
    }
    reply(fd, 404, "Not Found", "", "{\"errorMessage\":\"not found\",\"errorType\":\"NotFound\"}");
}

/* Parse and handle every complete request in the connection's buffer. Returns -1 to close the connection. */
static int process(Conn *c, int64_t t) {
    for (int guard = 0; guard < 100000 && c->len > 0 && c->fd >= 0; guard++) {
        char *p = c->buf + c->start;
        char *eoh = memmem(p, c->len, "\r\n\r\n", 4);
        if (!eoh) return c->len > MAX_HEAD ? -1 : 0;
        size_t head_len = (size_t)(eoh - p) + 4;
        char method[8] = {0};
        char *sp1 = memchr(p, ' ', head_len);
        if (!sp1 || sp1 - p >= (long)sizeof method) return -1;
        memcpy(method, p, (size_t)(sp1 - p));
        char *path = sp1 + 1;
        char *sp2 = memchr(path, ' ', head_len - (size_t)(path - p));
        if (!sp2) return -1;
        size_t path_len = (size_t)(sp2 - path);
        size_t vlen = 0, body_len = 0, consumed;
        const char *te = header_value(p, head_len, "Transfer-Encoding", &vlen);
        if (te && vlen == 7 && strncasecmp(te, "chunked", 7) == 0) {
            long used = dechunk(p + head_len, c->len - head_len, &body_len);
            if (used < 0) return -1;
            if (used == 0) return c->len > MAX_BODY ? -1 : 0;
            consumed = head_len + (size_t)used;
        } else {
            const char *cl = header_value(p, head_len, "Content-Length", &vlen);
            if (cl) body_len = strtoul(cl, NULL, 10);
            if (body_len > MAX_BODY) return -1;
            if (c->len < head_len + body_len) {
                const char *ex = header_value(p, head_len, "Expect", &vlen);
                if (ex && !c->sent_continue && vlen == 12 && strncasecmp(ex, "100-continue", 12) == 0) {
                    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                    if (write_str(c->fd, cont, sizeof cont - 1, NULL, 0) != 0) return -1;
                    c->sent_continue = 1;
                }
                return 0;
            }
            consumed = head_len + body_len;
        }
        c->sent_continue = 0;
        handle_request(c, method, path, path_len, p, head_len, p + head_len, body_len, t);
        c->start += consumed;
        c->len -= consumed;
        if (c->len == 0) c->start = 0;
        if (finished) return 0;
    }
    return 0;
}

static void on_readable(Conn *c) {
    for (int guard = 0; guard < 10000; guard++) {
        if (c->start > 0 && c->start + c->len + 65536 > c->cap) {
            memmove(c->buf, c->buf + c->start, c->len);
            c->start = 0;
        }
        if (c->start + c->len + 65536 > c->cap) {
            size_t ncap = c->cap ? c->cap * 2 : 262144;
            for (int g = 0; g < 64 && ncap < c->start + c->len + 65536; g++) ncap *= 2;
            char *nb = realloc(c->buf, ncap);
            if (!nb) die("out of memory");
            c->buf = nb;
            c->cap = ncap;
        }
        ssize_t n = read(c->fd, c->buf + c->start + c->len, c->cap - c->start - c->len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            close_conn(c);
            return;
        }
        if (n == 0) {
            close_conn(c);
            return;
        }
        int64_t t = now_ns();
        c->len += (size_t)n;
        if (process(c, t) < 0) {
            close_conn(c);
            return;
        }
        if (finished) return;
    }
}

static void accept_all(int lfd) {
    for (int guard = 0; guard < MAX_CONNS; guard++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        Conn *c = conn_of(-1);
        if (!c) {
            close(fd);
            continue;
        }
        memset(c, 0, sizeof *c);
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) die("cannot read %s", path);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static const char *cpu_stub = NULL, *cpu_child = NULL;

static int serve(char **argv, int cmd_index, const char *out_path, const char *cwd, long timeout_ms) {
    cpu_set_t set;
    if (cpu_stub) {
        if (!parse_cpus(cpu_stub, &set) || sched_setaffinity(0, sizeof set, &set) != 0) die("bad --cpu-stub %s", cpu_stub);
    }
    invs = calloc((size_t)n_invocations + 1, sizeof *invs);
    if (!invs) die("out of memory");
    for (int i = 0; i < MAX_CONNS; i++) conns[i].fd = -1;

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 64) != 0) die("bind/listen: %s", strerror(errno));
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    int port = ntohs(addr.sin_port);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);

    /* The child writes its pre-exec timestamp here. */
    int64_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) die("mmap");
    shared[0] = 0;
    char api[64];
    snprintf(api, sizeof api, "127.0.0.1:%d", port);
    fflush(NULL);
    child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        setenv("AWS_LAMBDA_RUNTIME_API", api, 1);
        if (cwd && chdir(cwd) != 0) _exit(126);
        if (cpu_child && (!parse_cpus(cpu_child, &set) || sched_setaffinity(0, sizeof set, &set) != 0)) _exit(125);
        shared[0] = now_ns();
        execvp(argv[cmd_index], argv + cmd_index);
        _exit(127);
    }

    int64_t t_end = now_ns() + (int64_t)timeout_ms * 1000000LL;
    struct epoll_event events[MAX_CONNS];
    int exited = 0, exit_status = 0;
    set_status("timeout", "no result within %ld ms (%ld of %ld invocations)", timeout_ms, dispatched, n_invocations);
    /* Bounded: every pass either makes progress or waits; the deadline ends it. */
    for (long pass = 0; !finished && pass < 100000000L; pass++) {
        int64_t t = now_ns();
        if (t >= t_end) {
            set_status("timeout", "no result within %ld ms (%ld of %ld invocations dispatched)", timeout_ms, dispatched, n_invocations);
            break;
        }
        int wait_ms = 50;
        if (ready_ns && pause_ns) {
            int64_t due = ready_ns + pause_ns - t;
            if (due <= 0) {
                maybe_dispatch(t);
                continue;
            }
            wait_ms = (int)(due / 1000000);
            if (wait_ms > 50) wait_ms = 50;
        }
        int n = epoll_wait(epfd, events, MAX_CONNS, wait_ms);
        if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        int saw_close = 0;
        for (int i = 0; i < n && !finished; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                accept_all(lfd);
                continue;
            }
            Conn *c = conn_of(fd);
            if (!c) continue;
            on_readable(c);
            if (c->fd < 0) saw_close = 1;
        }
        if (ready_ns && pause_ns && !finished) maybe_dispatch(now_ns());
        if (!finished && (n == 0 || saw_close)) {
            int st;
            if (waitpid(child, &st, WNOHANG) == child) {
                exited = 1;
                exit_status = st;
                set_status("child_exited", "the runtime exited (%s %d) after %ld of %ld invocations",
                           WIFEXITED(st) ? "code" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                           dispatched, n_invocations);
                break;
            }
        }
    }
    (void)exit_status;
    long vmrss = -1, vmhwm = -1;
    if (!exited) {
        vmrss = read_proc_status(child, "VmRSS");
        vmhwm = read_proc_status(child, "VmHWM");
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    FILE *out = out_path ? fopen(out_path, "w") : stdout;
    if (!out) die("cannot write %s", out_path);
    fprintf(out, "status %s %s\n", status, status_detail);
    int n_invoke = 0;
    for (int i = 0; i < n_exts; i++) n_invoke += exts[i].invoke;
    fprintf(out, "port %d\npid %d\nexec_ns %lld\nregister_ns %lld\nextensions %d %d\n", port, (int)child,
            (long long)shared[0], (long long)register_ns, n_exts, n_invoke);
    for (long k = 0; k < dispatched; k++)
        fprintf(out, "inv %ld %lld %lld %lld %lld %lld %d %zu\n", k + 1, (long long)invs[k].next_ns,
                (long long)invs[k].ready_ns, (long long)invs[k].write_ns, (long long)invs[k].dispatch_ns,
                (long long)invs[k].response_ns, invs[k].kind, invs[k].bytes);
    if (final_next_ns) fprintf(out, "final_next_ns %lld\n", (long long)final_next_ns);
    for (int i = 0; i < n_rss; i++)
        if (rss_vals[i][0] >= 0) fprintf(out, "rss %ld %ld %ld\n", rss_at[i], rss_vals[i][0], rss_vals[i][1]);
    fprintf(out, "rss_end %ld %ld\n", vmrss, vmhwm);
    fprintf(out, "child_cpu_ns %lld %lld\n", cpu_first, cpu_end);
    fprintf(out, "stub_cpu_us %lld %lld\n", (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
            (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec);
    if (out != stdout) fclose(out);
    return strcmp(status, "ok") == 0 ? 0 : 3;
}

/* ---- client mode: the C floor runtime ---------------------------------------------------------------------- */

static int read_response(int fd, char *buf, size_t cap, size_t *have, char *id, size_t idcap) {
    /* Reads one response (head + Content-Length body) that starts at buf[0]; leftover bytes stay in buf. */
    for (int guard = 0; guard < 1000000; guard++) {
        char *eoh = *have ? memmem(buf, *have, "\r\n\r\n", 4) : NULL;
        if (eoh) {
            size_t head_len = (size_t)(eoh - buf) + 4, vlen = 0, body = 0;
            const char *cl = header_value(buf, head_len, "Content-Length", &vlen);
            if (cl) body = strtoul(cl, NULL, 10);
            if (id) {
                const char *v = header_value(buf, head_len, "Lambda-Runtime-Aws-Request-Id", &vlen);
                if (!v || vlen + 1 > idcap) return -1;
                memcpy(id, v, vlen);
                id[vlen] = 0;
            }
            if (head_len + body > cap) return -1;
            if (*have >= head_len + body) {
                memmove(buf, buf + head_len + body, *have - head_len - body);
                *have -= head_len + body;
                return 0;
            }
        }
        if (*have >= cap) return -1;
        ssize_t n = read(fd, buf + *have, cap - *have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        *have += (size_t)n;
    }
    return -1;
}

static int client(void) {
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api) return 2;
    const char *colon = strrchr(api, ':');
    if (!colon) return 2;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return 2;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    size_t cap = 32 * 1024 * 1024, have = 0;
    char *buf = malloc(cap);
    char id[128], head[512];
    static const char next[] = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char body[] = "{\"ok\":true}";
    for (long i = 0; i < 100000000L; i++) {
        if (write_str(fd, next, sizeof next - 1, NULL, 0) != 0) return 0;
        if (read_response(fd, buf, cap, &have, id, sizeof id) != 0) return 0;
        int n = snprintf(head, sizeof head,
                         "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                         id, sizeof body - 1);
        if (write_str(fd, head, (size_t)n, body, sizeof body - 1) != 0) return 0;
        if (read_response(fd, buf, cap, &have, NULL, 0) != 0) return 0;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *out_path = NULL, *cwd = NULL, *event_path = NULL;
    long timeout_ms = 120000;
    int cmd_index = -1;
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--client") == 0) return client();
        if (strcmp(argv[i], "--") == 0) {
            cmd_index = i + 1;
            break;
        }
        if (i + 1 >= argc) die("missing value after %s", argv[i]);
        if (strcmp(argv[i], "-n") == 0) n_invocations = atol(argv[++i]);
        else if (strcmp(argv[i], "--out") == 0) out_path = argv[++i];
        else if (strcmp(argv[i], "--cwd") == 0) cwd = argv[++i];
        else if (strcmp(argv[i], "--event") == 0) event_path = argv[++i];
        else if (strcmp(argv[i], "--timeout-ms") == 0) timeout_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--cpu-stub") == 0) cpu_stub = argv[++i];
        else if (strcmp(argv[i], "--cpu-child") == 0) cpu_child = argv[++i];
        else if (strcmp(argv[i], "--pause-us") == 0) pause_ns = atoll(argv[++i]) * 1000LL;
        else if (strcmp(argv[i], "--rss-at") == 0) {
            if (n_rss >= MAX_RSS_POINTS) die("too many --rss-at");
            rss_at[n_rss] = atol(argv[++i]);
            rss_vals[n_rss][0] = rss_vals[n_rss][1] = -1;
            n_rss++;
        } else die("unknown option %s", argv[i]);
    }
    if (cmd_index < 0 || cmd_index >= argc) die("usage: stub [-n N] [--event FILE] [--out FILE] [--cwd DIR] -- command...");
    if (n_invocations < 1) die("-n must be >= 1");
    if (event_path) event_body = read_file(event_path, &event_len);
    else {
        event_body = strdup("{}");
        event_len = 2;
    }
    return serve(argv, cmd_index, out_path, cwd, timeout_ms);
}
