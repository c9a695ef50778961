/**
 * The narrowest Deno permission flags a configuration needs. Used by
 * `deno task compile` (baked into the binary) and printed for systemd units.
 *
 * @module
 */

import { type Config, startsPrograms } from "./config.ts";
import { authWorkerReadPath } from "../http/auth.ts";
import { SETSID_PATHS } from "../process/groups.ts";

/** Options that widen the grant on purpose. */
export interface GrantOptions {
  /**
   * Grant unscoped `--allow-run` so stop signals reach each program's whole
   * process group (a scoped grant can only signal the program itself).
   */
  groupSignals?: boolean;
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Executable regular files under a directory, recursively (for --dir / --cgidir grants). */
export function executablesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = `${d}/${e.name}`;
      const info = Deno.statSync(p);
      if (info.isDirectory) walk(p);
      else if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) out.push(Deno.realPathSync(p));
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * Derives `--allow-*` flags for a validated configuration. Paths in the
 * configuration must already be absolute (as the compile script bakes them).
 */
export function permissionFlags(config: Config, opts: GrantOptions = {}): string[] {
  const net = new Set<string>();
  const ports = [config.port, ...(config.redirPort > 0 ? [config.redirPort] : [])];
  if (config.tcp) {
    for (const port of ports) {
      if (config.addresses.length === 0) {
        // no --address: node listens on "::" (dual stack), or 0.0.0.0 without IPv6
        net.add(hostPort("::", port));
        net.add(hostPort("0.0.0.0", port));
      }
      for (const a of config.addresses) net.add(hostPort(a, port));
    }
  }
  const read = new Set<string>();
  const write = new Set<string>();
  const run = new Set<string>();
  if (config.unixSocket) {
    net.add(`unix:${config.unixSocket}`);
    read.add(config.unixSocket);
    write.add(config.unixSocket);
  }
  if (config.command) {
    run.add(config.command.path);
    read.add(config.command.path);
  }
  for (const dir of [config.dir, config.cgiDir]) {
    if (!dir) continue;
    read.add(dir);
    for (const exe of executablesUnder(dir)) run.add(exe);
  }
  if (config.staticDir) read.add(config.staticDir);
  for (const f of config.authFiles) read.add(f);
  // password checks run in a worker, which loads our own code
  const worker = config.auth?.users.length ? authWorkerReadPath() : null;
  if (worker) read.add(worker);
  if (config.tls) {
    read.add(config.tls.certFile);
    read.add(config.tls.keyFile);
    if (config.tls.caFile) read.add(config.tls.caFile);
  }
  const env = new Set(config.passEnv.filter((n) => n !== "" && n !== "HTTPS"));
  env.add("PATH");
  // node:child_process reads it on every start (see prepareSpawning)
  if (startsPrograms(config)) env.add("NODE_V8_COVERAGE");
  const flags: string[] = [];
  // reverse lookups may ask about any client address
  flags.push(config.reverseLookup ? "--allow-net" : `--allow-net=${[...net].join(",")}`);
  if (opts.groupSignals) flags.push("--allow-run");
  else if (run.size) flags.push(`--allow-run=${[...run].join(",")}`);
  if (opts.groupSignals) {
    // /proc tells zombie group members from live ones; setsid(1) must be found to be used
    read.add("/proc");
    for (const p of SETSID_PATHS) read.add(p);
  }
  if (read.size) flags.push(`--allow-read=${[...read].join(",")}`);
  if (write.size) flags.push(`--allow-write=${[...write].join(",")}`);
  flags.push(`--allow-env=${[...env].join(",")}`);
  return flags;
}
