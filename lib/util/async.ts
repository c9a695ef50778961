/**
 * Timing helpers that never leave a timer behind.
 *
 * @module
 */

/** Sleeps for `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves true as soon as `until` settles, or false after `ms`; the timer is
 * cleared either way.
 */
export function waitFor(until: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(t);
      resolve(true);
    };
    until.then(done, done);
  });
}
