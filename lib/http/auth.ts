/**
 * Optional authentication: HTTP Basic against an htpasswd file and bearer
 * tokens from a file. Off unless a file is given.
 *
 * Password hashes are slow on purpose (bcrypt at cost 10: ~100 ms of CPU),
 * so they never run on the event loop when we can help it: an {@link AuthGate}
 * hands them to one Web Worker, runs at most {@link MAX_CHECKS_IN_FLIGHT} at
 * a time, lets at most {@link MAX_CHECKS_WAITING} wait, and answers `busy` at
 * once beyond that. The worker runs this same module (`import.meta.url`), so
 * it works from source, from the `deno bundle` file and from `deno compile`.
 * Where no worker can start (no read permission for the module, embedded
 * use), checks run on the main thread under the same bound.
 *
 * Bearer tokens are a SHA-256 and a constant-time compare: cheap, so they
 * stay on the main thread.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { decoyFor, parseHtpasswd, verify } from "./htpasswd.ts";
import type { HtpasswdEntry } from "./htpasswd.ts";

/** Password checks being computed at once (in the worker, or on the main thread). */
export const MAX_CHECKS_IN_FLIGHT = 2;
/** Password checks that may wait for a slot; one more answers `busy` (503) at once. */
export const MAX_CHECKS_WAITING = 64;
/** How long a successful Basic login is remembered, so reconnects cost no hashing. */
export const SUCCESS_CACHE_MS = 60_000;
/** Most remembered successes; the oldest is forgotten first. */
export const SUCCESS_CACHE_MAX = 1000;
/** How long the worker may take to load before we check on the main thread instead. */
export const WORKER_START_TIMEOUT_MS = 10_000;
/** Shortest bearer token we accept. */
export const MIN_TOKEN_LENGTH = 16;

/** The worker's name; the module's top level serves checks when it runs under it. */
const WORKER_NAME = "websocketd-auth";

/**
 * Whether this code runs inside the credential worker. In bundle form the
 * worker loads the whole bundle, where `import.meta.main` is true as well,
 * so the CLI entry must not start a server when this is true.
 */
export function isAuthWorker(): boolean {
  return "WorkerGlobalScope" in globalThis &&
    (globalThis as { name?: unknown }).name === WORKER_NAME;
}

/**
 * The directory the process must be allowed to read for the worker to start
 * (this module and its siblings, or the bundle's directory), or null when the
 * module is not a local file.
 */
export function authWorkerReadPath(): string | null {
  const url = new URL(".", import.meta.url);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname).replace(/\/$/, "") : null;
}

/** One bearer token, kept only as its SHA-256. */
export interface BearerToken {
  /** The name before `:` in the token file, or `bearer`. */
  user: string;
  /** SHA-256 of the token. */
  digest: Uint8Array;
}

/** Everything read from the credential files: plain data, safe to keep in a config. */
export interface Credentials {
  /** Entries of `--basic-auth-file`, one per user; empty without one. */
  users: HtpasswdEntry[];
  /** Tokens of `--bearer-token-file`; empty without one. */
  tokens: BearerToken[];
  /** For the startup log (weak hashes, duplicate users), each naming `file:line`. */
  warnings: string[];
}

const sha256 = (s: string): Uint8Array => createHash("sha256").update(s).digest();

