/**
 * Program starts take turns, one timer tick apart.
 *
 * @module
 */

let spawnQueue: Promise<void> = Promise.resolve();

/**
 * Waits for this program start's turn. A start blocks the event loop while
 * Deno forks and execs; a burst of handshakes starting back to back would
 * freeze every live session for the whole burst. Taking turns a timer tick
 * apart lets their I/O run between the starts.
 */
export function spawnTurn(): Promise<void> {
  const turn = spawnQueue.then(() => {});
  // the gap follows each start, so a lone handshake never waits for a timer
  spawnQueue = turn.then(() => new Promise<void>((r) => setTimeout(r, 0)));
  return turn;
}
