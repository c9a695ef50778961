/**
 * htpasswd files as Apache writes them: parsing into entries, and checking a
 * password against one entry. Pure: no I/O, no state, synchronous (callers
 * decide which thread pays for the hashing).
 *
 * Accepted: bcrypt `$2y$`/`$2a$`/`$2b$` (`htpasswd -B`), MD5 `$apr1$`
 * (`htpasswd`, its default) and glibc's `$1$`, SHA-crypt `$5$`/`$6$`
 * (`htpasswd -2`/`-5`), and unsalted SHA-1 `{SHA}` (`htpasswd -s`, with a
 * warning). Refused: DES crypt (`htpasswd -d`) and plaintext (`htpasswd -p`).
 *
 * @module
 */

import apacheMd5 from "apache-md5";
import bcrypt from "bcryptjs";
import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import { encrypt as shaCrypt } from "unixcrypt";

/** The hash schemes we can verify. */
export type HtpasswdScheme =
  | "bcrypt"
  | "apr1"
  | "md5-crypt"
  | "sha256-crypt"
  | "sha512-crypt"
  | "sha1";

/** One usable line of an htpasswd file. */
export interface HtpasswdEntry {
  /** The user name (everything before the first `:`). */
  user: string;
  /** How `hash` was made. */
  scheme: HtpasswdScheme;
  /** The stored hash, exactly as in the file. */
  hash: string;
  /** 1-based line number, for messages. */
  line: number;
}

/** A parsed htpasswd file. */
export interface Htpasswd {
  /** Usable entries, in file order, one per user (the first, as Apache does). */
  entries: HtpasswdEntry[];
  /** Things an operator should hear about at startup; each names `file:line`. */
  warnings: string[];
}

/**
 * Highest SHA-crypt `rounds=` we accept. The spec allows 999,999,999, which
 * would make each login take many minutes of CPU; `htpasswd -r` defaults to
 * 5,000.
 */
export const MAX_SHA_CRYPT_ROUNDS = 10_000_000;

const B64 = "[./0-9A-Za-z]";
const BCRYPT = new RegExp(`^\\$2[aby]\\$(0[4-9]|[12]\\d|3[01])\\$${B64}{53}$`);
const MD5 = new RegExp(`^\\$(apr1|1)\\$${B64}{0,8}\\$${B64}{22}$`);
const SHA_CRYPT = new RegExp(`^\\$([56])\\$(?:rounds=(\\d{1,9})\\$)?${B64}{0,16}\\$(${B64}+)$`);
const SHA1 = /^\{SHA\}[A-Za-z0-9+/]{27}=$/;
const DES = new RegExp(`^${B64}{13}$`);

/**
 * Parses an htpasswd file's text. Blank lines and `#` comments are skipped,
 * as Apache does.
 *
 * @param text The file's contents.
 * @param file The file's name, for messages.
 * @throws {Error} `file:line: ...` for a line we will not use (plaintext, DES
 *   crypt, an unknown scheme), saying how to fix it.
 */
export function parseHtpasswd(text: string, file: string): Htpasswd {
  const entries: HtpasswdEntry[] = [];
  const warnings: string[] = [];
  const seen = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (!raw || raw.startsWith("#")) continue;
    const line = i + 1;
    const at = `${file}:${line}`;
    const colon = raw.indexOf(":");
    if (colon <= 0) {
      throw new Error(
        `${at}: not a "user:hash" line (create entries with: htpasswd -B ${file} USER)`,
      );
    }
    const user = raw.slice(0, colon);
    const hash = raw.slice(colon + 1);
    const fix = `recreate it with: htpasswd -B ${file} ${user}`;
    const scheme = schemeOf(hash);
    if (typeof scheme !== "string") throw new Error(`${at}: ${scheme.refused}; ${fix}`);
    const first = seen.get(user);
    if (first !== undefined) {
      // Apache stops at the first matching line; do the same, but say so
      warnings.push(`${at}: user "${user}" again; only the entry on line ${first} is used`);
      continue;
    }
    seen.set(user, line);
    if (scheme === "sha1") {
      warnings.push(
        `${at}: "${user}" has an unsalted SHA-1 ({SHA}) hash: accepted, but cheap to crack; ${fix}`,
      );
    }
    entries.push({ user, scheme, hash, line });
  }
  return { entries, warnings };
}

