/**
 * Throwaway certificates made with openssl at test time, for every test that
 * needs TLS (ours, and the e2e tests behind Apache, nginx and systemd): a CA,
 * a server leaf for localhost/127.0.0.1, a client leaf for mutual TLS, and
 * more server leaves on demand. P-256 keys: made in milliseconds, accepted
 * by every client and server here.
 *
 * @module
 */

const dec = new TextDecoder();

/** Paths and PEM texts of one certificate set. */
export interface CertSet {
  /** Directory holding every file (the caller's, or a temp dir to remove when done). */
  dir: string;
  /** openssl used to make it (for {@link makeLeaf}). */
  openssl: string;
  /** CA certificate path. */
  caFile: string;
  /** CA key path (to sign more leaves). */
  caKeyFile: string;
  /** Server certificate path (localhost, 127.0.0.1 and `serverName`). */
  certFile: string;
  /** Server key path. */
  keyFile: string;
  /** Client certificate path (signed by the CA, for mutual TLS). */
  clientCertFile: string;
  /** Client key path. */
  clientKeyFile: string;
  /** CA PEM text (for `caCerts`). */
  ca: string;
}

/** Options of {@link makeCerts}. */
export interface MakeCertsOptions {
  /** Where the files go; default a new temp dir. */
  dir?: string;
  /** The openssl binary; default `openssl` from PATH. */
  openssl?: string;
  /** A name the server certificate is for besides localhost; default `localhost`. */
  serverName?: string;
}

async function run(openssl: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(openssl, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(
      `openssl ${args.join(" ")} failed (${out.code}):\n${dec.decode(out.stdout)}${
        dec.decode(out.stderr)
      }`,
    );
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * Makes a CA plus a server and a client certificate signed by it. With
 * `await using`, a temp dir it made is removed at the end of the scope (a
 * `dir` of the caller's is left alone).
 */
export async function makeCerts(opts: MakeCertsOptions = {}): Promise<CertSet & AsyncDisposable> {
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "wsd-certs-" });
  const owned = opts.dir === undefined;
  const openssl = opts.openssl ?? "openssl";
  const serverName = opts.serverName ?? "localhost";
  await run(openssl, [
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=websocketd test throwaway CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  const ca = { dir, openssl, caFile: `${dir}/ca.crt`, caKeyFile: `${dir}/ca.key` };
  const sans = [...new Set([`DNS:${serverName}`, "DNS:localhost", "IP:127.0.0.1"])];
  const server = await makeLeaf(ca, { name: "server", cn: serverName, sans });
  const client = await makeLeaf(ca, { name: "client", cn: "wsd-test-client", client: true });
  return {
    ...ca,
    certFile: server.certFile,
    keyFile: server.keyFile,
    clientCertFile: client.certFile,
    clientKeyFile: client.keyFile,
    ca: await Deno.readTextFile(ca.caFile),
    async [Symbol.asyncDispose]() {
      if (owned) await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Options of {@link makeLeaf}. */
export interface LeafOptions {
  /** File base name: `NAME.crt` and `NAME.key` in the CA's directory. */
  name: string;
  /** Subject common name. */
  cn: string;
  /** subjectAltName entries (`DNS:…`, `IP:…`); none for a client certificate. */
  sans?: string[];
  /** A client certificate (clientAuth) instead of a server one (serverAuth). */
  client?: boolean;
}

/**
 * Signs one more leaf with the set's CA, marked `CA:FALSE` (strict clients
 * reject a CA certificate used as a server's) with a random serial.
 */
export async function makeLeaf(
  ca: Pick<CertSet, "dir" | "openssl" | "caFile" | "caKeyFile">,
  opts: LeafOptions,
): Promise<{ certFile: string; keyFile: string }> {
  const p = (ext: string) => `${ca.dir}/${opts.name}.${ext}`;
  await run(ca.openssl, [
    "req",
    "-new",
    ...EC_KEY,
    "-keyout",
    p("key"),
    "-out",
    p("csr"),
    "-subj",
    `/CN=${opts.cn}`,
  ], ca.dir);
  await Deno.writeTextFile(
    p("ext"),
    [
      ...(opts.sans?.length ? [`subjectAltName=${opts.sans.join(",")}`] : []),
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      `extendedKeyUsage=${opts.client ? "clientAuth" : "serverAuth"}`,
      "",
    ].join("\n"),
  );
  const serial = `0x${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await run(ca.openssl, [
    "x509",
    "-req",
    "-in",
    p("csr"),
    "-CA",
    ca.caFile,
    "-CAkey",
    ca.caKeyFile,
    "-set_serial",
    serial,
    "-days",
    "2",
    "-extfile",
    p("ext"),
    "-out",
    p("crt"),
  ], ca.dir);
  return { certFile: p("crt"), keyFile: p("key") };
}

/** The serial number of the certificate a TLS server presents (via openssl s_client). */
export async function servedSerial(port: number): Promise<string> {
  const cmd = new Deno.Command("sh", {
    args: [
      "-c",
      `echo | openssl s_client -connect 127.0.0.1:${port} -servername localhost 2>/dev/null | openssl x509 -noout -serial`,
    ],
    stdout: "piped",
    stderr: "null",
  });
  return dec.decode((await cmd.output()).stdout).trim();
}
