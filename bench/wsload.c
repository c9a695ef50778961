/*
 * wsload: the benchmark's load client. A WebSocket client written for speed
 * so that the server, not the client, is what a figure measures: no
 * allocation per message, frames built into one buffer and sent with one
 * write, epoll for many connections. It reports its own CPU time with every
 * figure so readers can check it was not the bottleneck.
 *
 * Built by bench/bench.ts with `cc -O2`. Usage:
 *   wsload MODE --port=P [options]     prints one JSON line on stdout
 * Modes:
 *   connect   --conc=C --seconds=S --warmup-seconds=S [--server-pid=P]
 *             connects/s (first message = connected), the first message's latency
 *             from TCP connect start (p50/p90/p99), the handshakes answered over the
 *             whole run (upgrades_total: programs started, warm-up included), and
 *             with --server-pid the server's CPU per connection from /proc/P/stat
 *             read at the start and end of the measured window: utime+stime (the
 *             server) and cutime+cstime (the programs it reaped meanwhile; at 50
 *             concurrent the window's edges make this one noisy, see bench.ts)
 *   output    --expect=N                        read every message until close
 *   echo      --count=N --warmup=N --size=B [--idle=N --idle-conc=C]
 *             one message at a time, latency; with --idle, N idle sessions
 *             (each echoed once to prove it open) are held open beside it
 *   burst     --burst=N --bursts=K --interval-us=U --size=B --warmup=N
 *             one live session echoes one message every U us while N
 *             handshakes arrive at once, K times; latency of each echo from
 *             when it was due (a reply late because the previous one was late
 *             counts from its due time, so a stall is not hidden), measured
 *             from the burst's first connect until its last 101
 *   pipeline  --count=N --window=W --size=B     W messages in flight
 *   input     --count=N --size=B --server-pid=P --child=COMM
 *             sends N messages, done when the child has read them all
 *             (its rchar in /proc/PID/io), so nothing buffered counts
 *   hold      --levels=L1,L2,.. --conc=C --size=B [--wait]
 *             --timeout=S --timeout-per-session=S
 *             opens sessions level by level; each echoes once when opened and
 *             once more when the level is reached; prints "STEP {json}" per level
 *             and, with --wait, "READY" and then holds until stdin closes.
 *             A level fails unless its new sessions open within
 *             S + per-session * new sessions, and all echo within S.
 *   fanout    --conns=N --file=F --size=B --lat-rate=R --lat-seconds=S --rate=R
 *             --seconds=S [--stall=1 --stall-seconds=S] --warmup-seconds=S [--wait]
 *             --timeout=S --timeout-per-session=S
 *             N clients (N-1 reading, one stopped with --stall) of a server whose program
 *             follows F; a writer thread appends numbered lines stamped with their write
 *             time. Latency per (line, client) pair at --lat-rate; delivered messages/s
 *             at --rate, without and with one client that never reads after its
 *             handshake; what that client got and how its connection ended. See the
 *             section's comment below. With --wait, "READY" once every client is live
 *             and idle, then waits for a line on stdin.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* ---------- options ---------- */

static struct {
  const char *host;
  int port;
  int conc;
  double seconds, warmup_s;
  long count, warmup, expect, size, window;
  int server_pid;
  const char *child;
  char levels[256];
  int wait;
  double timeout_s, timeout_per;
  long idle, idle_conc, burst, bursts, interval_us;
  long conns, lat_rate, rate;
  double lat_seconds, idle_timeout, grace_s, stall_seconds;
  const char *file;
  int stall;
} opt = {"127.0.0.1", 0, 1, 5, 0.5, 10000, 100, -1, 16, 100, 0, "wc", "1000", 0, 60, 0.04,
         0, 32, 200, 3, 1000, 1000, 50, 2000, 5, 5, 2, 5, NULL, 0};

static const char *arg_value(const char *a, const char *name) {
  size_t n = strlen(name);
  return strncmp(a, name, n) == 0 && a[n] == '=' ? a + n + 1 : NULL;
}

static void parse_args(int argc, char **argv) {
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v;
    if ((v = arg_value(a, "--host"))) opt.host = v;
    else if ((v = arg_value(a, "--port"))) opt.port = atoi(v);
    else if ((v = arg_value(a, "--conc"))) opt.conc = atoi(v);
    else if ((v = arg_value(a, "--seconds"))) opt.seconds = atof(v);
    else if ((v = arg_value(a, "--warmup-seconds"))) opt.warmup_s = atof(v);
    else if ((v = arg_value(a, "--count"))) opt.count = atol(v);
    else if ((v = arg_value(a, "--warmup"))) opt.warmup = atol(v);
    else if ((v = arg_value(a, "--expect"))) opt.expect = atol(v);
    else if ((v = arg_value(a, "--size"))) opt.size = atol(v);
    else if ((v = arg_value(a, "--window"))) opt.window = atol(v);
    else if ((v = arg_value(a, "--server-pid"))) opt.server_pid = atoi(v);
    else if ((v = arg_value(a, "--child"))) opt.child = v;
    else if ((v = arg_value(a, "--levels"))) snprintf(opt.levels, sizeof opt.levels, "%s", v);
    else if ((v = arg_value(a, "--timeout"))) opt.timeout_s = atof(v);
    else if ((v = arg_value(a, "--timeout-per-session"))) opt.timeout_per = atof(v);
    else if ((v = arg_value(a, "--idle"))) opt.idle = atol(v);
    else if ((v = arg_value(a, "--idle-conc"))) opt.idle_conc = atol(v);
    else if ((v = arg_value(a, "--burst"))) opt.burst = atol(v);
    else if ((v = arg_value(a, "--bursts"))) opt.bursts = atol(v);
    else if ((v = arg_value(a, "--interval-us"))) opt.interval_us = atol(v);
    else if ((v = arg_value(a, "--conns"))) opt.conns = atol(v);
    else if ((v = arg_value(a, "--file"))) opt.file = v;
    else if ((v = arg_value(a, "--lat-rate"))) opt.lat_rate = atol(v);
    else if ((v = arg_value(a, "--lat-seconds"))) opt.lat_seconds = atof(v);
    else if ((v = arg_value(a, "--rate"))) opt.rate = atol(v);
    else if ((v = arg_value(a, "--idle-timeout"))) opt.idle_timeout = atof(v);
    else if ((v = arg_value(a, "--stall"))) opt.stall = atoi(v);
    else if ((v = arg_value(a, "--grace"))) opt.grace_s = atof(v);
    else if ((v = arg_value(a, "--stall-seconds"))) opt.stall_seconds = atof(v);
    else if (strcmp(a, "--wait") == 0) opt.wait = 1;
    else {
      fprintf(stderr, "wsload: unknown option %s\n", a);
      exit(2);
    }
  }
  if (opt.port <= 0) {
    fprintf(stderr, "wsload: --port is required\n");
    exit(2);
  }
}

/* ---------- clocks ---------- */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* user + system CPU of this process, so every figure can show the client's share */
static double cpu_s(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6 +
         (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec / 1e6;
}

static void sleep_s(double s) {
  struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&t, NULL);
}

/* A server that writes one frame per syscall would otherwise wake us once
 * per message and make the client burn a core on read(2) calls. After a small
 * read we pause 50 us so the kernel gathers more; the server never waits on us
 * (its socket buffer has room) and a batching server's big reads skip the pause. */
static void nap_if_small(ssize_t got) {
  if (got < 2048) {
    struct timespec t = {0, 50000};
    nanosleep(&t, NULL);
  }
}

static void die(const char *what) {
  printf("{\"error\":\"%s: %s\"}\n", what, strerror(errno));
  fflush(stdout);
  exit(1);
}

static void fail(const char *what) {
  printf("{\"error\":\"%s\"}\n", what);
  fflush(stdout);
  exit(1);
}

/* ---------- frames ---------- */

