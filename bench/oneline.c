/*
 * oneline: the program behind the connect-rate scenario. It prints one line
 * and then keeps the session open until the client goes away (stdin EOF),
 * so a "connect" measures spawn + handshake + first message and nothing else.
 * Built by bench/bench.ts with `cc -O2`.
 */
#include <unistd.h>

int main(void) {
  static const char line[] = "connected\n";
  /* one write(2), no stdio: the line must leave before we block on stdin */
  if (write(1, line, sizeof line - 1) < 0) return 1;
  char buf[4096];
  while (read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}
