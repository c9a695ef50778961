/**
 * What the route needs from credential checking, whatever does the checking.
 *
 * @module
 */

/** The outcome of one check. */
export type AuthOutcome =
  | { ok: true; type: "Basic" | "Bearer"; user: string }
  | { ok: false; why: "missing" | "invalid" | "busy" };

/** Checks a request's credentials. */
export interface CredentialCheck {
  /** The WWW-Authenticate value of a 401. */
  readonly challenge: string;
  /**
   * Checks `Authorization` (Basic or Bearer) or a bearer token in the
   * `access_token` query parameter (browsers cannot set headers on a WebSocket).
   */
  check(authorization: string | undefined, query: string): Promise<AuthOutcome>;
  /** Releases what the checker holds (a worker); idempotent. */
  close(): void;
}
