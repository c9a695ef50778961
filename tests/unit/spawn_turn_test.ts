/**
 * `spawnTurn()` in process, with a busy loop standing in for a start that
 * blocks the event loop: a lone start never waits; a start that was waiting
 * waits as long again as the last one took (capped), and other work runs in
 * between.
 */

import { MAX_SPAWN_PAUSE_MS, spawnTurn } from "../../lib/process/spawn_turn.ts";
import { assert } from "../../testing/assert.ts";

/** Holds the thread for `ms`, as a start blocked in posix_spawn does. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the event loop waits */ }
}

/** Lets the queue's last pause run out, so no timer outlives the test. */
async function drain(): Promise<void> {
  await spawnTurn();
  await new Promise((r) => setTimeout(r, MAX_SPAWN_PAUSE_MS + 10));
}

/** Asks for a turn; true if it came within microtasks (a timer-based wait would still pend). */
async function grantedAtOnce(): Promise<boolean> {
  let granted = false;
  const turn = spawnTurn().then(() => granted = true);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await turn;
  return granted;
}

Deno.test("spawnTurn: a lone start is granted at once, without waiting for a timer", async () => {
  await drain();
  assert(await grantedAtOnce(), "the turn waited for a timer");
  await drain();
});

Deno.test("spawnTurn: after a start that blocked 8 ms, the next waits as long again, and timers run between", async () => {
  await drain();
  await spawnTurn();
  const t0 = performance.now();
  const next = spawnTurn();
  block(8);
  let between = 0;
  const ticker = setInterval(() => between++, 1);
  await next;
  const waited = performance.now() - t0;
  clearInterval(ticker);
  // 8 ms blocked, then a pause of at least as long before the next start (1 ms for timer
  // rounding); turns a timer tick apart would grant it at about 8 ms
  assert(waited >= 15, `the next start came ${waited.toFixed(1)} ms after the first`);
  // the ticker is due before the pause ends, so it runs first even when a busy machine
  // delays both; turns a timer tick apart would grant the next start before any tick
  assert(between >= 1, `no timer tick ran between two starts`);
  await drain();
});

Deno.test("spawnTurn: with no other start waiting, a start leaves no pause behind", async () => {
  await drain();
  await spawnTurn();
  block(8);
  // the queue's own timer was set first, so it has run when this one fires
  await new Promise((r) => setTimeout(r, 0));
  assert(await grantedAtOnce(), "a start that came after the queue emptied waited for a pause");
  await drain();
});

Deno.test("spawnTurn: the pause after a long start is capped", async () => {
  await drain();
  await spawnTurn();
  const t0 = performance.now();
  const next = spawnTurn();
  block(150);
  await next;
  const waited = performance.now() - t0;
  assert(waited >= 150 + MAX_SPAWN_PAUSE_MS - 1, `waited only ${waited.toFixed(1)} ms`);
  // a lower bound is what the rule promises; the upper one only catches an uncapped pause
  // (150 ms more), leaving a busy machine's late timers 130 ms
  assert(waited < 150 + 150, `waited ${waited.toFixed(1)} ms: the pause was not capped`);
  await drain();
});