static uint32_t rng = 0x9e3779b9u;
/* masks must vary per frame (RFC 6455 §5.3); xorshift is plenty for a load client */
static uint32_t next_mask(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* writes one masked client frame at out; returns its length */
static size_t put_frame(unsigned char *out, int op, const unsigned char *pl, size_t len) {
  size_t h = 2;
  out[0] = (unsigned char)(0x80 | op);
  if (len < 126) out[1] = (unsigned char)(0x80 | len);
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
    h = 4;
  } else {
    out[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    h = 10;
  }
  uint32_t m = next_mask();
  unsigned char mk[4] = {(unsigned char)m, (unsigned char)(m >> 8), (unsigned char)(m >> 16),
                         (unsigned char)(m >> 24)};
  memcpy(out + h, mk, 4);
  h += 4;
  for (size_t i = 0; i < len; i++) out[h + i] = pl[i] ^ mk[i & 3];
  return h + len;
}

static const unsigned char close_payload[2] = {0x03, 0xe8}; /* 1000 */

/* Incremental reader of server frames. It counts messages and payload bytes
 * without copying: payloads are skipped as they stream past. */
typedef struct {
  uint64_t msgs, bytes;
  int closed;
  uint64_t skip; /* payload bytes of the current data frame still to come */
  int skip_fin;
  int pong_len; /* a pong we owe, already framed */
  unsigned char pong[140];
} rx_t;

/* consumes complete items from p[0..n); returns bytes consumed */
static size_t rx_parse(rx_t *st, const unsigned char *p, size_t n) {
  size_t off = 0;
  for (;;) {
    if (st->skip) {
      size_t take = n - off < st->skip ? n - off : (size_t)st->skip;
      off += take;
      st->skip -= take;
      st->bytes += take;
      if (st->skip) return off;
      if (st->skip_fin) st->msgs++;
      continue;
    }
    if (n - off < 2) return off;
    unsigned b0 = p[off], b1 = p[off + 1];
    uint64_t len = b1 & 0x7f;
    size_t h = 2;
    if (len == 126) {
      if (n - off < 4) return off;
      len = ((uint64_t)p[off + 2] << 8) | p[off + 3];
      h = 4;
    } else if (len == 127) {
      if (n - off < 10) return off;
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | p[off + 2 + i];
      h = 10;
    }
    if (b1 & 0x80) h += 4; /* servers must not mask, but skip a mask if one comes */
    if (n - off < h) return off;
    int op = b0 & 0x0f;
    if (op >= 8) {
      if (n - off < h + len) return off;
      if (op == 8) st->closed = 1;
      else if (op == 9 && len <= 125) st->pong_len = (int)put_frame(st->pong, 0xA, p + off + h, len);
      off += h + len;
      continue;
    }
    off += h;
    if (len == 0) {
      if (b0 & 0x80) st->msgs++;
      continue;
    }
    st->skip = len;
    st->skip_fin = (b0 & 0x80) != 0;
  }
}

/* ---------- connections ---------- */

static struct sockaddr_in server_addr;
static char request[512];
static size_t request_len;

static void setup_target(void) {
  memset(&server_addr, 0, sizeof server_addr);
  server_addr.sin_family = AF_INET;
  server_addr.sin_port = htons((uint16_t)opt.port);
  if (inet_pton(AF_INET, opt.host, &server_addr.sin_addr) != 1) fail("bad --host");
  /* a fixed key is fine: the server computes the accept value either way */
  request_len = (size_t)snprintf(request, sizeof request,
                                 "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                 "Sec-WebSocket-Version: 13\r\n\r\n",
                                 opt.host, opt.port);
}

static int open_socket(int nonblock) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  int one = 1;
  /* small messages must leave at once, as a browser's would */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

/* sockets and files alike: SIGPIPE is ignored (main), so a closed peer is EPIPE here */
static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Looks for the end of the 101 response in buf[0..n). Returns the header
 * length, 0 when incomplete, -1 when the server refused. */
static long response_end(const unsigned char *buf, size_t n) {
  const unsigned char *e = memmem(buf, n, "\r\n\r\n", 4);
  if (!e) return 0;
  if (n < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0) return -1;
  return (long)(e - buf) + 4;
}

/* read buffer of the single-session modes; holds at most one partial frame between reads */
static unsigned char rbuf[1 << 20];
static size_t rfill;

/* Blocking connect + handshake. Bytes after the response go to rx. */
static int connect_blocking(rx_t *rx) {
  int fd = open_socket(0);
  if (fd < 0) die("connect");
  if (write_all(fd, (const unsigned char *)request, request_len) < 0) die("send handshake");
  unsigned char buf[4096];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof buf - n);
    if (r <= 0) fail("handshake: connection closed");
    n += (size_t)r;
    long end = response_end(buf, n);
    if (end < 0) fail("handshake refused");
    if (end > 0) {
      memset(rx, 0, sizeof *rx);
      /* frames that came with the response: a partial one waits in rbuf for the rest */
      size_t used = (size_t)end + rx_parse(rx, buf + end, n - (size_t)end);
      memcpy(rbuf, buf + used, n - used);
      rfill = n - used;
      return fd;
    }
    if (n == sizeof buf) fail("handshake response too long");
  }
}

static void send_pong_if_owed(int fd, rx_t *rx) {
  if (rx->pong_len) {
    write_all(fd, rx->pong, (size_t)rx->pong_len);
    rx->pong_len = 0;
  }
}

/* Reads until rx has at least `want` messages (or the close frame). */
/* One read from fd, parsed into rx (a pong owed is sent); returns read()'s result. */
static ssize_t read_some(int fd, rx_t *rx) {
  ssize_t r = read(fd, rbuf + rfill, sizeof rbuf - rfill);
  if (r <= 0) return r;
  rfill += (size_t)r;
  size_t used = rx_parse(rx, rbuf, rfill);
  memmove(rbuf, rbuf + used, rfill - used);
  rfill -= used;
  send_pong_if_owed(fd, rx);
  return r;
}

static int read_until(int fd, rx_t *rx, uint64_t want) {
  while (rx->msgs < want && !rx->closed) {
    ssize_t r = read_some(fd, rx);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
  }
  return rx->closed && rx->msgs < want ? -1 : 0;
}

static void close_session(int fd) {
  unsigned char f[16];
  size_t n = put_frame(f, 0x8, close_payload, 2);
  write_all(fd, f, n);
  close(fd);
}

static void print_cpu(double cpu, double wall) {
  printf("\"client_cpu_s\":%.4f,\"wall_s\":%.4f,\"client_cpu_pct\":%.1f", cpu, wall,
         wall > 0 ? 100.0 * cpu / wall : 0.0);
}

/* ---------- output: one session, count every message until the close frame ---------- */

static int mode_output(void) {
  double t0 = now_s(), c0 = cpu_s();
  rx_t rx;
  int fd = connect_blocking(&rx);
  double first = 0, last = now_s();
  uint64_t seen = rx.msgs;
  for (;;) {
    if (rx.closed) break;
    ssize_t r = read_some(fd, &rx);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    nap_if_small(r);
    if (rx.msgs != seen) {
      last = now_s();
      if (seen == 0) first = last;
      seen = rx.msgs;
    }
  }
  double cpu = cpu_s() - c0, wall = last - t0;
  close_session(fd);
  if (opt.expect >= 0 && (long)rx.msgs != opt.expect) {
    printf("{\"error\":\"expected %ld messages, got %llu\"}\n", opt.expect,
           (unsigned long long)rx.msgs);
    return 1;
  }
  printf("{\"mode\":\"output\",\"messages\":%llu,\"bytes\":%llu,\"first_ms\":%.2f,"
         "\"rate\":%.1f,\"mb_per_s\":%.2f,",
         (unsigned long long)rx.msgs, (unsigned long long)rx.bytes, (first - t0) * 1e3,
         (double)rx.msgs / wall, (double)rx.bytes / wall / 1e6);
  print_cpu(cpu, wall);
  printf("}\n");
  return 0;
}

/* ---------- echo: one message in flight, latency per round trip ---------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *s, long n, double p) {
  long i = (long)(p * (double)(n - 1) + 0.5);
  return s[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void fill_payload(unsigned char *p, long size) {
  for (long i = 0; i < size; i++) p[i] = (unsigned char)('a' + i % 26);
}

static long open_idle(long n, long conc, double *open_s);

static int mode_echo(void) {
  double idle_open_s = 0;
  if (opt.idle > 0 && open_idle(opt.idle, opt.idle_conc, &idle_open_s) < opt.idle)
    fail("echo: could not open every idle session");
  rx_t rx;
  int fd = connect_blocking(&rx);
  unsigned char *pl = malloc((size_t)opt.size + 1), *f = malloc((size_t)opt.size + 16);
  double *lat = malloc(sizeof(double) * (size_t)opt.count);
  if (!pl || !f || !lat) fail("out of memory");
  fill_payload(pl, opt.size);
  double c0 = 0, t0 = 0;
  long total = opt.warmup + opt.count;
  for (long i = 0; i < total; i++) {
    if (i == opt.warmup) {
      t0 = now_s();
      c0 = cpu_s();
    }
    size_t n = put_frame(f, 0x1, pl, (size_t)opt.size);
    double s = now_s();
    if (write_all(fd, f, n) < 0) die("send");
    if (read_until(fd, &rx, rx.msgs + 1) < 0) fail("echo: session ended");
    if (i >= opt.warmup) lat[i - opt.warmup] = (now_s() - s) * 1e6;
  }
  double wall = now_s() - t0, cpu = cpu_s() - c0;
  close_session(fd);
  qsort(lat, (size_t)opt.count, sizeof(double), cmp_double);
  double sum = 0;
  for (long i = 0; i < opt.count; i++) sum += lat[i];
  printf("{\"mode\":\"echo\",\"count\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
         "\"min_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,\"idle\":%ld,\"idle_open_s\":%.3f,",
         opt.count, pct(lat, opt.count, 0.5), pct(lat, opt.count, 0.99),
         pct(lat, opt.count, 0.999), lat[0], lat[opt.count - 1], sum / (double)opt.count,
         opt.idle, idle_open_s);
  print_cpu(cpu, wall);
  printf("}\n");
  return 0;
}

/* ---------- pipeline: keep `window` messages in flight ---------- */

