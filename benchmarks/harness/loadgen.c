/* The harness's load generator: every WebSocket client of one scenario in one epoll loop.
 *
 * Built by the Makefile (gcc, no dependency beyond libc): `make build/bench/loadgen`.
 * It is written in C so that it is never the bottleneck: a delivery costs it well under a
 * microsecond, where the servers it measures spend several (the harness reports its CPU in
 * every row and flags a row where it passes 80 % of its core).
 *
 * Roles:
 *   fanout   SUBS subscribers and one publisher (itself subscribed): the publisher keeps
 *            INFLIGHT numbered publishes unechoed (its own copy is the echo)
 *   latency  the same, the publisher at a fixed RATE per second; every delivery in the window
 *            gives a publish-to-deliver sample (from the publish's scheduled instant)
 *   idle     SUBS connections, handshaken (and subscribed) and then quiet
 * Dialects: bare (every frame is broadcast as is), socketio (Engine.IO 4 over a WebSocket:
 * 0 open / 40 connect / 2 ping -> 3 pong / 42[...] an event), canaux (v1: hello, welcome,
 * subscribe, ack, events with seq, ping -> pong).
 *
 * Every publish carries its number n; each client checks it receives 0, 1, 2 ... in order
 * (a publisher starts after every client is subscribed), and after the window it waits until
 * every client has every publish (at most --drain-max-s, or until none arrives for
 * --drain-idle-s): "missing" counts the holes (a publish skipped before a later one arrived:
 * lost), "pending" what had not arrived when the wait ended (still queued, or lost),
 * "duplicates" what came twice; canaux clients also check seq. In fanout, "in flight" is
 * counted against the slowest client.
 *
 * Protocol with the harness (benchmarks/harness/runner.py), one line each way:
 *   loadgen -> "ready"             every client connected (and subscribed)
 *   harness -> "go START END"      CLOCK_MONOTONIC nanoseconds: the measured window
 *   loadgen -> one JSON line       the results, then it exits
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum dialect { BARE, SOCKETIO, CANAUX };
enum role { FANOUT, LATENCY, IDLE };
enum state { CONNECTING, HANDSHAKE, OPEN, CLOSED };

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

typedef struct {
    int fd;
    int state;
    int ready;
    int is_pub;
    int want_out;
    buf_t in, out;
    int64_t last_n;    /* last publish number received, -1 before the first */
    int64_t received;  /* deliveries received in all */
    int64_t gaps;      /* publishes skipped */
    int64_t dups;      /* publishes received again or out of order */
    int64_t seq;       /* canaux: last seq */
    int64_t seq_gaps;
} conn_t;

static struct {
    const char *host, *path, *channel;
    int port, subs, payload, inflight, rate, dialect, role;
    double drain_idle_s, drain_max_s, ready_s, stall_s;
} opt = {"127.0.0.1", "/", "conformance.bench", 0, 10, 100, 100, 0, BARE, FANOUT, 10.0, 30.0,
         120.0, 30.0};

static conn_t *conns;
static int nconns, epfd;
static conn_t *pub;
static int64_t published, win_start = INT64_MAX, win_end = INT64_MAX, in_window;
static int64_t errors, closed_early, fragmented, last_progress, reads, wakeups;
static int64_t *samples;
static size_t nsamples, capsamples;
static char first_error[256];
static char *pad;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) die("out of memory");
    b->cap = cap;
}

