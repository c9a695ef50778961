/**
 * `--trust-proxy` and `--trust-proxy-headers`: believe what a proxy says
 * about the client, but only from peers we trust, only in the headers the
 * operator says the proxy writes, and only values that parse.
 *
 * Why the header list: a proxy passes on whatever headers the client sent
 * except those it sets itself. nginx (as docs/deploy configures it) sets
 * `X-Forwarded-For` and `X-Forwarded-Proto`; Apache appends to
 * `X-Forwarded-For` and `X-Forwarded-Host` and passes a client's
 * `X-Forwarded-Proto` and `Forwarded` through untouched. So the default
 * believes `X-Forwarded-For` only, and the client address is the right-most
 * entry that is not a trusted proxy (everything left of it could have been
 * written by the client). Every value that comes out is a plain IP literal, a
 * port of digits, a host of DNS/IP characters: nothing else reaches the
 * environment or the log.
 *
 * @module
 */

/** The headers `--trust-proxy-headers` may name. */
export const PROXY_HEADERS = [
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "forwarded",
] as const;

/** One of {@link PROXY_HEADERS}. */
export type ProxyHeader = typeof PROXY_HEADERS[number];

/** A parsed address range. */
interface Range {
  bytes: Uint8Array;
  prefix: number;
}

/**
 * Parses an IPv4 or IPv6 literal into 4 or 16 bytes; null if it is neither.
 * Brackets around IPv6 are allowed; zone ids (`%eth0`) are not.
 */
export function parseIp(text: string): Uint8Array | null {
  const s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
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
  if ((halves.length === 1 && fill !== 0) || fill < 0 || (halves.length === 2 && fill < 1)) {
    return null;
  }
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
      // The prefix counts bits of the address as written. An IPv4-mapped entry
      // (::ffff:a.b.c.d/N) is the IPv4 range /N-96, so N must be 96-128: a shorter one
      // would cover every IPv4 client.
      const mapped = bytes.length === 4 && ip.length === 16;
      const max = ip.length * 8;
      const prefix = bits === undefined ? max : Number(bits);
      if (
        !Number.isInteger(prefix) || prefix < (mapped ? 96 : 0) || prefix > max || bits === ""
      ) {
        throw new Error(`--trust-proxy: '${entry}' has a bad prefix length`);
      }
      return { bytes, prefix: mapped ? prefix - 96 : prefix };
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

/** What `--trust-proxy` and `--trust-proxy-headers` configure. */
export interface ProxyTrust {
  /** Peers whose headers are believed. */
  proxies: TrustedProxies;
  /** The headers those peers write (default: `x-forwarded-for` only). */
  headers: ReadonlySet<ProxyHeader>;
}

/**
 * Reads `--trust-proxy-headers`: a comma list of {@link PROXY_HEADERS};
 * `forwarded` stands alone (RFC 7239 carries address, scheme and host itself).
 * @throws {Error} naming the bad entry.
 */
export function parseProxyHeaders(list: string): Set<ProxyHeader> {
  const out = new Set<ProxyHeader>();
  for (const raw of list.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    if (!(PROXY_HEADERS as readonly string[]).includes(raw)) {
      throw new Error(
        `--trust-proxy-headers: '${raw}' is not one of ${PROXY_HEADERS.join(", ")}`,
      );
    }
    out.add(raw as ProxyHeader);
  }
  if (out.has("forwarded") && out.size > 1) {
    throw new Error("--trust-proxy-headers: 'forwarded' cannot be combined with X-Forwarded-*");
  }
  if (!out.has("forwarded") && !out.has("x-forwarded-for")) {
    throw new Error("--trust-proxy-headers: name x-forwarded-for or forwarded");
  }
  return out;
}

/** What the original client used, as reported by trusted proxies. */
export interface ForwardedFacts {
  /** Client address (an IP literal). */
  addr: string;
  /** Client port (digits), or "" when not reported. */
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

/**
 * Splits a node (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`) into a valid IP
 * literal and port; null for anything else (`unknown`, obfuscated names,
 * zones, ports that are not 1-65535).
 */
export function parseNode(node: string): { addr: string; port: string } | null {
  let addr = node;
  let port = "";
  if (node.startsWith("[")) {
    const end = node.indexOf("]");
    if (end < 0) return null;
    addr = node.slice(1, end);
    const rest = node.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return null;
      port = rest.slice(1);
    }
  } else if (node.split(":").length === 2) {
    [addr, port] = node.split(":") as [string, string];
  }
  if (port !== "" && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    return null;
  }
  const ip = parseIp(addr);
  if (!ip) return null;
  // only IP characters reach REMOTE_ADDR; IPv4 (also IPv4-mapped) in its plain dotted form
  const plain = normalize(ip);
  return { addr: plain.length === 4 ? plain.join(".") : addr.toLowerCase(), port };
}

/** Whether a host value (`name`, `name:port`, `[v6]:port`) is safe to believe. */
function validHost(host: string): boolean {
  return /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(host);
}

function headerList(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  }
  return out;
}

function commaList(raw: string[], name: string): string[] {
  return headerList(raw, name).join(",").split(",").map((s) => s.trim()).filter(Boolean);
}

/** RFC 7239 elements, each proxy's own statement about the hop it received from. */
function forwardedHops(raw: string[]): Hop[] {
  return commaList(raw, "forwarded").map((element) => {
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

/**
 * The original client as reported by trusted proxies, or null when the peer
 * is not trusted or reported nothing usable.
 */
export function forwardedClient(
  trust: ProxyTrust,
  peer: string,
  rawHeaders: string[],
): ForwardedFacts | null {
  if (!trust.proxies.has(peer)) return null;
  const useForwarded = trust.headers.has("forwarded");
  const hops: Hop[] = useForwarded
    ? forwardedHops(rawHeaders)
    : commaList(rawHeaders, "x-forwarded-for").map((node) => ({ node }));
  if (!hops.length) return null;
  // walk from the nearest hop outwards; the first hop we do not trust is the client
  let chosen = hops[0]!;
  for (let i = hops.length - 1; i >= 0; i--) {
    chosen = hops[i]!;
    const node = parseNode(chosen.node);
    if (!node || !trust.proxies.has(node.addr)) break;
  }
  const node = parseNode(chosen.node);
  if (!node) return null;
  const facts: ForwardedFacts = { ...node };
  let proto = chosen.proto;
  let host = chosen.host;
  if (!useForwarded) {
    // set or appended by the nearest proxy: its value is the right-most one
    if (trust.headers.has("x-forwarded-proto")) {
      proto = commaList(rawHeaders, "x-forwarded-proto").at(-1)?.toLowerCase();
    }
    if (trust.headers.has("x-forwarded-host")) {
      host = commaList(rawHeaders, "x-forwarded-host").at(-1);
    }
  }
  if (proto === "https" || proto === "wss") facts.tls = true;
  else if (proto === "http" || proto === "ws") facts.tls = false;
  if (host !== undefined && validHost(host)) facts.host = host;
  return facts;
}