function readText(file: string): string {
  try {
    return Deno.readTextFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read: ${e instanceof Error ? e.message : e}`);
  }
}

/**
 * Reads `--basic-auth-file` and `--bearer-token-file`.
 *
 * @throws {Error} naming `file:line` and how to fix it, for anything unusable
 *   (plaintext or DES entries, short tokens, a password file with no users).
 */
export function loadCredentials(files: { basicFile?: string; tokenFile?: string }): Credentials {
  const { basicFile, tokenFile } = files;
  const creds: Credentials = { users: [], tokens: [], warnings: [] };
  if (basicFile) {
    const parsed = parseHtpasswd(readText(basicFile), basicFile);
    creds.users = parsed.entries;
    creds.warnings.push(...parsed.warnings);
    if (!creds.users.length && !tokenFile) {
      throw new Error(`${basicFile}: no users (add one with: htpasswd -B ${basicFile} USER)`);
    }
  }
  if (tokenFile) {
    readText(tokenFile).split("\n").forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith("#")) return;
      const colon = line.indexOf(":");
      const [user, token] = colon > 0
        ? [line.slice(0, colon), line.slice(colon + 1)]
        : ["bearer", line];
      if (token.length < MIN_TOKEN_LENGTH) {
        throw new Error(
          `${tokenFile}:${i + 1}: tokens must be at least ${MIN_TOKEN_LENGTH} characters`,
        );
      }
      creds.tokens.push({ user, digest: sha256(token) });
    });
  }
  return creds;
}

/** The answer to one request's credentials. */
export type AuthOutcome =
  | {
    ok: true;
    /** For AUTH_TYPE. */
    type: "Basic" | "Bearer";
    /** For REMOTE_USER. */
    user: string;
    /** Where the credentials came from. */
    via: "header" | "query";
  }
  | {
    ok: false;
    /** `missing`/`invalid`: 401 with the challenge; `busy`: 503 with Retry-After. */
    why: "missing" | "invalid" | "busy";
  };

/** Where password hashes are computed; `none` without a password file. */
export type AuthExecutor = "worker" | "main thread" | "none";

type Hash = Pick<HtpasswdEntry, "scheme" | "hash">;
type VerifyRequest = Hash & { id: number; password: string };
type Reply = { id: number; ok: boolean } | { ready: true };

/** Options of {@link AuthGate.start}. */
export interface AuthGateOptions {
  /** False: never start a worker (embedded use, tests). Default true. */
  worker?: boolean;
}

/** Checks requests' credentials; made by the server from {@link Credentials}. */
export class AuthGate {
  #users = new Map<string, HtpasswdEntry>();
  #decoy: Hash | null = null;
  #tokens: BearerToken[];
  #ok = new Map<string, { user: string; until: number }>();
  #worker: Worker | null = null;
  #replies = new Map<number, (ok: boolean | "busy") => void>();
  #nextId = 0;
  #running = 0;
  #waiting: (() => void)[] = [];
  #closed = false;
  #executor: AuthExecutor = "none";
  #executorNote = "";

  private constructor(creds: Credentials) {
    for (const e of creds.users) this.#users.set(e.user, e);
    if (creds.users.length) this.#decoy = decoyFor(creds.users);
    this.#tokens = creds.tokens;
  }

  /**
   * Makes a gate and, with a password file, starts its worker; resolves once
   * the worker answers, or has failed and checks will run on the main thread.
   */
  static async start(creds: Credentials, options: AuthGateOptions = {}): Promise<AuthGate> {
    const gate = new AuthGate(creds);
    if (!gate.#users.size) return gate;
    gate.#executor = "main thread";
    if (options.worker === false) {
      gate.#executorNote = "worker disabled";
      return gate;
    }
    const dir = authWorkerReadPath();
    // ask first: a denied load is reported on stderr as an uncaught error, and a TTY would prompt
    if (dir && !Deno.build.standalone) {
      if (Deno.permissions.querySync({ name: "read", path: dir }).state !== "granted") {
        gate.#executorNote = `no read permission for ${dir} (grant --allow-read=${dir} ` +
          "to check passwords off the event loop)";
        return gate;
      }
    }
    try {
      gate.#worker = await startWorker((reply) => gate.#reply(reply), (why) => gate.#lost(why));
      gate.#executor = "worker";
    } catch (e) {
      gate.#executorNote = `worker could not start (${e instanceof Error ? e.message : e})`;
    }
    return gate;
  }

  /** Where password hashes are computed, for the startup log. */
  get executor(): AuthExecutor {
    return this.#executor;
  }

  /** Why the executor is the main thread (empty otherwise), for the startup log. */
  get executorNote(): string {
    return this.#executorNote;
  }

  /** The WWW-Authenticate value for a 401. */
  get challenge(): string {
    const basic = this.#users.size ? ['Basic realm="websocketd", charset="UTF-8"'] : [];
    const bearer = this.#tokens.length ? ['Bearer realm="websocketd"'] : [];
    return [...basic, ...bearer].join(", ");
  }

  /**
   * Checks a request's credentials: `Authorization: Basic|Bearer ...`, or a
   * bearer token in the `access_token` query parameter (browsers cannot set
   * headers on WebSocket handshakes). Never throws.
   *
   * @param authorization The Authorization header, if any.
   * @param query The query string (with or without `?`).
   */
  async check(authorization: string | undefined, query: string): Promise<AuthOutcome> {
    let scheme: string;
    let cred: string;
    let via: "header" | "query" = "header";
    if (authorization !== undefined) {
      // the credentials run to the end, as before: a token file may hold tokens with spaces
      const m = /^(\S+)\s+(.+)$/.exec(authorization.trim());
      if (!m) return { ok: false, why: "invalid" };
      scheme = m[1]!.toLowerCase();
      cred = m[2]!;
    } else {
      const token = new URLSearchParams(query).get("access_token");
      if (!token) return { ok: false, why: "missing" };
      [scheme, cred, via] = ["bearer", token, "query"];
    }
    if (scheme === "bearer" && this.#tokens.length) {
      const d = sha256(cred);
      // compare against every token so timing does not tell which one matched
      let found: string | null = null;
      for (const t of this.#tokens) if (timingSafeEqual(t.digest, d)) found ??= t.user;
      return found ? { ok: true, type: "Bearer", user: found, via } : { ok: false, why: "invalid" };
    }
    if (scheme === "basic" && this.#decoy) return await this.#basic(cred);
    return { ok: false, why: "invalid" };
  }

  async #basic(cred: string): Promise<AuthOutcome> {
    // the cache is keyed by a digest, so memory never holds the credentials themselves
    const key = createHash("sha256").update(cred).digest("base64");
    const cached = this.#ok.get(key);
    if (cached && cached.until > Date.now()) {
      return { ok: true, type: "Basic", user: cached.user, via: "header" };
    }
    if (cached) this.#ok.delete(key);
    let decoded: string;
    try {
      decoded = new TextDecoder("utf-8", { fatal: true }).decode(
        Uint8Array.from(atob(cred), (c) => c.charCodeAt(0)),
      );
    } catch {
      return { ok: false, why: "invalid" };
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) return { ok: false, why: "invalid" };
    const user = decoded.slice(0, colon);
    const entry = this.#users.get(user);
    // unknown users pay for one check of the file's usual kind: timing does not reveal who exists
    const ok = await this.#verify(entry ?? this.#decoy!, decoded.slice(colon + 1));
    if (ok === "busy") return { ok: false, why: "busy" };
    if (!ok || !entry) return { ok: false, why: "invalid" };
    if (this.#ok.size >= SUCCESS_CACHE_MAX) this.#ok.delete(this.#ok.keys().next().value!);
    this.#ok.set(key, { user, until: Date.now() + SUCCESS_CACHE_MS });
    return { ok: true, type: "Basic", user, via: "header" };
  }

  /** Runs one check within the bound. */
  async #verify(hash: Hash, password: string): Promise<boolean | "busy"> {
    if (this.#closed) return "busy";
    if (this.#running < MAX_CHECKS_IN_FLIGHT) this.#running++;
    else if (this.#waiting.length >= MAX_CHECKS_WAITING) return "busy";
    else await new Promise<void>((slot) => this.#waiting.push(slot));
    try {
      if (this.#closed) return "busy";
      if (this.#worker) {
        const id = this.#nextId++;
        const reply = new Promise<boolean | "busy">((r) => this.#replies.set(id, r));
        this.#worker.postMessage({ id, ...hash, password } satisfies VerifyRequest);
        return await reply;
      }
      // let pending I/O run between checks: each one holds the event loop while it hashes
      await new Promise((r) => setTimeout(r, 0));
      return this.#closed ? "busy" : verify(hash, password);
    } catch {
      return "busy";
    } finally {
      // hand the slot straight to the next waiter, so a newcomer cannot jump the queue
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }

  #reply(reply: Reply): void {
    if (!("id" in reply)) return;
    this.#replies.get(reply.id)?.(reply.ok);
    this.#replies.delete(reply.id);
  }

  /** The worker died after starting: answer its checks `busy`, continue on the main thread. */
  #lost(why: string): void {
    this.#worker?.terminate();
    this.#worker = null;
    for (const answer of this.#replies.values()) answer("busy");
    this.#replies.clear();
    if (!this.#closed) {
      this.#executor = "main thread";
      this.#executorNote = `worker failed (${why})`;
    }
  }

  /** Stops the worker; later checks answer `busy`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lost("closed");
    // each waiter gives a slot back when it returns, so count it as holding one
    for (const wake of this.#waiting.splice(0)) {
      this.#running++;
      wake();
    }
  }
}

/** Starts the worker; resolves when it says it is ready, rejects if it cannot load. */
function startWorker(onReply: (r: Reply) => void, onLost: (why: string) => void): Promise<Worker> {
  const { promise, resolve, reject } = Promise.withResolvers<Worker>();
  let worker: Worker;
  try {
    worker = new Worker(import.meta.url, { type: "module", name: WORKER_NAME });
  } catch (e) {
    return Promise.reject(e);
  }
  let ready = false;
  const timer = setTimeout(() => {
    worker.terminate();
    reject(new Error(`no answer within ${WORKER_START_TIMEOUT_MS} ms`));
  }, WORKER_START_TIMEOUT_MS);
  worker.onmessage = (e: MessageEvent<Reply>) => {
    if (!ready && "ready" in e.data) {
      ready = true;
      clearTimeout(timer);
      resolve(worker);
    } else onReply(e.data);
  };
  const fail = (why: string) => {
    if (ready) return onLost(why);
    clearTimeout(timer);
    worker.terminate();
    reject(new Error(why));
  };
  worker.onerror = (e) => {
    // unhandled, a worker error is rethrown in this thread and ends the process
    e.preventDefault();
    fail(e.message);
  };
  worker.onmessageerror = () => fail("unreadable message");
  return promise;
}

/** The worker's side: answers each request with the result of {@link verify}. */
function serveWorker(): void {
  const scope = globalThis as unknown as {
    onmessage: (e: MessageEvent<VerifyRequest>) => void;
    postMessage(reply: Reply): void;
  };
  scope.onmessage = ({ data }) => {
    let ok = false;
    try {
      ok = verify(data, data.password);
    } catch {
      // a hash the library rejects matches nothing
    }
    scope.postMessage({ id: data.id, ok });
  };
  scope.postMessage({ ready: true });
}

if (isAuthWorker()) serveWorker();