static void buf_consume(buf_t *b, size_t n) {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static void watch(conn_t *c, int out) {
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    c->want_out = out;
}

static void lost(conn_t *c, const char *why) {
    if (c->state == CLOSED) return;
    if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", why);
    c->state = CLOSED;
    closed_early++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
}

/* Write what is queued; queue what the socket does not take (order is kept). */
static void flush_out(conn_t *c) {
    while (c->out.len) {
        ssize_t n = write(c->fd, c->out.data, c->out.len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            lost(c, "write failed");
            return;
        }
        buf_consume(&c->out, (size_t)n);
    }
    if (c->out.len && !c->want_out) watch(c, 1);
    if (!c->out.len && c->want_out) watch(c, 0);
}

/* One masked text frame (the mask key is zero: the payload goes out unchanged). */
static void send_text(conn_t *c, const char *text, size_t len) {
    if (c->state == CLOSED) return;
    buf_reserve(&c->out, len + 14);
    unsigned char *h = (unsigned char *)c->out.data + c->out.len;
    size_t hl;
    h[0] = 0x81;
    if (len < 126) {
        h[1] = 0x80 | (unsigned char)len;
        hl = 2;
    } else if (len < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    memset(h + hl, 0, 4);
    hl += 4;
    memcpy(h + hl, text, len);
    c->out.len += hl + len;
    if (!c->want_out) flush_out(c);
}

static void send_control(conn_t *c, int opcode, const char *payload, size_t len) {
    if (len > 125) len = 125;
    char frame[2 + 4 + 125];
    frame[0] = (char)(0x80 | opcode);
    frame[1] = (char)(0x80 | len);
    memset(frame + 2, 0, 4);
    memcpy(frame + 6, payload, len);
    buf_reserve(&c->out, 6 + len);
    memcpy(c->out.data + c->out.len, frame, 6 + len);
    c->out.len += 6 + len;
    if (!c->want_out) flush_out(c);
}

static void send_str(conn_t *c, const char *s) { send_text(c, s, strlen(s)); }

/* The value after the JSON key `"key"` (spaces and the colon skipped), or NULL. */
static const char *json_value(const char *s, size_t len, const char *key) {
    char pattern[64];
    int pl = snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *end = s + len, *p = s;
    while ((p = memmem(p, (size_t)(end - p), pattern, (size_t)pl)) != NULL) {
        const char *q = p + pl;
        while (q < end && (*q == ' ' || *q == '\t')) q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && (*q == ' ' || *q == '\t')) q++;
            return q;
        }
        p += pl;
    }
    return NULL;
}

static int json_is(const char *s, size_t len, const char *key, const char *value) {
    const char *v = json_value(s, len, key);
    size_t vl = strlen(value);
    return v && (size_t)(s + len - v) >= vl + 2 && v[0] == '"' && memcmp(v + 1, value, vl) == 0 &&
           v[vl + 1] == '"';
}

static void publish(int64_t t) {
    static char *frame;
    static size_t cap;
    size_t need = (size_t)opt.payload + 256;
    if (cap < need) {
        frame = realloc(frame, need);
        cap = need;
    }
    char data[160];
    int dl = snprintf(data, sizeof data, "{\"mark\":\"m%lld\",\"body\":{\"n\":%lld,\"t\":%lld},\"pad\":\"",
                      (long long)published, (long long)published, (long long)t);
    int padn = opt.payload - dl - 2; /* the data object is --payload bytes of JSON */
    if (padn < 0) padn = 0;
    size_t len = 0;
    if (opt.dialect == CANAUX)
        len = (size_t)snprintf(frame, cap, "{\"type\":\"publish\",\"id\":\"p%lld\",\"channel\":\"%s\",\"data\":",
                               (long long)published, opt.channel);
    else if (opt.dialect == SOCKETIO)
        len = (size_t)snprintf(frame, cap, "42[\"publish\",");
    memcpy(frame + len, data, (size_t)dl);
    len += (size_t)dl;
    memcpy(frame + len, pad, (size_t)padn);
    len += (size_t)padn;
    frame[len++] = '"';
    frame[len++] = '}';
    if (opt.dialect == CANAUX || opt.dialect == SOCKETIO) frame[len++] = opt.dialect == CANAUX ? '}' : ']';
    send_text(pub, frame, len);
    published++;
}

static void delivered(conn_t *c, const char *data, size_t len) {
    const char *body = json_value(data, len, "body");
    if (!body) return;
    size_t rest = (size_t)(data + len - body);
    const char *nv = json_value(body, rest, "n"), *tv = json_value(body, rest, "t");
    if (!nv || !tv) {
        errors++;
        return;
    }
    int64_t n = strtoll(nv, NULL, 10), t = strtoll(tv, NULL, 10);
    int64_t now = now_ns();
    if (n <= c->last_n) {
        c->dups++;
        return;
    }
    c->gaps += n - c->last_n - 1;
    c->last_n = n;
    c->received++;
    last_progress = now;
    if (c->is_pub) return;
    if (now >= win_start && now < win_end) {
        in_window++;
        if (opt.role == LATENCY) {
            if (nsamples == capsamples) {
                capsamples = capsamples ? capsamples * 2 : 65536;
                samples = realloc(samples, capsamples * sizeof *samples);
                if (!samples) die("out of memory");
            }
            samples[nsamples++] = now - t;
        }
    }
}