static int mode_pipeline(void) {
  rx_t rx;
  int fd = connect_blocking(&rx);
  size_t fsize = (size_t)opt.size + 14;
  unsigned char *pl = malloc((size_t)opt.size + 1);
  unsigned char *out = malloc(fsize * (size_t)opt.window);
  if (!pl || !out) fail("out of memory");
  fill_payload(pl, opt.size);
  /* one round trip first, so the program is running before the clock starts */
  size_t n = put_frame(out, 0x1, pl, (size_t)opt.size);
  if (write_all(fd, out, n) < 0 || read_until(fd, &rx, rx.msgs + 1) < 0) fail("pipeline: warmup");
  uint64_t base = rx.msgs;
  double t0 = now_s(), c0 = cpu_s();
  long sent = 0;
  uint64_t got = 0;
  while ((long)got < opt.count) {
    /* refill the window in one write: as many frames as answers came back */
    long room = opt.window - (sent - (long)got);
    if (room > opt.count - sent) room = opt.count - sent;
    size_t at = 0;
    for (long i = 0; i < room; i++) at += put_frame(out + at, 0x1, pl, (size_t)opt.size);
    if (at && write_all(fd, out, at) < 0) die("send");
    sent += room;
    ssize_t r = read_some(fd, &rx);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail("pipeline: session ended");
    if (rx.closed) fail("pipeline: server closed");
    got = rx.msgs - base;
  }
  double wall = now_s() - t0, cpu = cpu_s() - c0;
  close_session(fd);
  printf("{\"mode\":\"pipeline\",\"count\":%ld,\"window\":%ld,\"rate\":%.1f,", opt.count,
         opt.window, (double)opt.count / wall);
  print_cpu(cpu, wall);
  printf("}\n");
  return 0;
}

/* ---------- input: N messages into a program, done when it has read them ---------- */

/* finds the child of --server-pid named --child (the program of our session) */
static int find_child(void) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  struct dirent *e;
  int found = -1;
  while ((e = readdir(d)) && found < 0) {
    int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    /* "pid (comm) state ppid ...": comm may hold spaces, so split at the last ')' */
    char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren) continue;
    *close_paren = 0;
    int ppid = 0;
    char state;
    if (sscanf(close_paren + 2, "%c %d", &state, &ppid) != 2) continue;
    if (ppid == opt.server_pid && strcmp(open_paren + 1, opt.child) == 0) found = pid;
  }
  closedir(d);
  return found;
}

static long long read_rchar(int pid) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/io", pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  return strncmp(buf, "rchar: ", 7) == 0 ? atoll(buf + 7) : -1;
}

static int mode_input(void) {
  if (opt.server_pid <= 0) fail("input needs --server-pid");
  rx_t rx;
  int fd = connect_blocking(&rx);
  int child = -1;
  for (int i = 0; i < 1000 && child < 0; i++) {
    child = find_child();
    if (child < 0) sleep_s(0.005);
  }
  if (child < 0) fail("input: program not found under the server");
  /* the program reads its libraries and locale at start: wait until rchar stops moving */
  long long base = read_rchar(child), prev = -2;
  for (int i = 0; i < 200 && base != prev; i++) {
    prev = base;
    sleep_s(0.02);
    base = read_rchar(child);
  }
  if (base < 0) fail("input: cannot read /proc/PID/io");
  size_t fsize = (size_t)opt.size + 14;
  unsigned char *pl = malloc((size_t)opt.size + 1);
  unsigned char *all = malloc(fsize * (size_t)opt.count);
  if (!pl || !all) fail("out of memory");
  fill_payload(pl, opt.size);
  size_t total = 0;
  for (long i = 0; i < opt.count; i++) total += put_frame(all + total, 0x1, pl, (size_t)opt.size);
  long long want = base + (long long)opt.count * (opt.size + 1);
  double t0 = now_s(), c0 = cpu_s();
  /* 256 KiB writes: large enough to be cheap, small enough to interleave with the server */
  for (size_t at = 0; at < total;) {
    size_t n = total - at < 262144 ? total - at : 262144;
    if (write_all(fd, all + at, n) < 0) die("send");
    at += n;
  }
  double sent = now_s();
  long long rc = read_rchar(child);
  while (rc >= 0 && rc < want) {
    if (now_s() - t0 > opt.timeout_s) break;
    sleep_s(0.0002);
    rc = read_rchar(child);
  }
  double wall = now_s() - t0, cpu = cpu_s() - c0;
  close_session(fd);
  if (rc < want) {
    printf("{\"error\":\"program read %lld of %lld bytes\"}\n", rc - base, want - base);
    return 1;
  }
  printf("{\"mode\":\"input\",\"count\":%ld,\"size\":%ld,\"rate\":%.1f,\"mb_per_s\":%.2f,"
         "\"send_s\":%.4f,",
         opt.count, opt.size, (double)opt.count / wall,
         (double)opt.count * (double)(opt.size + 1) / wall / 1e6, sent - t0);
  print_cpu(cpu, wall);
  printf("}\n");
  return 0;
}

/* ---------- many sessions: epoll state machines (connect and hold) ---------- */

enum { FREE, CONNECTING, HANDSHAKE, ECHO_WAIT, IDLE, DRAINING, DEAD };

typedef struct {
  int fd, state;
  double t0;
  size_t fill;
  int upgraded;
  rx_t rx;
  uint64_t want; /* messages that mean "the echo arrived" */
  unsigned char buf[1024];
} conn_t;

static int ep;
/* handshakes answered with 101 since start, warm-up included: each started a program */
static long upgrades_total;

static void set_events(conn_t *c, uint32_t ev, int add) {
  struct epoll_event e = {.events = ev, .data = {.ptr = c}};
  if (epoll_ctl(ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &e) < 0) die("epoll_ctl");
}

static void drop(conn_t *c, int state) {
  if (c->fd >= 0) close(c->fd); /* close(2) also removes it from epoll */
  c->fd = -1;
  c->state = state;
}

static int start_conn(conn_t *c) {
  memset(c, 0, sizeof *c);
  c->fd = open_socket(1);
  if (c->fd < 0) {
    c->state = DEAD;
    return -1;
  }
  c->state = CONNECTING;
  c->t0 = now_s();
  set_events(c, EPOLLOUT, 1);
  return 0;
}

/* Handles readiness for a connection; returns 1 when it just delivered the
 * message it was waiting for (first message, or an echo), -1 on failure. */
static int on_ready(conn_t *c, uint32_t ev) {
  if (c->state == CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err || (ev & (EPOLLERR | EPOLLHUP))) return -1;
    if (write_all(c->fd, (const unsigned char *)request, request_len) < 0) return -1;
    c->state = HANDSHAKE;
    set_events(c, EPOLLIN, 0);
    return 0;
  }
  for (;;) {
    ssize_t r = read(c->fd, c->buf + c->fill, sizeof c->buf - c->fill);
    if (r < 0 && errno == EAGAIN) return 0;
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c->fill += (size_t)r;
    size_t off = 0;
    if (!c->upgraded) {
      long end = response_end(c->buf, c->fill);
      if (end < 0) return -1;
      if (end == 0) {
        if (c->fill == sizeof c->buf) return -1;
        continue;
      }
      c->upgraded = 1;
      upgrades_total++;
      off = (size_t)end;
    }
    off += rx_parse(&c->rx, c->buf + off, c->fill - off);
    memmove(c->buf, c->buf + off, c->fill - off);
    c->fill -= off;
    if (c->fill == sizeof c->buf) return -1;
    send_pong_if_owed(c->fd, &c->rx);
    if (c->rx.closed) return -1;
    if (c->want && c->rx.msgs >= c->want) {
      c->want = 0;
      return 1;
    }
  }
}

