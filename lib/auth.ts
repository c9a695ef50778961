/**
 * Optional authentication: HTTP Basic against an htpasswd file (bcrypt
 * hashes) and bearer tokens from a file. Off unless a file is given.
 *
 * @module
 */

import bcrypt from "bcryptjs";
import { createHash, timingSafeEqual } from "node:crypto";
import type { AuthOutcome, CredentialCheck } from "./http/auth_check.ts";

/** Who authenticated, for AUTH_TYPE and REMOTE_USER. */
export interface AuthResult {
  /** `Basic` or `Bearer`. */
  type: string;
  /** User name (bearer tokens: the name in the token file, or `bearer`). */
  user: string;
}

/** Why a request was not authenticated. */
export interface AuthChallenge {
  /** Value for WWW-Authenticate. */
  challenge: string;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/** Loaded credentials. */
export class Authenticator {
  #users = new Map<string, string>();
  #tokens: { digest: Uint8Array; user: string }[] = [];
  // bcrypt is slow on purpose; remember recent successes so reconnects stay cheap
  #ok = new Map<string, { user: string; until: number }>();
  #dummy = "";

  /**
   * @param basicFile htpasswd file (`user:$2y$...` lines, made with `htpasswd -B`).
   * @param tokenFile One token per line, optionally `name:token`.
   * @throws {Error} naming the file and line of anything unusable.
   */
  constructor(basicFile?: string, tokenFile?: string) {
    if (basicFile) {
      const lines = Deno.readTextFileSync(basicFile).split("\n");
      lines.forEach((raw, i) => {
        const line = raw.trim();
        if (!line || line.startsWith("#")) return;
        const colon = line.indexOf(":");
        const hash = line.slice(colon + 1);
        if (colon <= 0 || !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
          throw new Error(
            `${basicFile}:${
              i + 1
            }: not a bcrypt htpasswd entry (create it with: htpasswd -B ${basicFile} USER)`,
          );
        }
        this.#users.set(line.slice(0, colon), hash);
      });
    }
    if (tokenFile) {
      const lines = Deno.readTextFileSync(tokenFile).split("\n");
      lines.forEach((raw) => {
        const line = raw.trim();
        if (!line || line.startsWith("#")) return;
        const colon = line.indexOf(":");
        const [user, token] = colon > 0
          ? [line.slice(0, colon), line.slice(colon + 1)]
          : ["bearer", line];
        if (token.length < 16) {
          throw new Error(`${tokenFile}: tokens must be at least 16 characters`);
        }
        this.#tokens.push({ digest: sha256(token), user });
      });
    }
    const first = this.#users.values().next().value;
    // unknown users are checked against this, at the same cost as real ones
    if (first) this.#dummy = bcrypt.hashSync(crypto.randomUUID(), Number(first.slice(4, 6)));
    if (basicFile && this.#users.size === 0 && !tokenFile) {
      throw new Error(`${basicFile}: no users`);
    }
  }

  /** The query parameter that may carry a bearer token, kept out of logs and programs. */
  get tokenParam(): string | null {
    return this.#tokens.length ? "access_token" : null;
  }

  /** The checker the server uses (same object: the checks run on the main thread). */
  start(): CredentialCheck {
    return {
      challenge: this.challenge,
      check: async (authorization, query): Promise<AuthOutcome> => {
        const who = await this.check(authorization, query);
        if (who) return { ok: true, type: who.type as "Basic" | "Bearer", user: who.user };
        return {
          ok: false,
          why: authorization || query.includes("access_token") ? "invalid" : "missing",
        };
      },
      close: () => {},
    };
  }

  /** The WWW-Authenticate challenge for a 401. */
  get challenge(): string {
    return this.#users.size
      ? 'Basic realm="websocketd", charset="UTF-8"'
      : 'Bearer realm="websocketd"';
  }

  /**
   * Checks a request's credentials: `Authorization: Basic|Bearer ...`, or a
   * bearer token in the `access_token` query parameter (browsers cannot set
   * headers on WebSocket handshakes).
   */
  async check(authorization: string | undefined, query: string): Promise<AuthResult | null> {
    let scheme = "";
    let cred = "";
    if (authorization) {
      const sp = authorization.indexOf(" ");
      scheme = authorization.slice(0, sp).toLowerCase();
      cred = authorization.slice(sp + 1).trim();
    } else {
      const token = new URLSearchParams(query).get("access_token");
      if (token) [scheme, cred] = ["bearer", token];
    }
    if (scheme === "bearer" && this.#tokens.length) {
      const d = sha256(cred);
      // compare against every token so timing does not tell which one matched
      let found: string | null = null;
      for (const t of this.#tokens) if (timingSafeEqual(t.digest, d)) found ??= t.user;
      return found ? { type: "Bearer", user: found } : null;
    }
    if (scheme === "basic" && this.#users.size) {
      const cached = this.#ok.get(cred);
      if (cached && cached.until > Date.now()) return { type: "Basic", user: cached.user };
      let decoded: string;
      try {
        decoded = new TextDecoder("utf-8", { fatal: true }).decode(
          Uint8Array.from(atob(cred), (c) => c.charCodeAt(0)),
        );
      } catch {
        return null;
      }
      const colon = decoded.indexOf(":");
      if (colon < 0) return null;
      const user = decoded.slice(0, colon);
      const hash = this.#users.get(user);
      // unknown users still pay for one bcrypt run, so timing does not reveal who exists
      const ok = await bcrypt.compare(decoded.slice(colon + 1), hash ?? this.#dummy);
      if (!ok || !hash) return null;
      if (this.#ok.size > 1000) this.#ok.clear();
      this.#ok.set(cred, { user, until: Date.now() + 60_000 });
      return { type: "Basic", user };
    }
    return null;
  }
}
