/**
 * Program starts take turns and, in a burst, leave live sessions half the
 * event loop.
 *
 * @module
 */

/** Longest pause after a start (a start delayed by a GC pause should not idle the queue). */
export const MAX_SPAWN_PAUSE_MS = 20;

let spawnQueue: Promise<void> = Promise.resolve();
let waiting = 0;

/**
 * Waits for this program start's turn. A start blocks the event loop until
 * the child has exec'd: 1-2 ms here, 4-5 ms while a burst of children compete
 * for the CPU. Started back to back, a burst of handshakes would let a live
 * session answer one message per start, and its replies would fall further
 * behind with each one (measured: p99 1 s behind 200 handshakes). So when
 * another start is waiting, each start is followed by a pause as long as it
 * took, up to {@link MAX_SPAWN_PAUSE_MS}: a burst uses at most half the event
 * loop, and a lone handshake never waits.
 */
export function spawnTurn(): Promise<void> {
  waiting++;
  const turn = spawnQueue.then(() => {
    waiting--;
  });
  spawnQueue = turn.then(async () => {
    const granted = performance.now();
    // the start runs after this callback returns; the timer fires once it is done
    await new Promise<void>((r) => setTimeout(r, 0));
    if (waiting === 0) return;
    // as long again, not less: half as long still left a live session 0.16-0.54 s behind
    // a burst of 200 (bench/RESULTS.md)
    const pause = Math.min(performance.now() - granted, MAX_SPAWN_PAUSE_MS);
    if (pause >= 1) await new Promise<void>((r) => setTimeout(r, pause));
  });
  return turn;
}
