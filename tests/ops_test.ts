/**
 * Operating it: metrics, health, JSON logs, certificate reload, auth, drain.
 */

import { assert, assertBetween, assertEquals, assertMatch } from "../testing/assert.ts";
import { makeCerts, servedSerial } from "./helpers/certs.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { marker, sleep, startServer, TESTPROG } from "../testing/server.ts";

/** Parses Prometheus text into `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

Deno.test("--metrics exposes sessions, exits, rejections, bytes and first-message latency", async () => {
  const m = marker();
  await using server = await startServer([
    "--metrics=/metrics",
    "--origin=good.example",
    TESTPROG,
    m,
    "exit",
    "3",
    "bye",
  ]);
  const ws = await RawWs.connect(server.port, { headers: { Origin: "http://good.example" } });
  assertEquals((await ws.collect()).end.type, "close");
  await ws.drop();
  const bad = await RawWs.connect(server.port, { headers: { Origin: "http://evil.example" } });
  await bad.drop();
  assertEquals(bad.response.status, 403);
  await server.waitLog(/DISCONNECT/);
  const res = await fetch(server.http("/metrics"));
  assertMatch(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const mm = parseMetrics(text);
  assertEquals(mm.get("websocketd_sessions_total"), 1);
  assertEquals(mm.get("websocketd_sessions_active"), 0);
  assertEquals(mm.get("websocketd_processes_running"), 0);
  assertEquals(mm.get('websocketd_program_exits_total{status="exit 3"}'), 1);
  assertEquals(mm.get('websocketd_rejections_total{status="403"}'), 1);
  assertEquals(mm.get("websocketd_messages_sent_total"), 1);
  assertEquals(mm.get("websocketd_stdout_bytes_total"), 4);
  assertEquals(mm.get("websocketd_first_message_seconds_count"), 1);
  assertEquals(mm.get('websocketd_first_message_seconds_bucket{le="+Inf"}'), 1);
  assert(text.includes("# TYPE websocketd_first_message_seconds histogram"));
});

Deno.test("--logformat=json writes one JSON object per line with stable fields", async () => {
  const m = marker();
  await using server = await startServer(["--logformat=json", TESTPROG, m, "exit", "0"], {
    ready: /"Starting WebSocket server/,
  });
  const ws = await RawWs.connect(server.port);
  await ws.collect();
  await ws.drop();
  await server.waitLog(/"DISCONNECT"/);
  const records = server.lines.map((l) => JSON.parse(l));
  for (const r of records) {
    assertMatch(r.time, /^\d{4}-\d\d-\d\dT/);
    assert(["info", "access", "error", "debug"].includes(r.level));
    assert(typeof r.category === "string" && typeof r.msg === "string");
  }
  const done = records.find((r) => r.msg === "DISCONNECT");
  assertEquals(done.category, "session");
  assertEquals(done.status, "exit 0");
  assertEquals(done.close, 1000);
  assertEquals(done.remote, "127.0.0.1");
  assertMatch(done.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert(Number.isInteger(done.pid));
  assertMatch(done.duration, /^\d+ms$/);
});

Deno.test("SIGHUP reloads the certificate: new handshakes see it, an open session keeps echoing", async () => {
  await using a = await makeCerts();
  await using b = await makeCerts();
  const dir = await Deno.makeTempDir();
  await Deno.copyFile(a.certFile, `${dir}/cert.pem`);
  await Deno.copyFile(a.keyFile, `${dir}/key.pem`);
  const m = marker();
  try {
    await using server = await startServer([
      "--ssl",
      `--sslcert=${dir}/cert.pem`,
      `--sslkey=${dir}/key.pem`,
      TESTPROG,
      m,
      "echo",
    ]);
    const before = await servedSerial(server.port);
    assertMatch(before, /^serial=/);
    const live = await RawWs.connect(server.port, { tls: { caCerts: [a.ca] } });
    await live.sendText("one");
    assertEquals(await live.text(), "one");
    await Deno.copyFile(b.certFile, `${dir}/cert.pem`);
    await Deno.copyFile(b.keyFile, `${dir}/key.pem`);
    server.kill("SIGHUP");
    await server.waitLog(/Reloaded TLS certificate/);
    const after = await servedSerial(server.port);
    assert(after !== before, `serial unchanged: ${after}`);
    const fresh = await RawWs.connect(server.port, { tls: { caCerts: [b.ca] } });
    assertEquals(fresh.response.status, 101);
    await fresh.close();
    await live.sendText("two");
    assertEquals(await live.text(), "two");
    await live.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("basic and bearer auth: 401 with a challenge, AUTH_TYPE and REMOTE_USER for the program", async () => {
  const dir = await Deno.makeTempDir();
  const htpasswd = `${dir}/htpasswd`;
  const made = await new Deno.Command("htpasswd", {
    args: ["-cbB", "-C", "5", htpasswd, "alice", "s3cret"],
    stderr: "null",
  }).output();
  assert(made.success, "htpasswd -B failed");
  await Deno.writeTextFile(`${dir}/tokens`, "robot:0123456789abcdef0123\n");
  const m = marker();
  try {
    await using server = await startServer([
      `--basic-auth-file=${htpasswd}`,
      `--bearer-token-file=${dir}/tokens`,
      "--health=/healthz",
      TESTPROG,
      m,
      "env",
    ]);
    const none = await RawWs.connect(server.port);
    await none.drop();
    assertEquals(none.response.status, 401);
    assertMatch(none.response.headers.get("www-authenticate")!, /^Basic realm="websocketd"/);
    const wrong = await RawWs.connect(server.port, {
      headers: { Authorization: `Basic ${btoa("alice:nope")}` },
    });
    await wrong.drop();
    assertEquals(wrong.response.status, 401);
    const ghost = await RawWs.connect(server.port, {
      headers: { Authorization: `Basic ${btoa("mallory:s3cret")}` },
    });
    await ghost.drop();
    assertEquals(ghost.response.status, 401);

    const ok = await RawWs.connect(server.port, {
      headers: { Authorization: `Basic ${btoa("alice:s3cret")}` },
    });
    assertEquals(ok.response.status, 101);
    const env = (await ok.collect()).texts;
    await ok.drop();
    assert(env.includes("AUTH_TYPE=Basic") && env.includes("REMOTE_USER=alice"), env.join("\n"));

    const token = await RawWs.connect(server.port, { path: "/?access_token=0123456789abcdef0123" });
    assertEquals(token.response.status, 101);
    const env2 = (await token.collect()).texts;
    await token.drop();
    assert(env2.includes("AUTH_TYPE=Bearer") && env2.includes("REMOTE_USER=robot"));
    const badToken = await RawWs.connect(server.port, {
      headers: { Authorization: "Bearer 0123456789abcdef0124" },
    });
    await badToken.drop();
    assertEquals(badToken.response.status, 401);
    // plain HTTP is not covered without --auth-http; health never is
    const plain = await fetch(server.http("/"));
    await plain.body?.cancel();
    assertEquals(plain.status, 404);
    const health = await fetch(server.http("/healthz"));
    assertEquals(health.status, 200);
    assertEquals((await health.json()).status, "ok");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--auth-http also protects plain HTTP, metrics included", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/tokens`, "0123456789abcdef0123\n");
  const m = marker();
  try {
    await using server = await startServer([
      `--bearer-token-file=${dir}/tokens`,
      "--auth-http",
      "--metrics=/metrics",
      TESTPROG,
      m,
      "echo",
    ]);
    const anon = await fetch(server.http("/metrics"));
    await anon.body?.cancel();
    assertEquals(anon.status, 401);
    assertEquals(anon.headers.get("www-authenticate"), 'Bearer realm="websocketd"');
    const authed = await fetch(server.http("/metrics"), {
      headers: { Authorization: "Bearer 0123456789abcdef0123" },
    });
    assertEquals(authed.status, 200);
    assertMatch(await authed.text(), /websocketd_sessions_total 0/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--drain-ms: SIGTERM refuses new sessions, reports 503, lets short sessions finish, then closes the rest with 1001", async () => {
  const m = marker();
  try {
    await using server = await startServer([
      "--drain-ms=2500",
      "--health=/healthz",
      "--dir",
      await drainDir(m),
    ]);
    const short = await RawWs.connect(server.port, { path: "/short.sh" });
    const long = await RawWs.connect(server.port, { path: "/long.sh" });
    assertEquals(await short.text(), "tick 1");
    assertEquals(await long.text(), "tick 1");
    const t0 = Date.now();
    server.kill("SIGTERM");
    await server.waitLog(/Draining: waiting up to 2500ms/);
    const health = await fetch(server.http("/healthz"));
    assertEquals(health.status, 503);
    assertEquals((await health.json()).status, "draining");
    const refused = await RawWs.connect(server.port, { path: "/short.sh" });
    await refused.drop();
    assertEquals(refused.response.status, 503);
    const s = await short.collect(5000);
    assertEquals(s.end, { type: "close", code: 1000, reason: "exit 0" });
    const l = await long.collect(6000);
    assertEquals(l.end, { type: "close", code: 1001, reason: "server shutting down" });
    assertBetween(Date.now() - t0, 2000, 5000, "drain length (ms)");
    await short.drop();
    await long.drop();
    assertEquals((await server.exited()).code, 0);
  } finally {
    await Deno.remove(dirs.pop()!, { recursive: true });
  }
});

const dirs: string[] = [];
async function drainDir(m: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  dirs.push(dir);
  for (const [name, n] of [["short.sh", 8], ["long.sh", 100]] as const) {
    await Deno.writeTextFile(
      `${dir}/${name}`,
      `#!/bin/sh\nexec "${TESTPROG}" "${m}" ticks ${n} 0.1\n`,
    );
    await Deno.chmod(`${dir}/${name}`, 0o755);
  }
  return dir;
}

Deno.test("health is 200 with live counts while serving", async () => {
  const m = marker();
  await using server = await startServer(["--health=/healthz", TESTPROG, m, "echo"]);
  const ws = await RawWs.connect(server.port);
  await sleep(100);
  const res = await fetch(server.http("/healthz"));
  assertEquals(res.status, 200);
  assertEquals(await res.json(), { status: "ok", sessions: 1, processes: 1 });
  await ws.close();
});
