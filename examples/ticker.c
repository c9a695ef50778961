/*
 * Server push forever: prints "TAG 1", "TAG 2", ... one line every PERIOD
 * milliseconds (default "tick", 40 ms) until its stdin closes, then exits 0.
 * A steady stream whose gaps and lost numbers are easy to measure: the
 * rolling-restart tests (docs/deploy/haproxy.md) run one per session.
 *
 *   cc -O2 -o /tmp/ticker examples/ticker.c
 *   deno run -A main.ts --port=8080 --health=/healthz --drain-ms=3000 /tmp/ticker A 40
 *
 * It exits on stdin EOF (the client left), so the server never has to signal
 * it. The ticks follow a fixed schedule: a late wake-up is not carried over
 * into the next period.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "tick";
  long period = argc > 2 ? atol(argv[2]) : 40;
  if (period < 1) period = 1;
  /* a pipe makes stdio fully buffered by default: switch that off */
  setbuf(stdout, NULL);
  struct pollfd in = {.fd = 0, .events = POLLIN};
  char buf[4096];
  long long next = now_ms();
  for (unsigned long n = 1;; n++) {
    if (printf("%s %lu\n", tag, n) < 0) return 1;
    next += period;
    long long wait;
    while ((wait = next - now_ms()) > 0) {
      int r = poll(&in, 1, (int)wait);
      if (r > 0) {
        /* input is read and ignored; end of input ends the program */
        if (read(0, buf, sizeof buf) <= 0) return 0;
      }
    }
    /* far behind (stopped, or starved): restart the schedule from now */
    if (now_ms() - next > 10 * period) next = now_ms();
  }
}