static void on_text(conn_t *c, const char *s, size_t len) {
    if (opt.dialect == BARE) {
        delivered(c, s, len);
    } else if (opt.dialect == SOCKETIO) {
        if (len >= 2 && s[0] == '4' && s[1] == '2') {
            if (len >= 11 && memcmp(s + 2, "[\"event\"", 8) == 0) delivered(c, s + 10, len - 10);
        } else if (len == 1 && s[0] == '2') {
            send_str(c, "3");
        } else if (len >= 2 && s[0] == '4' && s[1] == '0') {
            c->ready = 1;
        } else if (len >= 1 && s[0] == '0') {
            send_str(c, "40");
        } else if (len >= 2 && s[0] == '4' && s[1] == '4') {
            errors++;
            if (!first_error[0]) snprintf(first_error, sizeof first_error, "%.*s", (int)(len < 200 ? len : 200), s);
        }
    } else {
        if (json_is(s, len, "type", "event")) {
            const char *sv = json_value(s, len, "seq");
            if (sv) {
                int64_t seq = strtoll(sv, NULL, 10);
                if (seq != c->seq + 1) c->seq_gaps++;
                c->seq = seq;
            }
            const char *d = json_value(s, len, "data");
            if (d) delivered(c, d, (size_t)(s + len - d));
        } else if (json_is(s, len, "type", "ack")) {
            if (json_is(s, len, "id", "sub")) c->ready = 1;
        } else if (json_is(s, len, "type", "ping")) {
            const char *nv = json_value(s, len, "nonce");
            char pong[200];
            if (nv && *nv == '"') {
                const char *e = memchr(nv + 1, '"', (size_t)(s + len - nv - 1));
                int nl = e ? (int)(e - nv + 1) : 2;
                snprintf(pong, sizeof pong, "{\"type\":\"pong\",\"nonce\":%.*s}", nl < 150 ? nl : 2, nl < 150 ? nv : "\"\"");
            } else {
                snprintf(pong, sizeof pong, "{\"type\":\"pong\"}");
            }
            send_str(c, pong);
        } else if (json_is(s, len, "type", "welcome")) {
            char sub[200];
            snprintf(sub, sizeof sub, "{\"type\":\"subscribe\",\"id\":\"sub\",\"channel\":\"%s\"}", opt.channel);
            send_str(c, sub);
        } else if (json_is(s, len, "type", "error")) {
            errors++;
            if (!first_error[0]) snprintf(first_error, sizeof first_error, "%.*s", (int)(len < 200 ? len : 200), s);
        }
    }
}

static void on_frames(conn_t *c) {
    size_t off = 0;
    while (c->in.len - off >= 2) {
        unsigned char *h = (unsigned char *)c->in.data + off;
        size_t avail = c->in.len - off, hl = 2;
        uint64_t len = h[1] & 0x7f;
        if (len == 126) {
            if (avail < 4) break;
            len = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | h[2 + i];
            hl = 10;
        }
        if (h[1] & 0x80) hl += 4; /* a server never masks; tolerate it anyway (unmasked below) */
        if (avail < hl + len) break;
        char *payload = (char *)h + hl;
        if (h[1] & 0x80)
            for (uint64_t i = 0; i < len; i++) payload[i] ^= (char)h[hl - 4 + (i & 3)];
        int opcode = h[0] & 0x0f, fin = h[0] & 0x80;
        if (!fin || opcode == 0) fragmented++;
        if (opcode == 1 && fin) on_text(c, payload, (size_t)len);
        else if (opcode == 9) send_control(c, 10, payload, (size_t)len);
        else if (opcode == 8) {
            lost(c, "closed by the server");
            return;
        }
        off += hl + len;
    }
    if (off) buf_consume(&c->in, off);
}