static void raise_fd_limit(void) {
  /* thousands of sessions need thousands of descriptors; as root the hard limit may rise too */
  struct rlimit r = {200000, 200000};
  if (setrlimit(RLIMIT_NOFILE, &r) < 0 && getrlimit(RLIMIT_NOFILE, &r) == 0) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

/* CPU seconds of --server-pid from /proc/PID/stat: its own (utime+stime, all
 * threads) and that of its children it has reaped (cutime+cstime) */
static int server_cpu(double *self, double *children) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", opt.server_pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  /* p + 2 is field 3 (state); utime, stime, cutime, cstime are fields 14 to 17 */
  unsigned long long f[15];
  int got = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
                   &f[0], &f[1], &f[2], &f[3]);
  if (got != 4) return -1;
  double tick = (double)sysconf(_SC_CLK_TCK);
  *self = (double)(f[0] + f[1]) / tick;
  *children = (double)(f[2] + f[3]) / tick;
  return 0;
}

static int mode_connect(void) {
  int conc = opt.conc > 0 ? opt.conc : 1;
  /* closing sessions wait for the server's FIN in the background, so the
   * server (not us) ends up in TIME_WAIT and ports are not exhausted */
  int cap = conc + 8192;
  conn_t *cs = calloc((size_t)cap, sizeof(conn_t));
  if (!cs) fail("out of memory");
  for (int i = 0; i < cap; i++) cs[i].fd = -1;
  ep = epoll_create1(EPOLL_CLOEXEC);
  double start = now_s(), t_meas = start + opt.warmup_s, t_end = t_meas + opt.seconds;
  double c0 = -1, s0 = 0, k0 = 0, s1 = 0, k1 = 0;
  long done = 0, failures = 0, active = 0, draining = 0;
  double lat_sum = 0;
  /* first-message latency of every measured connection, ms */
  size_t lat_cap = 4096;
  double *lat = malloc(sizeof(double) * lat_cap);
  if (!lat) fail("out of memory");
  struct epoll_event evs[256];
  int measuring = 0, have_server = 0;
  for (;;) {
    double t = now_s();
    if (!measuring && t >= t_meas) {
      measuring = 1;
      c0 = cpu_s();
      done = failures = 0;
      lat_sum = 0;
      have_server = opt.server_pid > 0 && server_cpu(&s0, &k0) == 0;
    }
    if (t >= t_end) break;
    for (int i = 0; i < cap && active < conc; i++) {
      if (cs[i].state != FREE && cs[i].state != DEAD) continue;
      if (start_conn(&cs[i]) < 0) {
        failures++;
        cs[i].state = FREE;
        break;
      }
      cs[i].want = 1;
      active++;
    }
    int n = epoll_wait(ep, evs, 256, 10);
    for (int k = 0; k < n; k++) {
      conn_t *c = evs[k].data.ptr;
      if (c->state == DRAINING) {
        char junk[4096];
        ssize_t r = read(c->fd, junk, sizeof junk);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
          drop(c, FREE);
          draining--;
        }
        continue;
      }
      int res = on_ready(c, evs[k].events);
      if (res == 0) continue;
      active--;
      if (res < 0) {
        failures++;
        drop(c, FREE);
        continue;
      }
      done++;
      double l = now_s() - c->t0;
      lat_sum += l;
      if ((size_t)done > lat_cap) {
        lat_cap *= 2;
        lat = realloc(lat, sizeof(double) * lat_cap);
        if (!lat) fail("out of memory");
      }
      lat[done - 1] = l * 1e3;
      unsigned char f[16];
      size_t fl = put_frame(f, 0x8, close_payload, 2);
      write_all(c->fd, f, fl);
      c->state = DRAINING;
      c->t0 = now_s();
      draining++;
    }
    /* a server that never closes must not eat all slots */
    if (draining > 4096) {
      double now = now_s();
      for (int i = 0; i < cap; i++)
        if (cs[i].state == DRAINING && now - cs[i].t0 > 2) {
          drop(&cs[i], FREE);
          draining--;
        }
    }
  }
  double wall = now_s() - t_meas, cpu = cpu_s() - c0;
  if (have_server && server_cpu(&s1, &k1) < 0) have_server = 0;
  for (int i = 0; i < cap; i++)
    if (cs[i].fd >= 0) drop(&cs[i], FREE);
  qsort(lat, (size_t)done, sizeof(double), cmp_double);
  printf("{\"mode\":\"connect\",\"conc\":%d,\"connects\":%ld,\"failures\":%ld,\"rate\":%.1f,"
         "\"mean_ms\":%.3f,\"upgrades_total\":%ld,",
         conc, done, failures, (double)done / wall, done ? lat_sum / (double)done * 1e3 : 0.0,
         upgrades_total);
  if (done > 0)
    printf("\"first_p50_ms\":%.3f,\"first_p90_ms\":%.3f,\"first_p99_ms\":%.3f,\"first_max_ms\":%.3f,",
           pct(lat, done, 0.5), pct(lat, done, 0.9), pct(lat, done, 0.99), lat[done - 1]);
  if (have_server && done > 0)
    printf("\"server_cpu_s\":%.2f,\"programs_cpu_s\":%.2f,\"server_ms_per_conn\":%.3f,"
           "\"programs_ms_per_conn\":%.3f,",
           s1 - s0, k1 - k0, (s1 - s0) * 1e3 / (double)done, (k1 - k0) * 1e3 / (double)done);
  free(lat);
  print_cpu(cpu, wall);
  printf("}\n");
  return 0;
}

static int send_echo(conn_t *c, const unsigned char *pl) {
  unsigned char f[256];
  size_t n = put_frame(f, 0x1, pl, (size_t)opt.size);
  if (write_all(c->fd, f, n) < 0) return -1;
  c->want = c->rx.msgs + 1;
  c->state = ECHO_WAIT;
  return 0;
}

/* Opens sessions cs[*opened..level), `conc` handshakes at a time; each echoes
 * one message as soon as it is open and is IDLE once the echo is back.
 * Gives up at `deadline`. */
static void open_sessions(conn_t *cs, long *opened, long level, long conc, double deadline,
                          const unsigned char *pl, long *failures) {
  struct epoll_event evs[512];
  long inflight = 0;
  while ((*opened < level || inflight > 0) && now_s() < deadline) {
    while (*opened < level && inflight < conc) {
      conn_t *c = &cs[(*opened)++];
      if (start_conn(c) < 0) {
        (*failures)++;
        continue;
      }
      inflight++;
    }
    int n = epoll_wait(ep, evs, 512, 50);
    for (int k = 0; k < n; k++) {
      conn_t *c = evs[k].data.ptr;
      int before = c->state;
      int res = on_ready(c, evs[k].events);
      if (res < 0) {
        if (before == CONNECTING || before == HANDSHAKE || before == ECHO_WAIT) inflight--;
        (*failures)++;
        drop(c, DEAD);
      } else if (c->state == HANDSHAKE && c->upgraded) {
        if (send_echo(c, pl) < 0) {
          inflight--;
          (*failures)++;
          drop(c, DEAD);
        }
      } else if (res == 1) {
        c->state = IDLE;
        inflight--;
      }
    }
  }
}

/* the echo mode's idle neighbours: open until the process exits */
static long open_idle(long n, long conc, double *open_s) {
  conn_t *cs = calloc((size_t)n, sizeof(conn_t));
  if (!cs) fail("out of memory");
  for (long i = 0; i < n; i++) cs[i].fd = -1;
  unsigned char pl[256];
  fill_payload(pl, opt.size > 200 ? 200 : opt.size);
  ep = epoll_create1(EPOLL_CLOEXEC);
  long opened = 0, failures = 0;
  double t0 = now_s();
  open_sessions(cs, &opened, n, conc, t0 + opt.timeout_s + opt.timeout_per * (double)n, pl,
                &failures);
  *open_s = now_s() - t0;
  long held = 0;
  for (long i = 0; i < n; i++) held += cs[i].state == IDLE;
  return held;
}

