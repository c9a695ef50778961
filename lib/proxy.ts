/**
 * `--trust-proxy`: believe `Forwarded` (RFC 7239) or `X-Forwarded-*` headers,
 * but only from peers we trust, and only up to the right-most hop we do not
 * trust (everything left of it could have been written by the client).
 *
 * @module
 */

/** A parsed address range. */
interface Range {
  bytes: Uint8Array;
  prefix: number;
}

/** Parses an IPv4 or IPv6 address into 4 or 16 bytes; null if it is neither. */
export function parseIp(text: string): Uint8Array | null {
  const s = text.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) {
    const parts = s.split(".").map(Number);
    return parts.every((p) => p <= 255) ? new Uint8Array(parts) : null;
  }
  if (!s.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(s)) return null;
  let head = s;
  let v4: number[] = [];
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    const tail = parseIp(s.slice(lastColon + 1));
    if (!tail || tail.length !== 4) return null;
    v4 = [...tail];
    head = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - left.length - right.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) return null;
  const all = [...left, ...Array(halves.length === 2 ? fill : 0).fill("0"), ...right];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = all[i]!;
    if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return null;
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  }
  if (v4.length) out.set(v4, 12);
  return out;
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) as plain IPv4, so one rule covers both. */
function normalize(ip: Uint8Array): Uint8Array {
  if (
    ip.length === 16 && ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff &&
    ip[11] === 0xff
  ) return ip.slice(12);
  return ip;
}

/** A set of trusted proxy addresses and ranges. */
export class TrustedProxies {
  #ranges: Range[];

  /** @throws {Error} with a message naming the bad entry. */
  constructor(list: string) {
    this.#ranges = list.split(",").map((e) => e.trim()).filter(Boolean).map((entry) => {
      const [addr, bits] = entry.split("/");
      const ip = parseIp(addr!);
      if (!ip) throw new Error(`--trust-proxy: '${entry}' is not an IP address or CIDR range`);
      const bytes = normalize(ip);
      const max = bytes.length * 8;
      const prefix = bits === undefined ? max : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || bits === "") {
        throw new Error(`--trust-proxy: '${entry}' has a bad prefix length`);
      }
      return { bytes, prefix: bytes.length === 4 && ip.length === 16 ? prefix - 96 : prefix };
    });
  }

  /** Whether an address is trusted. */
  has(address: string): boolean {
    const parsed = parseIp(address);
    if (!parsed) return false;
    const ip = normalize(parsed);
    return this.#ranges.some((r) => {
      if (r.bytes.length !== ip.length) return false;
      let bits = r.prefix;
      for (let i = 0; bits > 0; i++, bits -= 8) {
        const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
        if ((ip[i]! & mask) !== (r.bytes[i]! & mask)) return false;
      }
      return true;
    });
  }
}

/** What the original client used, as reported by trusted proxies. */
export interface ForwardedFacts {
  /** Client address. */
  addr: string;
  /** Client port, or "" when not reported. */
  port: string;
  /** Whether the client used TLS, when reported. */
  tls?: boolean;
  /** Host the client asked for, when reported. */
  host?: string;
}

interface Hop {
  node: string;
  proto?: string;
  host?: string;
}

function unquote(v: string): string {
  const t = v.trim();
  return t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).replace(/\\(.)/g, "$1") : t;
}

/** Splits a node (`1.2.3.4:80`, `[::1]:80`, `::1`, `unknown`) into address and port. */
function splitNode(node: string): { addr: string; port: string } {
  if (node.startsWith("[")) {
    const end = node.indexOf("]");
    const rest = node.slice(end + 1);
    return { addr: node.slice(1, end), port: rest.startsWith(":") ? rest.slice(1) : "" };
  }
  const colons = node.split(":").length - 1;
  if (colons === 1) {
    const [a, p] = node.split(":");
    return { addr: a!, port: p! };
  }
  return { addr: node, port: "" };
}

function headerList(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  }
  return out;
}

function hops(raw: string[]): Hop[] {
  const forwarded = headerList(raw, "forwarded");
  if (forwarded.length) {
    return forwarded.join(",").split(",").map((element) => {
      const hop: Hop = { node: "" };
      for (const pair of element.split(";")) {
        const eq = pair.indexOf("=");
        if (eq < 0) continue;
        const key = pair.slice(0, eq).trim().toLowerCase();
        const value = unquote(pair.slice(eq + 1));
        if (key === "for") hop.node = value;
        else if (key === "proto") hop.proto = value.toLowerCase();
        else if (key === "host") hop.host = value;
      }
      return hop;
    });
  }
  const split = (name: string) =>
    headerList(raw, name).join(",").split(",").map((s) => s.trim()).filter(Boolean);
  const xff = split("x-forwarded-for");
  if (!xff.length) return [];
  const protos = split("x-forwarded-proto");
  const hosts = split("x-forwarded-host");
  // proto/host lists line up with the address list when every proxy appended; else the
  // nearest (right-most) proxy's value is the only one we can attribute
  const pick = (list: string[], i: number) =>
    list.length === xff.length ? list[i] : list.length ? list[list.length - 1] : undefined;
  return xff.map((node, i) => ({
    node,
    proto: pick(protos, i)?.toLowerCase(),
    host: pick(hosts, i),
  }));
}

/**
 * The original client as reported by trusted proxies, or null when the peer
 * is not trusted or reported nothing usable.
 */
export function forwardedClient(
  trusted: TrustedProxies,
  peer: string,
  rawHeaders: string[],
): ForwardedFacts | null {
  if (!trusted.has(peer)) return null;
  const list = hops(rawHeaders);
  if (!list.length) return null;
  // walk from the nearest hop outwards; the first hop we do not trust is the client
  let chosen = list[0]!;
  for (let i = list.length - 1; i >= 0; i--) {
    chosen = list[i]!;
    const { addr } = splitNode(chosen.node);
    if (!trusted.has(addr)) break;
  }
  const { addr, port } = splitNode(chosen.node);
  if (!parseIp(addr)) return null;
  const facts: ForwardedFacts = { addr: addr.replace(/^\[|\]$/g, ""), port };
  if (chosen.proto) facts.tls = chosen.proto === "https" || chosen.proto === "wss";
  if (chosen.host) facts.host = chosen.host;
  return facts;
}