static void on_handshake(conn_t *c) {
    char *end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
    if (!end) return;
    if (c->in.len < 12 || memcmp(c->in.data, "HTTP/1.1 101", 12) != 0) {
        char line[120];
        snprintf(line, sizeof line, "handshake refused: %.*s", (int)strcspn(c->in.data, "\r\n") % 100, c->in.data);
        lost(c, line);
        return;
    }
    buf_consume(&c->in, (size_t)(end + 4 - c->in.data));
    c->state = OPEN;
    if (opt.dialect == BARE) c->ready = 1;
    if (opt.dialect == CANAUX) send_str(c, "{\"type\":\"hello\",\"version\":1}");
    on_frames(c);
}

static void on_readable(conn_t *c) {
    for (;;) {
        buf_reserve(&c->in, 65536);
        ssize_t n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
        if (now_ns() >= win_start && now_ns() < win_end) reads++;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            lost(c, "read failed");
            return;
        }
        if (n == 0) {
            lost(c, "connection closed by the server");
            return;
        }
        c->in.len += (size_t)n;
        if (c->state == HANDSHAKE) on_handshake(c);
        else on_frames(c);
        if (c->state == CLOSED || (size_t)n < 65536) return;
    }
}

static void start_connect(conn_t *c) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) die("bad host %s", opt.host);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) die("socket: %s (raise ulimit -n)", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
        die("connect: %s", strerror(errno));
    c->state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->want_out = 1;
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void on_connected(conn_t *c) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        lost(c, "connect failed");
        return;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     opt.path, opt.host, opt.port,
                     opt.dialect == CANAUX ? "Sec-WebSocket-Protocol: canaux.v1\r\n" : "");
    c->state = HANDSHAKE;
    buf_reserve(&c->out, (size_t)n);
    memcpy(c->out.data, req, (size_t)n);
    c->out.len = (size_t)n;
    watch(c, 0);
    flush_out(c);
}

static void on_event(struct epoll_event *ev) {
    conn_t *c = ev->data.ptr;
    if (c->state == CLOSED) return;
    if (c->state == CONNECTING) {
        if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
        return;
    }
    if (ev->events & EPOLLOUT) flush_out(c);
    if (c->state != CLOSED && (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c);
}

/* Run the loop until `deadline` (ns) or until stop() says so; `pace` runs every pass. */
static void loop_until(int64_t deadline, int (*stop)(void), void (*pace)(int64_t *next)) {
    struct epoll_event evs[512];
    for (;;) {
        int64_t now = now_ns(), next = deadline;
        if (now >= deadline || (stop && stop())) return;
        if (pace) pace(&next);
        now = now_ns();
        int timeout = next <= now ? 0 : (int)((next - now) / 1000000) + 1;
        if (timeout > 100) timeout = 100;
        int n = epoll_wait(epfd, evs, 512, timeout);
        if (now >= win_start && now < win_end) wakeups++;
        if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) on_event(&evs[i]);
    }
}

static int opened, nready, most_ready;
static int64_t last_ready_ns;

static int all_ready(void) {
    int ready = 0, pending = 0;
    for (int i = 0; i < opened; i++) {
        if (conns[i].state == CLOSED)
            die("client %d lost before ready (%d of %d ready): %s", i, ready, nconns, first_error);
        if (conns[i].ready) ready++;
        else pending++;
    }
    nready = ready;
    if (ready > most_ready) {
        most_ready = ready;
        last_ready_ns = now_ns();
    }
    /* Keep at most 256 handshakes under way, so a server's accept queue never overflows. */
    while (opened < nconns && pending < 256) {
        start_connect(&conns[opened++]);
        pending++;
    }
    return ready == nconns;
}

/* Stop waiting when every client is ready, or when none has become ready for --stall-s. */
static int ready_or_stalled(void) {
    return all_ready() || now_ns() - last_ready_ns > (int64_t)(opt.stall_s * 1e9);
}

static int64_t next_publish;