static int mode_hold(void) {
  long levels[32];
  int nlev = 0;
  for (char *s = opt.levels; *s && nlev < 32;) {
    levels[nlev++] = strtol(s, &s, 10);
    if (*s == ',') s++;
  }
  if (nlev == 0 || opt.size > 200) fail("hold: bad --levels or --size");
  long max = levels[nlev - 1];
  conn_t *cs = calloc((size_t)max, sizeof(conn_t));
  if (!cs) fail("out of memory");
  for (long i = 0; i < max; i++) cs[i].fd = -1;
  unsigned char pl[256];
  fill_payload(pl, opt.size);
  ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event evs[512];
  long opened = 0, held = 0, best = 0, failures = 0;
  double c0 = cpu_s(), t0 = now_s();
  for (int li = 0; li < nlev; li++) {
    long level = levels[li];
    double ls = now_s();
    double deadline = ls + opt.timeout_s + opt.timeout_per * (double)(level - opened);
    /* phase 1: open sessions up to the level, `conc` handshakes at a time */
    open_sessions(cs, &opened, level, opt.conc, deadline, pl, &failures);
    double open_s = now_s() - ls;
    /* phase 2: every session at this level echoes again, all at once */
    double vs = now_s();
    long waiting = 0;
    for (long i = 0; i < opened; i++) {
      if (cs[i].state != IDLE) continue;
      if (send_echo(&cs[i], pl) < 0) drop(&cs[i], DEAD);
      else waiting++;
    }
    deadline = now_s() + opt.timeout_s;
    while (waiting > 0 && now_s() < deadline) {
      int n = epoll_wait(ep, evs, 512, 50);
      for (int k = 0; k < n; k++) {
        conn_t *c = evs[k].data.ptr;
        int res = on_ready(c, evs[k].events);
        if (res == 1) {
          c->state = IDLE;
          waiting--;
        } else if (res < 0) {
          if (c->state == ECHO_WAIT) waiting--;
          drop(c, DEAD);
        }
      }
    }
    held = 0;
    for (long i = 0; i < opened; i++) held += cs[i].state == IDLE;
    printf("STEP {\"level\":%ld,\"held\":%ld,\"open_s\":%.3f,\"echo_all_ms\":%.1f}\n", level,
           held, open_s, (now_s() - vs) * 1e3);
    fflush(stdout);
    if (held < level) break;
    best = level;
  }
  double wall = now_s() - t0, cpu = cpu_s() - c0;
  if (opt.wait) {
    printf("READY\n");
    fflush(stdout);
    char line[64];
    /* hold every session until the driver has taken its measurements */
    if (read(0, line, sizeof line) < 0) {
    }
  }
  for (long i = 0; i < max; i++)
    if (cs[i].fd >= 0) drop(&cs[i], FREE);
  printf("{\"mode\":\"hold\",\"best\":%ld,\"held\":%ld,\"failures\":%ld,", best, held, failures);
  print_cpu(cpu, wall);
  printf("}\n");
  return 0;
}

/* ---------- burst: a live session's echo while N handshakes arrive at once ---------- */

static void arm_timer(int tfd, double at) {
  struct itimerspec its = {{0, 0}, {(time_t)at, (long)((at - (double)(time_t)at) * 1e9)}};
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) die("timerfd_settime");
}

static int mode_burst(void) {
  static char live_tag, timer_tag;
  rx_t rx;
  int live = connect_blocking(&rx);
  unsigned char *pl = malloc((size_t)opt.size + 1), *f = malloc((size_t)opt.size + 16);
  long n_burst = opt.burst > 0 ? opt.burst : 1;
  conn_t *cs = calloc((size_t)n_burst, sizeof(conn_t));
  size_t cap = 65536, nlat = 0;
  double *lat = malloc(sizeof(double) * cap);
  double *burst_ms = calloc((size_t)(opt.bursts > 0 ? opt.bursts : 1), sizeof(double));
  if (!pl || !f || !cs || !lat || !burst_ms) fail("out of memory");
  fill_payload(pl, opt.size);
  /* warm-up round trips: the program runs and both code paths are hot */
  for (long i = 0; i < opt.warmup; i++) {
    size_t n = put_frame(f, 0x1, pl, (size_t)opt.size);
    if (write_all(live, f, n) < 0) die("send");
    if (read_until(live, &rx, rx.msgs + 1) < 0) fail("burst: live session ended");
  }
  if (fcntl(live, F_SETFL, fcntl(live, F_GETFL) | O_NONBLOCK) < 0) die("fcntl");
  ep = epoll_create1(EPOLL_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tfd < 0) die("timerfd_create");
  struct epoll_event le = {.events = EPOLLIN, .data = {.ptr = &live_tag}};
  struct epoll_event te = {.events = EPOLLIN, .data = {.ptr = &timer_tag}};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, live, &le) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &te) < 0)
    die("epoll_ctl");
  double interval = (double)opt.interval_us / 1e6;
  long failures = 0;
  double c0 = cpu_s(), t0 = now_s();
  struct epoll_event evs[512];
  for (long b = 0; b < opt.bursts; b++) {
    if (b > 0) sleep_s(1.0); /* the previous burst's sessions end meanwhile */
    double bs = now_s();
    long pending = 0;
    for (long i = 0; i < n_burst; i++) {
      if (start_conn(&cs[i]) < 0) failures++;
      else pending++;
    }
    double next_due = bs, due = 0, base = 0;
    int inflight = 0, in_window = 1;
    uint64_t want = rx.msgs;
    arm_timer(tfd, next_due);
    /* until the last handshake is answered and the echo sent during it is back */
    while ((in_window || inflight) && now_s() - bs < opt.timeout_s) {
      int n = epoll_wait(ep, evs, 512, 100);
      int try_send = 0, from_reply = 0;
      for (int k = 0; k < n; k++) {
        void *tag = evs[k].data.ptr;
        if (tag == &timer_tag) {
          uint64_t junk;
          if (read(tfd, &junk, sizeof junk) < 0) {
          }
          try_send = 1;
        } else if (tag == &live_tag) {
          for (;;) {
            ssize_t r = read_some(live, &rx);
            if (r < 0 && errno == EAGAIN) break;
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) fail("burst: live session ended");
          }
          if (rx.closed) fail("burst: live session closed");
          if (inflight && rx.msgs >= want) {
            double t = now_s();
            if (nlat == cap) {
              cap *= 2;
              lat = realloc(lat, sizeof(double) * cap);
              if (!lat) fail("out of memory");
            }
            lat[nlat++] = (t - base) * 1e3;
            inflight = 0;
            try_send = from_reply = 1;
          }
        } else {
          conn_t *c = tag;
          int res = on_ready(c, evs[k].events);
          if (c->state == IDLE) {
            /* answered already: nothing more is expected before we close it */
            if (res < 0) drop(c, DEAD);
            continue;
          }
          if (res < 0) {
            failures++;
            drop(c, DEAD);
            pending--;
          } else if (c->upgraded) {
            c->state = IDLE;
            pending--;
          }
        }
      }
      if (in_window && pending == 0) {
        in_window = 0;
        burst_ms[b] = (now_s() - bs) * 1e3;
      }
      double t = now_s();
      if (in_window && try_send && !inflight && t >= next_due) {
        due = next_due;
        /* late because the previous reply was late: count from when it was due;
         * sent by the timer: count from the send, so our timer slop is not charged */
        base = from_reply ? due : t;
        size_t fl = put_frame(f, 0x1, pl, (size_t)opt.size);
        if (write_all(live, f, fl) < 0) die("send");
        want = rx.msgs + 1;
        inflight = 1;
        next_due += interval;
        arm_timer(tfd, next_due);
      }
    }
    if (in_window || inflight) fail("burst: timed out");
    for (long i = 0; i < n_burst; i++) {
      if (cs[i].fd < 0) continue;
      if (cs[i].state == IDLE) close_session(cs[i].fd);
      else close(cs[i].fd);
      cs[i].fd = -1;
    }
  }
  double wall = now_s() - t0, cpu = cpu_s() - c0;
  close_session(live);
  if (nlat == 0) fail("burst: no samples");
  qsort(lat, nlat, sizeof(double), cmp_double);
  qsort(burst_ms, (size_t)opt.bursts, sizeof(double), cmp_double);
  long nl = (long)nlat;
  printf("{\"mode\":\"burst\",\"burst\":%ld,\"bursts\":%ld,\"failures\":%ld,\"samples\":%ld,"
         "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"burst_ms\":%.1f,\"burst_max_ms\":%.1f,",
         n_burst, opt.bursts, failures, nl, pct(lat, nl, 0.5), pct(lat, nl, 0.99), lat[nl - 1],
         pct(burst_ms, opt.bursts, 0.5), burst_ms[opt.bursts - 1]);
  print_cpu(cpu, wall);
  printf("}\n");
  return failures > 0 ? 1 : 0;
}

/* ---------- fanout: one file, many followers, every line to every client ---------- */

/* A writer thread of this process appends fixed-size lines to --file:
 *   SEQ (10 digits) ' ' STAMP (16 digits: CLOCK_REALTIME, us, just before the write) ' ' x...
 * and the servers' programs follow the file (websocketd: one `tail` per client; ours: one `tail`
 * shared under --broadcast), so every client should get every line; the clients take the
 * receive time of each read and attribute every line to the stage it belongs to:
 *   sync     seq 0, every 20 ms until each client has one (its follower is live);
 *   latency  --lat-rate lines/s for --lat-seconds (a rate both keep up with), waited for until
 *            every client has every line (or nothing came for --idle-timeout);
 *   stream   --rate lines/s without a pause through two windows of --seconds, each after
 *            --warmup-seconds: "free", then (--stall=1) one more client connects and never
 *            reads again, and "stalled". Deliveries are counted by receive time, so a server
 *            that falls behind shows its own pace, not the writer's; after the last line each
 *            client has --grace seconds to catch up (complete or not is reported).
 * Latency is per (line, client) pair: receive time minus the line's stamp, in a histogram. */

