/**
 * `--maxforks`: one counting semaphore shared by WebSocket programs and CGI
 * scripts. Taking a slot never waits: a full server answers 429 at once.
 *
 * @module
 */

/** A non-blocking counting semaphore. */
export class ForkSlots {
  #max: number;
  #used = 0;

  /** @param max Most slots; 0 = unlimited. */
  constructor(max: number) {
    this.#max = max;
  }

  /** Takes a slot; returns a release function (idempotent), or null when full. */
  tryAcquire(): (() => void) | null {
    if (this.#max > 0 && this.#used >= this.#max) return null;
    this.#used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used--;
    };
  }

  /** Slots in use. */
  get used(): number {
    return this.#used;
  }
}