static void pace_publisher(int64_t *next) {
    int64_t now = now_ns();
    if (now >= win_end || pub->state == CLOSED) return;
    if (opt.rate > 0) {
        int64_t interval = 1000000000 / opt.rate;
        while (next_publish <= now) {
            publish(next_publish); /* stamped with its scheduled instant: lateness counts */
            next_publish += interval;
        }
        if (next_publish < *next) *next = next_publish;
    } else {
        /* In flight: published and not yet received by the slowest client (the publisher's own
         * copy alone would let a server that serves it first queue without bound). */
        int64_t slowest = INT64_MAX;
        for (int i = 0; i < nconns; i++)
            if (conns[i].state != CLOSED && conns[i].last_n < slowest) slowest = conns[i].last_n;
        while (published - (slowest + 1) < opt.inflight) publish(now);
    }
}

static int all_delivered(void) {
    for (int i = 0; i < nconns; i++)
        if (conns[i].state != CLOSED && conns[i].last_n + 1 < published) return 0;
    return 1;
}

static int64_t drain_deadline_idle;
static int drained_or_stuck(void) {
    if (all_delivered()) return 1;
    return now_ns() - last_progress > drain_deadline_idle;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct(double q) {
    if (!nsamples) return -1;
    size_t i = (size_t)(q * (double)(nsamples - 1) + 0.5);
    if (i >= nsamples) i = nsamples - 1;
    return samples[i] / 1e6;
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen --port P [--host H] [--path /] --dialect bare|socketio|canaux\n"
            "               --role fanout|latency|idle [--subs N] [--payload BYTES]\n"
            "               [--inflight K | --rate R] [--channel NAME] [--drain-idle-s S]\n"
            "               [--drain-max-s S] [--ready-s S] [--stall-s S]\n"
            "  --ready-s S   at most S seconds for every client to be ready (default 120)\n"
            "  --stall-s S   give up sooner when no client became ready for S s (default 30)\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--port")) opt.port = atoi(v);
        else if (!strcmp(a, "--path")) opt.path = v;
        else if (!strcmp(a, "--channel")) opt.channel = v;
        else if (!strcmp(a, "--subs")) opt.subs = atoi(v);
        else if (!strcmp(a, "--payload")) opt.payload = atoi(v);
        else if (!strcmp(a, "--inflight")) opt.inflight = atoi(v);
        else if (!strcmp(a, "--rate")) opt.rate = atoi(v);
        else if (!strcmp(a, "--drain-idle-s")) opt.drain_idle_s = atof(v);
        else if (!strcmp(a, "--drain-max-s")) opt.drain_max_s = atof(v);
        else if (!strcmp(a, "--ready-s")) opt.ready_s = atof(v);
        else if (!strcmp(a, "--stall-s")) opt.stall_s = atof(v);
        else if (!strcmp(a, "--dialect"))
            opt.dialect = !strcmp(v, "bare") ? BARE : !strcmp(v, "socketio") ? SOCKETIO : !strcmp(v, "canaux") ? CANAUX : -1;
        else if (!strcmp(a, "--role"))
            opt.role = !strcmp(v, "fanout") ? FANOUT : !strcmp(v, "latency") ? LATENCY : !strcmp(v, "idle") ? IDLE : -1;
        else usage();
        i++;
    }
    if (!opt.port || opt.dialect < 0 || opt.role < 0 || opt.subs < 1) usage();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    pad = malloc((size_t)opt.payload + 1);
    memset(pad, 'x', (size_t)opt.payload);
    nconns = opt.subs + (opt.role == IDLE ? 0 : 1);
    conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++) conns[i].last_n = -1;
    if (opt.role != IDLE) {
        pub = &conns[nconns - 1];
        pub->is_pub = 1;
    }
    epfd = epoll_create1(0);
    int64_t t0 = now_ns();
    last_ready_ns = t0;
    loop_until(t0 + (int64_t)(opt.ready_s * 1e9), ready_or_stalled, NULL);
    if (!all_ready()) {
        double took = (double)(now_ns() - t0) / 1e9;
        if (now_ns() - last_ready_ns > (int64_t)(opt.stall_s * 1e9))
            die("clients not ready: %d of %d after %.0f s, none more in the last %.0f s "
                "(%.0f handshakes/s while it progressed)", nready, nconns, took, opt.stall_s,
                (double)most_ready / ((double)(last_ready_ns - t0) / 1e9 + 1e-9));
        die("clients not ready in %.0f s: %d of %d (%.0f handshakes/s)", opt.ready_s, nready,
            nconns, (double)nready / took);
    }
    printf("ready\n");
    fflush(stdout);

    /* Keep serving (pings) while the harness decides; it answers one line. */
    char line[128];
    int fl = fcntl(0, F_GETFL);
    fcntl(0, F_SETFL, fl | O_NONBLOCK);
    size_t ll = 0;
    for (;;) {
        ssize_t n = read(0, line + ll, sizeof line - 1 - ll);
        if (n > 0) ll += (size_t)n;
        if (n == 0) die("stdin closed before go");
        line[ll] = 0;
        if (strchr(line, '\n')) break;
        loop_until(now_ns() + 5000000, NULL, NULL);
    }
    long long s, e;
    if (sscanf(line, "go %lld %lld", &s, &e) != 2) die("expected 'go START END', got %s", line);
    win_start = s;
    win_end = e;

    double cpu0 = 0, cpu1 = 0;
    int64_t warm = win_start - 500000000; /* publishing starts half a second early: steady state */
    loop_until(warm, NULL, NULL);
    next_publish = now_ns();
    if (opt.role == IDLE) {
        loop_until(win_start, NULL, NULL);
        cpu0 = cpu_s();
        loop_until(win_end, NULL, NULL);
        cpu1 = cpu_s();
    } else {
        loop_until(win_start, NULL, pace_publisher);
        cpu0 = cpu_s();
        loop_until(win_end, NULL, pace_publisher);
        cpu1 = cpu_s();
    }
    int64_t drain0 = now_ns();
    last_progress = drain0;
    drain_deadline_idle = (int64_t)(opt.drain_idle_s * 1e9);
    if (opt.role != IDLE) loop_until(drain0 + (int64_t)(opt.drain_max_s * 1e9), drained_or_stuck, NULL);
    double drain_s = (now_ns() - drain0) / 1e9;

    int64_t missing = 0, pending = 0, dups = 0, seq_gaps = 0, open_at_end = 0;
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        if (c->state != CLOSED) open_at_end++;
        /* A hole before a later publish is lost; the tail may still be queued in the server. */
        missing += c->gaps;
        if (opt.role != IDLE) pending += published - (c->last_n + 1);
        dups += c->dups;
        seq_gaps += c->seq_gaps;
    }
    if (nsamples) qsort(samples, nsamples, sizeof *samples, cmp64);
    printf("{\"role\":\"%s\",\"subscribers\":%d,\"published\":%lld,\"deliveries_in_window\":%lld,"
           "\"window_s\":%.6f,\"cpu_s\":%.6f,\"missing\":%lld,\"pending\":%lld,\"duplicates\":%lld,\"seq_gaps\":%lld,"
           "\"reads\":%lld,\"wakeups\":%lld,\"errors\":%lld,\"closed\":%lld,\"open_at_end\":%lld,\"fragmented\":%lld,\"drain_s\":%.3f,"
           "\"samples\":%zu,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"p999_ms\":%.4f,\"max_ms\":%.4f,"
           "\"first_error\":\"",
           opt.role == FANOUT ? "fanout" : opt.role == LATENCY ? "latency" : "idle", opt.subs,
           (long long)published, (long long)in_window, (win_end - win_start) / 1e9, cpu1 - cpu0,
           (long long)missing, (long long)pending, (long long)dups, (long long)seq_gaps, (long long)reads, (long long)wakeups,
           (long long)errors,
           (long long)closed_early, (long long)open_at_end, (long long)fragmented, drain_s, nsamples,
           pct(0.5), pct(0.99), pct(0.999), nsamples ? samples[nsamples - 1] / 1e6 : -1.0);
    for (const char *p = first_error; *p; p++)
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if ((unsigned char)*p >= 0x20) putchar(*p);
    printf("\"}\n");
    fflush(stdout);
    for (int i = 0; i < nconns; i++)
        if (conns[i].state != CLOSED) close(conns[i].fd);
    return 0;
}