static uint64_t real_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* log-linear histogram of microseconds: exact below 1024, then 512 steps per power of two
 * (under 0.2% error), so millions of (line, client) pairs cost no memory */
#define HIST_N (1024 + 54 * 512)
typedef struct {
  uint64_t n, sum, max;
  uint32_t b[HIST_N];
} hist_t;

static int hist_index(uint64_t v) {
  if (v < 1024) return (int)v;
  int e = 63 - __builtin_clzll(v); /* >= 10 */
  int i = 1024 + (e - 10) * 512 + (int)((v >> (e - 9)) - 512);
  return i < HIST_N ? i : HIST_N - 1;
}

static double hist_value(int i) {
  if (i < 1024) return i;
  int e = (i - 1024) / 512 + 10, m = (i - 1024) % 512 + 512;
  return ((double)m + 0.5) * (double)(1ull << (e - 9));
}

static void hist_add(hist_t *h, uint64_t v) {
  h->b[hist_index(v)]++;
  h->n++;
  h->sum += v;
  if (v > h->max) h->max = v;
}

static double hist_ms(const hist_t *h, double p) {
  if (h->n == 0) return 0;
  uint64_t want = (uint64_t)(p * (double)(h->n - 1)) + 1, seen = 0;
  for (int i = 0; i < HIST_N; i++) {
    seen += h->b[i];
    if (seen >= want) return hist_value(i) / 1e3;
  }
  return (double)h->max / 1e3;
}

static int line_size;

/* the latency stage: seq [1, lat_lines] */
static struct {
  long lines;
  uint64_t first_write, last_write, last_recv, pairs;
  hist_t lat;
} lat;

/* the stream's windows, by receive time [t0, t1) in realtime us; t0 == 0: not begun */
enum { W_FREE, W_STALL, W_N };
static const char *win_name[W_N] = {"free", "stalled"};
static struct {
  uint64_t t0, t1, pairs;
  double cpu;
  hist_t lat;
} win[W_N];

/* ---- the writer thread ---- */

enum { WR_IDLE, WR_SYNC, WR_LAT, WR_STREAM, WR_EXIT };

static struct {
  int fd;
  volatile int cmd;           /* what to write */
  volatile int acked;         /* the thread has seen the last cmd and finished what it started */
  volatile int failed;
  volatile uint64_t next_seq; /* the next line's seq */
  uint64_t stream_lo;
  volatile uint64_t first_write, last_write;
} wr;

static void format_line(char *p, uint64_t seq, uint64_t stamp) {
  char head[40];
  snprintf(head, sizeof head, "%010llu %016llu ", (unsigned long long)seq,
           (unsigned long long)stamp);
  memcpy(p, head, 28);
  memset(p + 28, 'x', (size_t)line_size - 28);
  p[line_size] = '\n';
}

static void sleep_until(double t) {
  struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

/* Appends lines at `rate` while `cmd` stays `mine` and fewer than `limit` are written (0: no
 * limit): one write per line up to 1000 lines/s; above, every millisecond the lines due by then
 * in one write (as a buffered logger would). Every line of a write carries the time just
 * before that write. */
static void write_at(long rate, long limit, int mine) {
  double tick = 1.0 / (double)rate;
  if (tick < 0.001) tick = 0.001;
  size_t cap = (size_t)(line_size + 1) * (size_t)((double)rate * tick + 64);
  char *buf = malloc(cap);
  if (!buf) {
    wr.failed = 1;
    return;
  }
  long written = 0;
  double t0 = now_s();
  for (long k = 0; wr.cmd == mine && (limit == 0 || written < limit); k++) {
    sleep_until(t0 + (double)k * tick);
    long due = (long)((now_s() - t0) * (double)rate) + 1 - written;
    if (limit && due > limit - written) due = limit - written;
    if ((size_t)due * (size_t)(line_size + 1) > cap) due = (long)(cap / (size_t)(line_size + 1));
    if (due <= 0) continue;
    uint64_t stamp = real_us(), seq = wr.next_seq;
    for (long i = 0; i < due; i++) format_line(buf + i * (line_size + 1), seq + (uint64_t)i, stamp);
    if (write_all(wr.fd, (const unsigned char *)buf, (size_t)due * (size_t)(line_size + 1)) < 0) {
      wr.failed = 1;
      break;
    }
    if (written == 0) wr.first_write = stamp;
    wr.last_write = stamp;
    written += due;
    __sync_synchronize();
    wr.next_seq = seq + (uint64_t)due;
  }
  free(buf);
}

static void *writer_main(void *arg) {
  (void)arg;
  char line[256];
  for (;;) {
    int cmd = wr.cmd;
    if (cmd == WR_EXIT) return NULL;
    if (cmd == WR_SYNC) {
      format_line(line, 0, real_us());
      if (write_all(wr.fd, (const unsigned char *)line, (size_t)line_size + 1) < 0) wr.failed = 1;
      sleep_s(0.02);
      continue;
    }
    if (cmd == WR_LAT && !wr.acked) write_at(opt.lat_rate, lat.lines, WR_LAT);
    if (cmd == WR_STREAM && !wr.acked) write_at(opt.rate, 0, WR_STREAM);
    if (!wr.acked) {
      __sync_synchronize();
      wr.acked = 1;
    }
    sleep_s(0.001);
  }
}

static void writer_do(int cmd) {
  wr.acked = 0;
  __sync_synchronize();
  wr.cmd = cmd;
}

/* ---- the clients ---- */

enum { F_CONNECTING, F_HANDSHAKE, F_OPEN, F_DEAD };

typedef struct {
  int fd, state;
  int close_code; /* from a close frame, -1 none */
  int stalled;    /* the stalled client: its lines count for it only */
  size_t fill;    /* bytes carried over: the handshake so far, or a partial frame */
  size_t mlen;    /* bytes of a fragmented message so far */
  uint64_t last_seq;
  long sync, got_lat, got_stream, got_win[W_N];
  long order_errors, bad_lines;
  unsigned char carry[1024];
  unsigned char msg[256];
} fan_t;

static unsigned char fbuf[1 << 18];

static void fan_line(fan_t *c, const unsigned char *p, size_t n, uint64_t now) {
  if ((int)n != line_size || p[10] != ' ' || p[27] != ' ') {
    c->bad_lines++;
    return;
  }
  uint64_t seq = 0, stamp = 0;
  for (int i = 0; i < 10; i++) seq = seq * 10 + (uint64_t)(p[i] - '0');
  for (int i = 11; i < 27; i++) stamp = stamp * 10 + (uint64_t)(p[i] - '0');
  if (seq == 0) {
    c->sync++;
    return;
  }
  if (seq <= c->last_seq) c->order_errors++;
  c->last_seq = seq;
  uint64_t l = now > stamp ? now - stamp : 0;
  if (seq <= (uint64_t)lat.lines) {
    c->got_lat++;
    if (c->stalled) return;
    lat.pairs++;
    lat.last_recv = now;
    hist_add(&lat.lat, l);
    return;
  }
  c->got_stream++;
  if (c->stalled) return;
  for (int w = 0; w < W_N; w++) {
    if (!win[w].t0 || now < win[w].t0 || now >= win[w].t1) continue;
    c->got_win[w]++;
    win[w].pairs++;
    hist_add(&win[w].lat, l);
  }
}

/* parses whole frames of p[0..n); returns bytes consumed */
static size_t fan_parse(fan_t *c, const unsigned char *p, size_t n, uint64_t now) {
  size_t off = 0;
  while (n - off >= 2) {
    unsigned b0 = p[off], b1 = p[off + 1];
    uint64_t len = b1 & 0x7f;
    size_t h = 2;
    if (len == 126) {
      if (n - off < 4) break;
      len = ((uint64_t)p[off + 2] << 8) | p[off + 3];
      h = 4;
    } else if (len == 127) {
      if (n - off < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | p[off + 2 + i];
      h = 10;
    }
    if (len > sizeof c->carry - 16) {
      c->bad_lines++;
      c->state = F_DEAD;
      return n;
    }
    if (n - off < h + len) break;
    const unsigned char *pl = p + off + h;
    int op = b0 & 0x0f;
    if (op == 8) {
      c->close_code = len >= 2 ? (pl[0] << 8) | pl[1] : 1005;
    } else if (op == 9) {
      unsigned char f[140];
      if (len <= 125) write_all(c->fd, f, put_frame(f, 0xA, pl, (size_t)len));
    } else if (op <= 2) {
      if ((b0 & 0x80) && c->mlen == 0) fan_line(c, pl, (size_t)len, now);
      else if (c->mlen + len > sizeof c->msg) {
        c->bad_lines++;
        c->mlen = 0;
      } else {
        /* a line that came in fragments (a server may stream a partial line) */
        memcpy(c->msg + c->mlen, pl, (size_t)len);
        c->mlen += (size_t)len;
        if (b0 & 0x80) {
          fan_line(c, c->msg, c->mlen, now);
          c->mlen = 0;
        }
      }
    }
    off += h + (size_t)len;
  }
  return off;
}

static int fan_ep;

/* one readiness event; returns -1 when the connection ended */
static int fan_ready(fan_t *c, uint32_t ev) {
  if (c->state == F_CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err || (ev & (EPOLLERR | EPOLLHUP))) return -1;
    if (write_all(c->fd, (const unsigned char *)request, request_len) < 0) return -1;
    c->state = F_HANDSHAKE;
    struct epoll_event e = {.events = EPOLLIN, .data = {.ptr = c}};
    if (epoll_ctl(fan_ep, EPOLL_CTL_MOD, c->fd, &e) < 0) die("epoll_ctl");
    return 0;
  }
  memcpy(fbuf, c->carry, c->fill);
  ssize_t r = read(c->fd, fbuf + c->fill, sizeof fbuf - c->fill);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (r <= 0) return -1;
  uint64_t now = real_us();
  size_t n = c->fill + (size_t)r, off = 0;
  if (c->state == F_HANDSHAKE) {
    long end = response_end(fbuf, n);
    if (end < 0) return -1;
    if (end == 0) {
      if (n > sizeof c->carry) return -1;
      memcpy(c->carry, fbuf, n);
      c->fill = n;
      return 0;
    }
    c->state = F_OPEN;
    off = (size_t)end;
  }
  off += fan_parse(c, fbuf + off, n - off, now);
  if (c->state == F_DEAD || n - off > sizeof c->carry) return -1;
  memcpy(c->carry, fbuf + off, n - off);
  c->fill = n - off;
  return c->close_code >= 0 ? -1 : 0;
}

static fan_t *cs;
static long ncs, lost;

/* serves every client for `seconds`, or until `done()` holds */
static void pump(double seconds, int (*done)(void)) {
  struct epoll_event evs[512];
  double until = now_s() + seconds;
  while (now_s() < until && !(done && done())) {
    int k = epoll_wait(fan_ep, evs, 512, 5);
    for (int i = 0; i < k; i++) {
      fan_t *c = evs[i].data.ptr;
      if (c->state == F_DEAD) continue;
      if (fan_ready(c, evs[i].events) < 0) {
        if (c->fd >= 0) close(c->fd);
        c->fd = -1;
        c->state = F_DEAD;
        lost++;
      }
    }
  }
}

static int all_synced(void) {
  for (long i = 0; i < ncs; i++)
    if (cs[i].state == F_OPEN && cs[i].sync == 0) return 0;
  return 1;
}
static int lat_complete(void) {
  return wr.acked && lat.pairs >= (uint64_t)lat.lines * (uint64_t)ncs;
}
static uint64_t stream_hi;
static int stream_complete(void) {
  long want = (long)(stream_hi - wr.stream_lo + 1);
  for (long i = 0; i < ncs; i++)
    if (cs[i].state == F_OPEN && cs[i].got_stream < want) return 0;
  return 1;
}

/* The stalled client: the handshake, read a byte at a time so that not one byte after it is
 * taken, then nothing until the end. The others are served meanwhile. */
static int stall_connect(void) {
  int fd = open_socket(0);
  if (fd < 0) die("stall: connect");
  if (write_all(fd, (const unsigned char *)request, request_len) < 0) die("stall: send");
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  unsigned char buf[1024];
  size_t n = 0;
  double deadline = now_s() + opt.timeout_s;
  while (n < sizeof buf && now_s() < deadline) {
    ssize_t r = read(fd, buf + n, 1);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
      pump(0.002, NULL);
      continue;
    }
    if (r <= 0) fail("stall: handshake failed");
    n++;
    if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) break;
  }
  if (response_end(buf, n) <= 0) fail("stall: handshake refused or timed out");
  return fd;
}

