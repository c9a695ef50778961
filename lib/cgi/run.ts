/**
 * Running one CGI script for one request: the request body streams to the
 * script's stdin, the script's header block becomes the response head, and
 * the rest of its stdout streams to the client as it is produced.
 *
 * Whoever spawns the script reaps it: {@link runCgi} owns the process until
 * it is reaped, then gives the `--maxforks` slot back exactly once — before
 * the response's last byte goes out, so a client that sends its next request
 * the moment this one completes never finds the slot still taken.
 *
 * @module
 */

import { describeStatus, Program } from "../process/program.ts";
import { drainStderr } from "../process/stderr.ts";
import { waitFor } from "../util/async.ts";
import { ByteBuffer } from "../util/bytes.ts";
import type { Fields, Logger } from "../util/log.ts";
import { type CgiEnvInputs, cgiEnvironment } from "./env.ts";
import { type CgiHeadResult, parseCgiHead } from "./head.ts";

/** Inputs of one CGI run. */
export interface CgiRun extends CgiEnvInputs {
  /** `--closems`. */
  closeMs: number;
  /** Signal the script's process group. */
  group: boolean;
  /** Logger. */
  log: Logger;
  /** Log context. */
  fields: Fields;
  /** Releases the --maxforks slot; called exactly once, after the script is reaped. */
  release: () => void;
}

/** How long stderr may lag behind the exit before we stop reading it (a grandchild may hold it). */
const STDERR_GRACE_MS = 500;

/** Statuses whose responses never carry a body. */
const NULL_BODY = new Set([204, 205, 304]);

/** Runs still in progress, so a server shutdown can stop them. */
const active = new Set<CgiProcess>();

/**
 * Stops every CGI script still running (stop ladder, `--closems` of its
 * run) and resolves when all of them are reaped and their slots released.
 */
export async function stopCgiRuns(): Promise<void> {
  const runs = [...active];
  for (const r of runs) r.stop("server shutting down");
  await Promise.all(runs.map((r) => r.done));
}

/** One spawned script: its pipes, its reaping and its slot. */
class CgiProcess {
  /** Resolves when the script is reaped, its pipes are closed and its slot released. */
  readonly done: Promise<void>;
  /** Log context (with the pid). */
  readonly fields: Fields;
  #run: CgiRun;
  #prog: Program;
  #stdoutEnded = false;
  #stdoutOver = Promise.withResolvers<void>();

  constructor(run: CgiRun, prog: Program, body: ReadableStream<Uint8Array> | null) {
    this.#run = run;
    this.#prog = prog;
    this.fields = { ...run.fields, pid: prog.pid };
    const line = run.log.enabled("error")
      ? (l: string) => run.log.error("stderr", this.fields, l)
      : null;
    const stderr = drainStderr(prog.stderr, line);
    void this.#feed(body);
    this.done = this.#reap(stderr);
    active.add(this);
  }

  /** Next stdout chunk (a copy of its own), or null at EOF or once output is no longer wanted. */
  async read(): Promise<Uint8Array | null> {
    if (this.#stdoutEnded) return null;
    const chunk = await this.#prog.stdout.read();
    if (chunk && !this.#stdoutEnded) return chunk.slice();
    this.endStdout();
    return null;
  }

  /** We want no more output: stop reading stdout (the script sees EPIPE/SIGPIPE if it writes). */
  endStdout(): void {
    if (this.#stdoutEnded) return;
    this.#stdoutEnded = true;
    void this.#prog.stdout.cancel();
    this.#stdoutOver.resolve();
  }

  /** Reads and discards the rest of stdout until EOF (HEAD, bodiless statuses). */
  async discardRest(): Promise<void> {
    while (await this.read() !== null) { /* discard */ }
  }

  /** Stops the script with the ladder. Idempotent; {@link done} tells when it is over. */
  stop(why: string): void {
    if (this.#prog.exited && this.#stdoutEnded) return;
    this.#run.log.debug("cgi", this.fields, `Stopping CGI script: ${why}`);
    this.endStdout();
    void this.#prog.stop();
  }

  /** The single owner of the end: reaped and stdout done → pipes closed → slot released once. */
  async #reap(stderr: Promise<void>): Promise<void> {
    try {
      const status = await this.#prog.status;
      this.#run.log.trace("cgi", this.fields, `CGI script ended (${describeStatus(status)})`);
      // stdin may still be held open by a grandchild: nobody will write to it now
      this.#prog.closeInput();
      // the last stderr lines are usually still in the pipe; a grandchild may hold it open forever
      if (!(await waitFor(stderr, STDERR_GRACE_MS))) await this.#prog.stderr.cancel();
      await stderr;
      // the client may still be reading what the script printed before it exited
      await this.#stdoutOver.promise;
    } finally {
      active.delete(this);
      this.#run.release();
    }
  }

  /** Streams the request body to stdin, then EOF. */
  async #feed(body: ReadableStream<Uint8Array> | null): Promise<void> {
    if (!body) {
      this.#prog.closeInput();
      return;
    }
    const reader = body.getReader();
    let writable = true;
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        // a script that stops reading still gets its response sent: drain the rest of the
        // body so the connection stays usable instead of cancelling (destroying) the request
        if (!writable) continue;
        try {
          await this.#prog.write(value);
        } catch {
          writable = false;
        }
      }
    } catch {
      // the client went away during the upload; the response side notices on its own
    } finally {
      this.#prog.closeInput();
      reader.releaseLock();
    }
  }
}

