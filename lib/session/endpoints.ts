/**
 * The two ends a session connects, as small interfaces: whoever accepts a
 * request builds one of each, and {@link pipe} (or the broadcast fan-out)
 * only relays between them. Tests build fake ones.
 *
 * ```
 *  ProcessEndpoint                       SocketEndpoint
 *   stdout ──► framing ──► send(frames) ──► client
 *   stdin  ◄── input queue ◄── message ◄─── client
 *   stop()  (stop ladder)                  close(code, reason)
 * ```
 *
 * @module
 */

import type { ExitStatus, LadderStep } from "../process/program.ts";
import type { ByteReader } from "../process/pipe_reader.ts";

export type { ByteReader, ExitStatus, LadderStep };

/** How a connection ended. */
export interface CloseInfo {
  /** Close code: the peer's, ours, or 1006 when TCP ended without a close frame. */
  code: number;
  /** Close reason text. */
  reason: string;
  /** Who ended it. */
  by: "peer" | "server" | "network";
}

/** Where a socket endpoint delivers client messages, synchronously, in order. */
export interface MessageSink {
  /** One complete message; `payload` is valid only during the call. */
  message(binary: boolean, payload: Uint8Array): void;
  /** Every message of one network read has been delivered (a good moment to flush). */
  batchEnd(): void;
}

/** A client connection that speaks WebSocket messages. */
export interface SocketEndpoint {
  /** Starts delivering messages to `sink` (messages that came with the handshake first). Once. */
  start(sink: MessageSink): void;
  /**
   * Queues pre-built server frames (see `ws/frames.ts`: framing once serves
   * every endpoint, and a broadcast shares the bytes). Ignored once closing.
   */
  send(frames: Uint8Array): void;
  /** Whether the sender should await {@link drain} before sending more. */
  readonly congested: boolean;
  /** Resolves when the outbound queue is below its high water (or the connection is gone). */
  drain(): Promise<void>;
  /** Bytes queued for the client and not yet written to the network. */
  readonly queued: number;
  /** Stops reading from the client (inbound backpressure). */
  pause(): void;
  /** Resumes reading from the client. */
  resume(): void;
  /** Whether messages may still be sent. */
  readonly open: boolean;
  /** Starts the closing handshake with this code (once; later calls do nothing). */
  close(code: number, reason?: string): void;
  /** Drops the connection at once, without a closing handshake. */
  destroy(): void;
  /** Resolves once, when the connection is over. */
  readonly closed: Promise<CloseInfo>;
}

/** A running program seen from the session. */
export interface ProcessEndpoint {
  /** Process id, for logs. */
  readonly pid: number;
  /** Its stdout. */
  readonly stdout: ByteReader;
  /** Its stderr. */
  readonly stderr: ByteReader;
  /** Writes to its stdin; settles when the pipe took the bytes (rejects when stdin is gone). */
  write(bytes: Uint8Array): Promise<void>;
  /** EOF on stdin after everything queued; idempotent. */
  closeInput(): void;
  /** Runs the stop ladder (idempotent); resolves with the step that ended it. */
  stop(): Promise<LadderStep>;
  /** Resolves when the program has exited and been reaped. */
  readonly status: Promise<ExitStatus>;
}
