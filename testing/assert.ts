/**
 * Assertions for tests, on top of `node:assert/strict` (jsr:@std/assert is
 * unreachable from here).
 *
 * @module
 */

import nodeAssert from "node:assert/strict";

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Truthiness. */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/** Regular-expression match. */
export function assertMatch(actual: string, re: RegExp, message?: string): void {
  nodeAssert.match(actual, re, message);
}

/** A number within [min, max]. */
export function assertBetween(actual: number, min: number, max: number, what = "value"): void {
  nodeAssert.ok(actual >= min && actual <= max, `${what} ${actual} not within [${min}, ${max}]`);
}