/* reads what the stalled client was sent: until a close frame, EOF, a reset, or (a server that
 * keeps it open and keeps sending) a pause of 0.5 s or 3 s in all */
static const char *stall_drain(int fd, fan_t *c, uint64_t *bytes) {
  c->fd = fd;
  c->stalled = 1;
  c->state = F_OPEN;
  c->close_code = -1;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  double until = now_s() + 3, quiet = now_s();
  const char *end = "open";
  while (now_s() < until) {
    memcpy(fbuf, c->carry, c->fill);
    ssize_t r = read(fd, fbuf + c->fill, sizeof fbuf - c->fill);
    if (r < 0 && errno == EAGAIN) {
      if (now_s() - quiet > 0.5) break;
      sleep_s(0.001);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      end = r == 0 ? "eof" : errno == ECONNRESET ? "reset" : "error";
      break;
    }
    *bytes += (uint64_t)r;
    quiet = now_s();
    size_t n = c->fill + (size_t)r, off = fan_parse(c, fbuf, n, real_us());
    memcpy(c->carry, fbuf + off, n - off);
    c->fill = n - off;
    if (c->close_code >= 0) {
      end = "close frame";
      break;
    }
  }
  close(fd);
  return end;
}

/* one measured window of the stream: [now + warm-up, + seconds) */
static void run_window(int w, double seconds) {
  pump(opt.warmup_s, NULL);
  double c0 = cpu_s();
  win[w].t1 = UINT64_MAX;
  win[w].t0 = real_us();
  pump(seconds, NULL);
  win[w].t1 = real_us();
  win[w].cpu = cpu_s() - c0;
}

static void print_window(int w) {
  double secs = (double)(win[w].t1 - win[w].t0) / 1e6;
  long mn = -1, mx = 0;
  for (long i = 0; i < ncs; i++) {
    if (mn < 0 || cs[i].got_win[w] < mn) mn = cs[i].got_win[w];
    if (cs[i].got_win[w] > mx) mx = cs[i].got_win[w];
  }
  printf("\"%s\":{\"seconds\":%.3f,\"pairs\":%llu,\"rate\":%.1f,\"per_client_min\":%.1f,"
         "\"per_client_max\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
         "\"client_cpu_pct\":%.1f}",
         win_name[w], secs, (unsigned long long)win[w].pairs, (double)win[w].pairs / secs,
         (double)mn / secs, (double)mx / secs, hist_ms(&win[w].lat, 0.5),
         hist_ms(&win[w].lat, 0.99), (double)win[w].lat.max / 1e3, 100 * win[w].cpu / secs);
}