/**
 * Runs a CGI script for a request and resolves with its response as soon as
 * the script has printed its header block; the body then streams from the
 * script's stdout as it is produced. If the caller cancels the body (the
 * client went away), the script is stopped with the stop ladder.
 *
 * Failures answer 500 and log an ERROR line: the script cannot be started,
 * or its output is malformed (see {@link parseCgiHead}).
 *
 * @param req The request; its body (if any) becomes the script's stdin.
 * @param run What to run and for whom.
 */
export async function runCgi(req: Request, run: CgiRun): Promise<Response> {
  const { log } = run;
  let prog: Program;
  try {
    prog = await Program.spawn(
      { command: run.script, args: [], env: cgiEnvironment(run), cwd: dirname(run.script) },
      {
        group: run.group,
        closeMs: run.closeMs,
        onStep: (step, pid) =>
          log.debug("process", run.fields, `Sending ${step} to process ${pid}`),
      },
    );
  } catch (e) {
    run.release();
    // cancelling would destroy the connection before the 500 goes out: read it to the end
    if (req.body) void discard(req.body);
    const why = e instanceof Error ? e.message : String(e);
    log.error("process", run.fields, `Could not launch CGI script ${run.script} (${why})`);
    return failure();
  }
  log.trace("process", { ...run.fields, pid: prog.pid }, `Started CGI script ${run.script}`);
  const cgi = new CgiProcess(run, prog, req.body);

  const head = new ByteBuffer();
  let parsed: CgiHeadResult = { kind: "more" };
  while (parsed.kind === "more") {
    const chunk = await cgi.read();
    if (chunk === null) {
      parsed = {
        kind: "bad",
        reason: head.length ? "output ended inside the header block" : "no headers",
      };
      break;
    }
    head.append(chunk);
    parsed = parseCgiHead(head.view());
  }
  if (parsed.kind === "bad") {
    log.error("cgi", cgi.fields, `Malformed CGI output: ${parsed.reason}`);
    cgi.stop("malformed output");
    return failure();
  }

  const init: ResponseInit = { status: parsed.head.status, headers: parsed.head.headers };
  if (parsed.head.statusText) init.statusText = parsed.head.statusText;
  if (req.method === "HEAD" || NULL_BODY.has(parsed.head.status)) {
    // no body goes out, but the script runs to its end as it would for GET
    void cgi.discardRest();
    return new Response(null, init);
  }
  const first = head.view().slice(parsed.bodyStart);
  return new Response(bodyStream(cgi, first, parsed.head.contentLength, run), init);
}

/** The 500 of a script that failed, with a body like every other refusal. */
function failure(): Response {
  return new Response("500 Internal Server Error\n", {
    status: 500,
    headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" },
  });
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** Reads a stream to its end, keeping nothing. */
async function discard(body: ReadableStream<Uint8Array>): Promise<void> {
  try {
    for await (const _ of body) { /* discard */ }
  } catch {
    // the client went away: nothing left to read
  }
}

/**
 * The response body: the script's stdout, pulled only as fast as the client
 * takes it (nothing is buffered beyond one chunk), held to a declared
 * Content-Length so node:http never sends more than it announced. The end of
 * the response (the last declared byte, or the end of a chunked body) waits
 * until the script is reaped and its slot released.
 */
function bodyStream(
  cgi: CgiProcess,
  first: Uint8Array,
  declared: number | null,
  run: CgiRun,
): ReadableStream<Uint8Array> {
  let pending: Uint8Array | null = first.length ? first : null;
  let sent = 0;
  let finished = false;
  const tooLong = () => {
    run.log.error("cgi", cgi.fields, "CGI script wrote more than its declared Content-Length");
    cgi.stop("output beyond Content-Length");
  };
  /** Output is over: the script must be reaped (slot released) before the last byte. */
  const end = async (
    controller: ReadableStreamDefaultController<Uint8Array>,
    last?: Uint8Array,
  ) => {
    finished = true;
    cgi.endStdout();
    await cgi.done;
    if (last?.length) controller.enqueue(last);
    controller.close();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = pending ?? await cgi.read();
      pending = null;
      if (finished) return; // cancelled while we waited
      if (chunk === null) {
        if (declared !== null && sent < declared) {
          finished = true;
          run.log.error("cgi", cgi.fields, "CGI output ended before its declared Content-Length");
          controller.error(new Error("CGI output shorter than its Content-Length"));
          return;
        }
        return await end(controller);
      }
      if (declared !== null && sent + chunk.length >= declared) {
        // the last declared bytes: anything more is an error, EOF is the happy end
        const last = chunk.subarray(0, declared - sent);
        sent = declared;
        if (chunk.length > last.length) tooLong();
        else {
          const extra = await cgi.read();
          if (extra !== null) tooLong();
        }
        return await end(controller, last);
      }
      sent += chunk.length;
      controller.enqueue(chunk);
    },
    cancel() {
      finished = true;
      cgi.stop("client went away");
    },
  }, { highWaterMark: 0 });
}