/** The scheme of a stored hash, or why it is refused. */
function schemeOf(hash: string): HtpasswdScheme | { refused: string } {
  if (BCRYPT.test(hash)) return "bcrypt";
  const md5 = MD5.exec(hash);
  if (md5) return md5[1] === "apr1" ? "apr1" : "md5-crypt";
  const sha = SHA_CRYPT.exec(hash);
  if (sha) {
    const rounds = sha[2] === undefined ? 5000 : Number(sha[2]);
    const len = sha[1] === "5" ? 43 : 86;
    if (sha[3]!.length !== len) return { refused: `malformed $${sha[1]}$ SHA-crypt hash` };
    // crypt(3) never writes fewer than 1000, so such a hash cannot match anything
    if (rounds < 1000 || rounds > MAX_SHA_CRYPT_ROUNDS) {
      return { refused: `SHA-crypt rounds=${rounds} outside 1000..${MAX_SHA_CRYPT_ROUNDS}` };
    }
    return sha[1] === "5" ? "sha256-crypt" : "sha512-crypt";
  }
  if (SHA1.test(hash)) return "sha1";
  if (DES.test(hash)) {
    return {
      refused:
        "DES crypt hash (htpasswd -d), refused: only the first 8 characters of a password count",
    };
  }
  if (hash.startsWith("$")) {
    return { refused: `unsupported hash scheme "${hash.slice(0, hash.indexOf("$", 1) + 1)}"` };
  }
  return {
    refused: "plaintext password (htpasswd -p), refused: anyone who reads the file can log in",
  };
}

const utf8 = new TextEncoder();

// the package is CommonJS (`module.exports = fn`), which its typings describe as an ES default
const aprMd5 = apacheMd5 as unknown as (password: string, salt: string) => string;

/** Equality whose time depends only on the lengths, which are public (the file's format). */
function sameString(a: string, b: string): boolean {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Checks a password against one entry. Synchronous and CPU-bound on purpose
 * (bcrypt at cost 10 is ~100 ms): run it off the event loop.
 *
 * @param entry The stored scheme and hash.
 * @param password The password as sent (it is hashed as UTF-8, which is what
 *   `htpasswd` stores for a UTF-8 terminal).
 */
export function verify(entry: Pick<HtpasswdEntry, "scheme" | "hash">, password: string): boolean {
  const { scheme, hash } = entry;
  switch (scheme) {
    case "bcrypt":
      return bcrypt.compareSync(password, hash);
    case "apr1":
    case "md5-crypt": {
      // apache-md5 hashes each UTF-16 unit as one byte: hand it the UTF-8 bytes, one per unit
      const bytes = Buffer.from(password, "utf8").toString("latin1");
      return sameString(aprMd5(bytes, hash), hash);
    }
    case "sha256-crypt":
    case "sha512-crypt":
      return sameString(shaCrypt(password, hash.slice(0, hash.lastIndexOf("$"))), hash);
    case "sha1":
      return sameString(`{SHA}${createHash("sha1").update(password).digest("base64")}`, hash);
  }
}

/** What a check against `entry` costs: entries with the same key take the same time. */
function costKey(entry: Pick<HtpasswdEntry, "scheme" | "hash">): string {
  if (entry.scheme === "bcrypt") return `bcrypt ${entry.hash.slice(4, 6)}`;
  const rounds = /^\$[56]\$rounds=(\d+)\$/.exec(entry.hash);
  return `${entry.scheme} ${rounds ? Number(rounds[1]) : ""}`;
}

function randomChars(n: number): string {
  const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => alphabet[b & 63]).join("");
}

/**
 * A hash that no password matches, costing what the file's most common kind
 * of entry costs: unknown users are checked against it, so timing does not
 * reveal who exists.
 *
 * @param entries The file's entries (not empty).
 */
export function decoyFor(
  entries: readonly HtpasswdEntry[],
): Pick<HtpasswdEntry, "scheme" | "hash"> {
  const counts = new Map<string, { n: number; entry: HtpasswdEntry }>();
  for (const e of entries) {
    const c = counts.get(costKey(e)) ?? { n: 0, entry: e };
    c.n++;
    counts.set(costKey(e), c);
  }
  const model = [...counts.values()].reduce((a, b) => (b.n > a.n ? b : a)).entry;
  const { scheme, hash } = model;
  // random salt and digest: same work as the model, and a 2^-128 chance of any match
  switch (scheme) {
    case "bcrypt":
      return { scheme, hash: hash.slice(0, 7) + randomChars(53) };
    case "apr1":
    case "md5-crypt":
      return {
        scheme,
        hash: `${hash.slice(0, hash.indexOf("$", 1) + 1)}${randomChars(8)}$${randomChars(22)}`,
      };
    case "sha256-crypt":
    case "sha512-crypt": {
      const prefix = /^\$[56]\$(?:rounds=\d+\$)?/.exec(hash)![0];
      const len = scheme === "sha256-crypt" ? 43 : 86;
      return { scheme, hash: `${prefix}${randomChars(16)}$${randomChars(len)}` };
    }
    case "sha1": {
      const digest = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(20))));
      return { scheme, hash: `{SHA}${digest}` };
    }
  }
}
