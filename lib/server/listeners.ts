/**
 * Opening listeners: TCP (plain or TLS), a Unix socket, the redirect port;
 * every failure as websocketd words it (a {@link ListenError}, exit 3).
 *
 * @module
 */

import http from "node:http";
import type https from "node:https";
import type { TlsConfig } from "../cli/config.ts";
import { respond } from "../http/respond.ts";
import { escapeHtml } from "../http/static.ts";

/** A listen failure, reported with websocketd's wording and exit status 3. */
export class ListenError extends Error {
  /** Create one. */
  constructor(message: string) {
    super(message);
    this.name = "ListenError";
  }
}

/** A node HTTP or HTTPS server. */
export type NodeServer = http.Server | https.Server;

/** Reads the PEM files of --sslcert/--sslkey/--sslca into node:https options. */
export function readTls(tls: TlsConfig): https.ServerOptions {
  try {
    return {
      cert: Deno.readTextFileSync(tls.certFile),
      key: Deno.readTextFileSync(tls.keyFile),
      ...(tls.caFile
        ? { ca: Deno.readTextFileSync(tls.caFile), requestCert: true, rejectUnauthorized: true }
        : {}),
    };
  } catch (e) {
    throw new ListenError(`reading TLS files: ${e instanceof Error ? e.message : e}`);
  }
}

/** A host as it appears in a URL (`[::1]` for IPv6). */
export function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Listens on a TCP port. */
export function listen(server: NodeServer, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const where = `${host ? hostForUrl(host) : ""}:${port}`;
      const why = e.code === "EADDRINUSE"
        ? "bind: address already in use"
        : e.code === "EACCES"
        ? "bind: permission denied"
        : e.message;
      reject(new ListenError(`listen tcp ${where}: ${why}`));
    };
    server.once("error", onError);
    try {
      server.listen(port, host, () => {
        server.off("error", onError);
        resolve();
      });
    } catch (e) {
      // permission errors are thrown, not emitted
      const where = `${host ? hostForUrl(host) : "[::]"}:${port}`;
      reject(new ListenError(`listen tcp ${where}: ${e instanceof Error ? e.message : e}`));
    }
  });
}

/** Listens on a Unix socket; a stale socket file is replaced, a live one is an error. */
export async function listenUnix(server: NodeServer, path: string): Promise<void> {
  let exists = false;
  try {
    Deno.lstatSync(path);
    exists = true;
  } catch { /* no file: fine */ }
  if (exists) {
    let live = false;
    try {
      (await Deno.connect({ transport: "unix", path })).close();
      live = true;
    } catch {
      Deno.removeSync(path); // nobody answers: stale
    }
    if (live) throw new ListenError(`socket ${path} is already in use by a running server`);
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(new ListenError(`listen unix ${path}: ${e.message}`)));
    try {
      server.listen(path, () => resolve());
    } catch (e) {
      reject(new ListenError(`listen unix ${path}: ${e instanceof Error ? e.message : e}`));
    }
  });
}

/**
 * `--redirport`: answers everything with 301 to the main port, as websocketd
 * does (path and query dropped; the Host's name, else the listen address),
 * through the one response writer.
 */
export function redirectServer(
  tls: boolean,
  port: number,
  host: string | undefined,
  extraHeaders: readonly (readonly [string, string])[],
): http.Server {
  return http.createServer((req, res) => {
    const hostHeader = req.headers.host ?? "";
    const name = hostHeader.startsWith("[")
      ? hostHeader.slice(0, hostHeader.indexOf("]") + 1)
      : hostHeader.split(":")[0];
    const target = `${tls ? "https" : "http"}://${name || host || "localhost"}:${port}/`;
    const page = `<a href="${escapeHtml(target)}">Moved Permanently</a>.\n`;
    const response = new Response(page, {
      status: 301,
      headers: { Location: target, "Content-Type": "text/html; charset=utf-8" },
    });
    respond(res, response, { method: req.method ?? "GET", extraHeaders, closeAfter: false })
      .catch(() => res.destroy());
  });
}
