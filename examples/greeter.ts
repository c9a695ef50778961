#!/usr/bin/env -S deno run
/**
 * Request/response in Deno: answers every line it reads with a greeting.
 * Needs no permissions at all, because stdin and stdout are always open.
 *
 *   deno run -A main.ts --port=8080 ./examples/greeter.ts
 *
 * @module
 */

const out = new TextEncoder();
let carry = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  carry += chunk;
  let nl;
  while ((nl = carry.indexOf("\n")) >= 0) {
    const line = carry.slice(0, nl);
    carry = carry.slice(nl + 1);
    // writeSync goes straight to the pipe: no buffer to flush
    Deno.stdout.writeSync(out.encode(`Hello ${line}!\n`));
  }
}
