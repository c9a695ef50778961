/*
 * Server push in C, the program from the "websocketd behind Apache" story:
 * prints 1 to 10, one every 500 ms, then exits. stdout is unbuffered so each
 * number leaves the process (and reaches the browser) the moment it is
 * printed instead of all ten at exit.
 *
 *   cc -o /tmp/count examples/count.c
 *   deno run -A main.ts --port=8080 /tmp/count
 */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  /* a pipe makes stdio fully buffered by default: switch that off */
  setbuf(stdout, NULL);
  for (int i = 1; i <= 10; i++) {
    printf("%d\n", i);
    usleep(500000);
  }
  return 0;
}
