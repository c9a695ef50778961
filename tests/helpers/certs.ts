/**
 * Throwaway certificates made with openssl at test time: a CA, a server
 * leaf for localhost/127.0.0.1, and a client leaf for mutual TLS.
 *
 * @module
 */

/** Paths and PEM texts of one certificate set. */
export interface CertSet {
  /** Directory holding every file (remove it when done). */
  dir: string;
  /** CA certificate path. */
  caFile: string;
  /** Server certificate path. */
  certFile: string;
  /** Server key path. */
  keyFile: string;
  /** Client certificate path (signed by the CA). */
  clientCertFile: string;
  /** Client key path. */
  clientKeyFile: string;
  /** CA PEM. */
  ca: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Makes a CA plus server and client certificates; `serverName` goes into the subject. */
export async function makeCerts(serverName = "localhost"): Promise<CertSet> {
  const dir = await Deno.makeTempDir({ prefix: "wsd-certs-" });
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=wsd-test-ca",
  ], dir);
  const leaf = async (name: string, ext: string) => {
    await Deno.writeTextFile(`${dir}/${name}.ext`, ext);
    await openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name === "server" ? serverName : "wsd-test-client"}`,
    ], dir);
    await openssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ], dir);
  };
  await leaf(
    "server",
    `basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:${serverName},DNS:localhost,IP:127.0.0.1\n`,
  );
  await leaf("client", "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n");
  return {
    dir,
    caFile: `${dir}/ca.pem`,
    certFile: `${dir}/server.pem`,
    keyFile: `${dir}/server.key`,
    clientCertFile: `${dir}/client.pem`,
    clientKeyFile: `${dir}/client.key`,
    ca: await Deno.readTextFile(`${dir}/ca.pem`),
  };
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
  return new TextDecoder().decode((await cmd.output()).stdout).trim();
}
