/**
 * `--metrics`: counters and gauges in the Prometheus text exposition format.
 * Updated per session and per handshake, never per message, so the hot path
 * pays nothing.
 *
 * @module
 */

/** Upper bounds (seconds) of the first-message latency histogram. */
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What a finished session reports. */
export interface SessionReport {
  /** `exit 0`, `signal SIGKILL`, or null when the program never started. */
  status: string | null;
  /** Messages from the client. */
  messagesIn: number;
  /** Messages to the client. */
  messagesOut: number;
  /** Bytes written to stdin. */
  bytesIn: number;
  /** Bytes read from stdout. */
  bytesOut: number;
}

/** All server metrics. */
export class Metrics {
  #started = Date.now();
  sessionsActive = 0;
  sessionsTotal = 0;
  processesRunning = 0;
  cgiTotal = 0;
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  broadcastInstances = 0;
  broadcastClients = 0;
  broadcastDeliveries = 0;
  broadcastSlowClients = 0;
  #exits = new Map<string, number>();
  #rejections = new Map<string, number>();
  #latency = new Array<number>(BUCKETS.length).fill(0);
  #latencyCount = 0;
  #latencySum = 0;

  /** A WebSocket program started. */
  sessionStarted(): void {
    this.sessionsActive++;
    this.sessionsTotal++;
    this.processesRunning++;
  }

  /** A WebSocket session is over (its program reaped). */
  sessionEnded(r: SessionReport): void {
    this.sessionsActive--;
    this.processesRunning--;
    const status = r.status ?? "spawn failed";
    this.#exits.set(status, (this.#exits.get(status) ?? 0) + 1);
    this.messagesIn += r.messagesIn;
    this.messagesOut += r.messagesOut;
    this.bytesIn += r.bytesIn;
    this.bytesOut += r.bytesOut;
  }

  /** A CGI script started; call the returned function when it is reaped. */
  cgiStarted(): () => void {
    this.cgiTotal++;
    this.processesRunning++;
    let done = false;
    return () => {
      if (!done) this.processesRunning--;
      done = true;
    };
  }

  /** A handshake (or plain request) was refused with this HTTP status. */
  rejected(status: number): void {
    const k = String(status);
    this.#rejections.set(k, (this.#rejections.get(k) ?? 0) + 1);
  }

  /** Time from the 101 to the first message sent to the client. */
  firstMessage(seconds: number): void {
    this.#latencyCount++;
    this.#latencySum += seconds;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) this.#latency[i]!++;
  }

  /** The one-line metrics, as data: name, type, help, value. */
  #simple(): [string, "gauge" | "counter", string, number][] {
    return [
      [
        "websocketd_up_seconds",
        "gauge",
        "Seconds since the server started.",
        (Date.now() - this.#started) / 1000,
      ],
      ["websocketd_sessions_active", "gauge", "WebSocket sessions open now.", this.sessionsActive],
      ["websocketd_sessions_total", "counter", "WebSocket sessions started.", this.sessionsTotal],
      [
        "websocketd_processes_running",
        "gauge",
        "Programs and CGI scripts running now.",
        this.processesRunning,
      ],
      ["websocketd_cgi_requests_total", "counter", "CGI scripts started.", this.cgiTotal],
      [
        "websocketd_messages_received_total",
        "counter",
        "Messages received from clients (finished sessions).",
        this.messagesIn,
      ],
      [
        "websocketd_messages_sent_total",
        "counter",
        "Messages sent to clients (finished sessions).",
        this.messagesOut,
      ],
      [
        "websocketd_stdin_bytes_total",
        "counter",
        "Bytes written to programs' stdin (finished sessions).",
        this.bytesIn,
      ],
      [
        "websocketd_stdout_bytes_total",
        "counter",
        "Bytes read from programs' stdout (finished sessions).",
        this.bytesOut,
      ],
      [
        "websocketd_broadcast_instances",
        "gauge",
        "Broadcast programs running now.",
        this.broadcastInstances,
      ],
      [
        "websocketd_broadcast_clients",
        "gauge",
        "Clients of broadcast programs now.",
        this.broadcastClients,
      ],
      [
        "websocketd_broadcast_messages_total",
        "counter",
        "Messages sent to broadcast clients (one per message per client).",
        this.broadcastDeliveries,
      ],
      [
        "websocketd_broadcast_slow_clients_total",
        "counter",
        "Broadcast clients closed for falling behind (1008).",
        this.broadcastSlowClients,
      ],
    ];
  }

  /** Renders the Prometheus text format. */
  render(): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    const one = (name: string, type: string, help: string, v: number) =>
      metric(name, type, help, [`${name} ${v}`]);
    const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
    for (const [name, type, help, value] of this.#simple()) one(name, type, help, value);
    metric(
      "websocketd_program_exits_total",
      "counter",
      "Programs that ended, by exit status.",
      [...this.#exits].map(([s, n]) => `websocketd_program_exits_total{status="${esc(s)}"} ${n}`),
    );
    metric(
      "websocketd_rejections_total",
      "counter",
      "Requests refused, by HTTP status.",
      [...this.#rejections].map(([s, n]) => `websocketd_rejections_total{status="${s}"} ${n}`),
    );
    const h = "websocketd_first_message_seconds";
    metric(h, "histogram", "Time from handshake to the first message sent.", [
      ...BUCKETS.map((b, i) => `${h}_bucket{le="${b}"} ${this.#latency[i]}`),
      `${h}_bucket{le="+Inf"} ${this.#latencyCount}`,
      `${h}_sum ${this.#latencySum}`,
      `${h}_count ${this.#latencyCount}`,
    ]);
    return out.join("\n") + "\n";
  }
}
