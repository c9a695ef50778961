/**
 * A session is `pipe(process, socket)`: the one place that relays between a
 * program and a client, both ways, until both are done.
 *
 * Rules it owns:
 * - every stdout byte is framed and sent before the closing frame, and the
 *   closing frame (1000) carries the exit status;
 * - a slow client stops us reading stdout (the program blocks in write);
 *   a slow program stops us reading the client ({@link InputQueue});
 * - the client leaving stops the program at once (stop ladder);
 * - the session is over only when the program is reaped and the socket closed.
 *
 * @module
 */

import { describeStatus, type LadderStep } from "../process/program.ts";
import { drainStderr } from "../process/stderr.ts";
import type { Fields, Logger } from "../util/log.ts";
import { Close } from "../ws/protocol.ts";
import type { CloseInfo, ProcessEndpoint, SocketEndpoint } from "./endpoints.ts";
import { BinaryFramer, type Framer, LineFramer } from "./framing.ts";
import { InputQueue } from "./input.ts";

/** How the stop ladder ended, as websocketd words it. */
export const LADDER_ENDS: Record<LadderStep, string> = {
  eof: "after stdin was closed",
  SIGINT: "after SIGINT",
  SIGTERM: "after SIGTERM",
  SIGKILL: "after SIGKILL",
  stuck: "(SIGKILL did not terminate it)",
};

/** Settings of one pipe. */
export interface PipeOptions {
  /** --binary. */
  binary: boolean;
  /** --passstderr. */
  passStderr: boolean;
  /** Inbound bytes queued for stdin before we stop reading from the client. */
  inboundHighWater: number;
  /** --stallms. */
  stallMs: number;
  /** Logger (stderr lines, stalls, dropped input). */
  log: Logger;
  /** Log context. */
  fields: Fields;
  /** Told once, when the first message goes to the client (ms after the pipe started). */
  onFirstMessage?: (ms: number) => void;
}

/** What happened, for the access log and metrics. */
export interface SessionSummary {
  /** Exit status text (`exit 0`, `signal SIGKILL`). */
  status: string;
  /** How the socket closed. */
  close: CloseInfo;
  /** Messages received from the client. */
  messagesIn: number;
  /** Bytes written to the program's stdin. */
  bytesIn: number;
  /** Bytes read from the program's stdout. */
  bytesOut: number;
  /** Messages sent to the client. */
  messagesOut: number;
  /** Milliseconds from the start of the pipe to its end. */
  durationMs: number;
}

/** Relays between a started program and an accepted socket until both are done. */
export async function pipe(
  process: ProcessEndpoint,
  socket: SocketEndpoint,
  opts: PipeOptions,
): Promise<SessionSummary> {
  const started = performance.now();
  const { log, fields } = opts;
  const input = new InputQueue(process, {
    binary: opts.binary,
    highWater: opts.inboundHighWater,
    stallMs: opts.stallMs,
    log,
    fields: () => fields,
  });
  socket.start(input.sinkFor(socket));
  // the client leaving stops the program now, whatever it is doing
  void socket.closed.then((c) => {
    log.trace("websocket", fields, `Connection closed: ${c.code} '${c.reason}' (by ${c.by})`);
    input.end();
    return process.stop();
  });
  const debug = log.enabled("debug");

  let firstSent = false;
  const send = (frames: Uint8Array | null) => {
    if (!frames || !socket.open) return;
    socket.send(frames);
    if (!firstSent) {
      firstSent = true;
      opts.onFirstMessage?.(performance.now() - started);
    }
  };
  const stdoutFramer: Framer = opts.binary
    ? new BinaryFramer()
    : new LineFramer(opts.passStderr ? "stdout" : null);
  const stderrFramer = opts.passStderr ? new LineFramer("stderr") : null;
  let bytesOut = 0;

  const pumpStdout = async () => {
    while (true) {
      const chunk = await process.stdout.read();
      if (!chunk) break;
      bytesOut += chunk.length;
      // after the client left, keep draining so a blocked program can see EOF and signals
      if (!socket.open) continue;
      if (debug) log.debug("process", fields, `Process STDOUT: ${chunk.length} bytes`);
      send(stdoutFramer.push(chunk));
      if (socket.congested) await socket.drain();
    }
    send(stdoutFramer.finish());
    log.debug("process", fields, "Process STDOUT closed");
  };
  const pumpStderr = async () => {
    const line = log.enabled("error") ? (l: string) => log.error("stderr", fields, l) : null;
    const frame = stderrFramer ? (b: Uint8Array) => send(stderrFramer.push(b)) : undefined;
    await drainStderr(process.stderr, line, frame);
    if (stderrFramer) send(stderrFramer.finish());
  };
  const outputs = [pumpStdout(), pumpStderr()];
  const outputsDone = opts.passStderr ? Promise.all(outputs) : outputs[0]!;
  const first = await Promise.race([
    outputsDone.then(() => "output" as const),
    socket.closed.then(() => "client" as const),
  ]);
  input.end();
  const step = await process.stop();
  const status = describeStatus(await process.status);
  log.trace("process", fields, `Process ${process.pid} ended (${status}) ${LADDER_ENDS[step]}`);
  // the program closed stdout: the client learns how it ended, after every line
  if (first === "output") socket.close(Close.normal, status);
  // a grandchild may still hold the pipes (only without group signalling): stop listening
  await Promise.all([process.stdout.cancel(), process.stderr.cancel(), ...outputs]);
  const close = await socket.closed;
  return {
    status,
    close,
    messagesIn: input.counts.messages,
    bytesIn: input.counts.bytes,
    bytesOut,
    messagesOut: stdoutFramer.messages + (stderrFramer?.messages ?? 0),
    durationMs: Math.round(performance.now() - started),
  };
}