static int mode_fanout(void) {
  if (!opt.file) fail("fanout needs --file");
  if (opt.size < 28 || opt.size > 200) fail("fanout: --size must be 28..200");
  if (opt.lat_rate < 1 || opt.rate < 1) fail("fanout: --lat-rate and --rate must be >= 1");
  line_size = (int)opt.size;
  ncs = opt.conns - (opt.stall ? 1 : 0);
  if (ncs < 1) fail("fanout: --conns too small");
  lat.lines = (long)((double)opt.lat_rate * opt.lat_seconds);
  if (lat.lines < 1) lat.lines = 1;
  wr.fd = open(opt.file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (wr.fd < 0) die("fanout: open --file");
  wr.next_seq = 1;
  wr.acked = 1;
  pthread_t wt;
  if (pthread_create(&wt, NULL, writer_main, NULL) != 0) fail("fanout: pthread_create");

  cs = calloc((size_t)ncs, sizeof(fan_t));
  if (!cs) fail("out of memory");
  fan_ep = epoll_create1(EPOLL_CLOEXEC);
  /* open the readers, --conc handshakes at a time */
  double t0 = now_s(), c0 = cpu_s();
  double deadline = t0 + opt.timeout_s + opt.timeout_per * (double)ncs;
  long started = 0, failures = 0, open_now = 0;
  while (now_s() < deadline) {
    long inflight = 0;
    open_now = 0;
    for (long i = 0; i < started; i++) {
      inflight += cs[i].state == F_CONNECTING || cs[i].state == F_HANDSHAKE;
      open_now += cs[i].state == F_OPEN;
    }
    if (started == ncs && inflight == 0) break;
    while (started < ncs && inflight < opt.conc) {
      fan_t *c = &cs[started++];
      c->close_code = -1;
      c->fd = open_socket(1);
      if (c->fd < 0) {
        c->state = F_DEAD;
        failures++;
        continue;
      }
      c->state = F_CONNECTING;
      struct epoll_event e = {.events = EPOLLOUT, .data = {.ptr = c}};
      if (epoll_ctl(fan_ep, EPOLL_CTL_ADD, c->fd, &e) < 0) die("epoll_ctl");
      inflight++;
    }
    pump(0.02, NULL);
  }
  double open_s = now_s() - t0;
  if (open_now < ncs) {
    printf("{\"error\":\"fanout: %ld of %ld clients open after %.1f s (%ld failed, %ld lost)\"}\n",
           open_now, ncs, open_s, failures, lost);
    return 1;
  }
  /* every follower must be live before the first measured line */
  double s0 = now_s();
  writer_do(WR_SYNC);
  pump(opt.timeout_s + opt.timeout_per * (double)ncs, all_synced);
  writer_do(WR_IDLE);
  double sync_s = now_s() - s0;
  pump(0.3, NULL); /* sync lines still in flight */
  long synced = 0;
  for (long i = 0; i < ncs; i++) synced += cs[i].state == F_OPEN && cs[i].sync > 0;
  if (synced < ncs) {
    printf("{\"error\":\"fanout: %ld of %ld clients got a sync line within %.1f s\"}\n", synced,
           ncs, sync_s);
    return 1;
  }
  printf("STEP {\"level\":%ld,\"held\":%ld,\"open_s\":%.3f,\"sync_s\":%.3f}\n", ncs, synced,
         open_s, sync_s);
  fflush(stdout);
  double setup_cpu = cpu_s() - c0;
  if (opt.wait) {
    /* the driver reads the servers' memory with every client connected and idle */
    printf("READY\n");
    fflush(stdout);
    char line[64];
    if (read(0, line, sizeof line) < 0) {
    }
  }

  /* latency: every line to every client at a rate both servers keep up with */
  double m0 = now_s(), mc0 = cpu_s();
  while (!wr.acked) sleep_s(0.001);
  writer_do(WR_LAT);
  double lat_c0 = cpu_s(), lat_t0 = now_s();
  uint64_t seen = 0;
  double quiet_since = now_s();
  while (!lat_complete()) {
    pump(0.1, lat_complete);
    if (lat.pairs != seen || !wr.acked) {
      seen = lat.pairs;
      quiet_since = now_s();
    } else if (now_s() - quiet_since > opt.idle_timeout) break;
  }
  lat.first_write = wr.first_write;
  lat.last_write = wr.last_write;
  double lat_cpu = (cpu_s() - lat_c0) / (now_s() - lat_t0);
  writer_do(WR_IDLE);
  while (!wr.acked) sleep_s(0.001);

  /* the stream, through its windows */
  wr.stream_lo = wr.next_seq;
  writer_do(WR_STREAM);
  run_window(W_FREE, opt.seconds);
  int stall_fd = -1;
  double stall_at = 0;
  uint64_t stall_at_us = 0;
  double stall_handshake_ms = 0;
  if (opt.stall) {
    double h0 = now_s();
    stall_fd = stall_connect();
    stall_at = now_s();
    stall_handshake_ms = (stall_at - h0) * 1e3;
    stall_at_us = real_us();
    run_window(W_STALL, opt.stall_seconds);
  }
  writer_do(WR_IDLE);
  while (!wr.acked) sleep_s(0.001);
  stream_hi = wr.next_seq - 1;
  uint64_t stream_first = wr.first_write, stream_last = wr.last_write;
  double g0 = now_s();
  pump(opt.grace_s, stream_complete);
  double caught_up_s = now_s() - g0;
  long want = (long)(stream_hi - wr.stream_lo + 1), complete = 0, mn = -1;
  uint64_t missing = 0;
  for (long i = 0; i < ncs; i++) {
    long g = cs[i].got_stream;
    complete += g >= want;
    if (mn < 0 || g < mn) mn = g;
    if (g < want) missing += (uint64_t)(want - g);
  }
  uint64_t stall_bytes = 0;
  fan_t stall_c;
  memset(&stall_c, 0, sizeof stall_c);
  const char *stall_end = "none";
  double stall_drained_after = 0;
  if (stall_fd >= 0) {
    /* a server that closes slow clients waits up to a second for a close reply: give it 2 */
    double since = now_s() - stall_at;
    if (since < 2) sleep_s(2 - since);
    stall_drained_after = now_s() - stall_at;
    stall_end = stall_drain(stall_fd, &stall_c, &stall_bytes);
  }
  double wall = now_s() - m0, cpu = cpu_s() - mc0;
  writer_do(WR_EXIT);
  pthread_join(wt, NULL);
  long bad = 0, order = 0, lat_mn = -1, lat_mx = 0, lat_complete_n = 0;
  for (long i = 0; i < ncs; i++) {
    bad += cs[i].bad_lines;
    order += cs[i].order_errors;
    if (lat_mn < 0 || cs[i].got_lat < lat_mn) lat_mn = cs[i].got_lat;
    if (cs[i].got_lat > lat_mx) lat_mx = cs[i].got_lat;
    lat_complete_n += cs[i].got_lat == lat.lines;
  }
  printf("{\"mode\":\"fanout\",\"clients\":%ld,\"stall\":%d,\"size\":%d,\"open_s\":%.3f,"
         "\"sync_s\":%.3f,\"setup_client_cpu_s\":%.2f,\"lost\":%ld,\"bad_lines\":%ld,"
         "\"order_errors\":%ld,\"writer_failed\":%d,",
         ncs, opt.stall, line_size, open_s, sync_s, setup_cpu, lost, bad, order, wr.failed);
  uint64_t lat_expected = (uint64_t)lat.lines * (uint64_t)ncs;
  printf("\"latency\":{\"lines\":%ld,\"rate_offered\":%ld,\"write_s\":%.3f,\"pairs\":%llu,"
         "\"expected\":%llu,\"complete\":%s,\"clients_complete\":%ld,\"min_per_client\":%ld,"
         "\"max_per_client\":%ld,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
         "\"max_ms\":%.3f,\"mean_ms\":%.3f,\"client_cpu_pct\":%.1f},",
         lat.lines, opt.lat_rate, (double)(lat.last_write - lat.first_write) / 1e6,
         (unsigned long long)lat.pairs, (unsigned long long)lat_expected,
         lat.pairs == lat_expected ? "true" : "false", lat_complete_n, lat_mn, lat_mx,
         hist_ms(&lat.lat, 0.5), hist_ms(&lat.lat, 0.99), hist_ms(&lat.lat, 0.999),
         (double)lat.lat.max / 1e3,
         lat.lat.n ? (double)lat.lat.sum / (double)lat.lat.n / 1e3 : 0, 100 * lat_cpu);
  printf("\"stream\":{\"rate_offered\":%ld,\"lines\":%ld,\"write_s\":%.3f,\"complete\":%s,"
         "\"clients_complete\":%ld,\"min_per_client\":%ld,\"missing_pairs\":%llu,"
         "\"caught_up_s\":%.3f},",
         opt.rate, want, (double)(stream_last - stream_first) / 1e6, missing ? "false" : "true",
         complete, mn, (unsigned long long)missing, caught_up_s);
  print_window(W_FREE);
  printf(",");
  if (opt.stall) {
    print_window(W_STALL);
    printf(",\"stall_client\":{\"lines\":%ld,\"bytes\":%llu,\"close_code\":%d,\"end\":\"%s\","
           "\"read_after_s\":%.3f,\"joined_ms\":%.3f,\"handshake_ms\":%.1f},",
           stall_c.got_stream, (unsigned long long)stall_bytes, stall_c.close_code, stall_end,
           stall_drained_after, (double)stall_at_us / 1e3, stall_handshake_ms);
  }
  for (long i = 0; i < ncs; i++)
    if (cs[i].fd >= 0) close_session(cs[i].fd);
  print_cpu(cpu, wall);
  printf("}\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: wsload MODE --port=P [options]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  parse_args(argc, argv);
  setup_target();
  raise_fd_limit();
  const char *m = argv[1];
  if (strcmp(m, "connect") == 0) return mode_connect();
  if (strcmp(m, "output") == 0) return mode_output();
  if (strcmp(m, "echo") == 0) return mode_echo();
  if (strcmp(m, "pipeline") == 0) return mode_pipeline();
  if (strcmp(m, "input") == 0) return mode_input();
  if (strcmp(m, "hold") == 0) return mode_hold();
  if (strcmp(m, "burst") == 0) return mode_burst();
  if (strcmp(m, "fanout") == 0) return mode_fanout();
  fprintf(stderr, "wsload: unknown mode %s\n", m);
  return 2;
}
