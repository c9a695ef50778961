/*
 * lines COUNT SIZE: prints COUNT lines of exactly SIZE bytes each (newline
 * not counted), then exits. The output scenario's fixed-size companion to
 * `seq`: every message has the same length, so msgs/s and MB/s convert
 * exactly. Output goes out in 64 KiB writes, the pipe's capacity, so the
 * program is never what limits the server. Built by bench/bench.ts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, p, n);
    if (w < 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: lines COUNT SIZE\n");
    return 2;
  }
  long count = atol(argv[1]);
  long size = atol(argv[2]);
  if (count < 0 || size < 12 || size > 65536) {
    fprintf(stderr, "lines: SIZE must be 12..65536\n");
    return 2;
  }
  size_t cap = 64 * 1024;
  if ((size_t)size + 1 > cap) cap = (size_t)size + 1;
  char *buf = malloc(cap);
  if (!buf) return 1;
  size_t at = 0;
  for (long i = 1; i <= count; i++) {
    if (at + (size_t)size + 1 > cap) {
      if (write_all(buf, at) < 0) return 1;
      at = 0;
    }
    /* a running number keeps lines distinct; the rest is filler */
    int n = snprintf(buf + at, 12, "%010ld ", i);
    memset(buf + at + n, 'x', (size_t)size - (size_t)n);
    at += (size_t)size;
    buf[at++] = '\n';
  }
  if (at > 0 && write_all(buf, at) < 0) return 1;
  return 0;
}
