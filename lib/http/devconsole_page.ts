/**
 * The dev console page, kept as string constants so it ships inside
 * `deno bundle` and `deno compile` output with no file reads at run time.
 * The only per-request value is the WebSocket URL, inserted at
 * {@link URL_SLOT} by `devconsole.ts` after HTML-attribute escaping. The
 * script writes data into the page with `textContent` only.
 *
 * @module
 */

/** Marks where the (escaped) WebSocket URL goes; appears exactly once in the page. */
export const URL_SLOT = "{{ws-url}}";

/**
 * The page's inline script. It is a separate constant so the server can send
 * a Content-Security-Policy that allows exactly this script (by hash) and no
 * other, which stops injected markup from running even if escaping failed.
 * Written with String.raw and without backticks or template holes, so what
 * is here is what the browser runs.
 */
export const DEVCONSOLE_SCRIPT = String.raw`
"use strict";
(function () {
  var HISTORY_KEY = "websocketd-deno.console.history";
  var HISTORY_MAX = 100;
  var HEX_MAX = 4096;
  var $ = function (id) { return document.getElementById(id); };
  var urlBox = $("url"), connectBtn = $("connect"), disconnectBtn = $("disconnect");
  var sendBox = $("msg"), sendBtn = $("send"), clearBtn = $("clear"), log = $("log"), state = $("state");
  var ws = null;
  var sent = loadHistory();
  var pos = sent.length;
  var draft = "";

  function loadHistory() {
    try {
      var h = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
      return Array.isArray(h) ? h.filter(function (s) { return typeof s === "string"; }).slice(-HISTORY_MAX) : [];
    } catch (e) {
      return [];
    }
  }
  function saveHistory() {
    try { localStorage.setItem(HISTORY_KEY, JSON.stringify(sent)); } catch (e) { /* storage off */ }
  }
  function pad(n, w) { return String(n).padStart(w || 2, "0"); }
  function stamp() {
    var d = new Date();
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }
  // every value reaches the page through textContent, never as markup
  function entry(kind, label, text) {
    var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    var row = document.createElement("div");
    row.className = "e " + kind;
    [["t", stamp()], ["k", label], ["m", text]].forEach(function (p) {
      var span = document.createElement("span");
      span.className = p[0];
      span.textContent = p[1];
      row.appendChild(span);
    });
    log.appendChild(row);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
  function hex(buffer) {
    var bytes = new Uint8Array(buffer, 0, Math.min(buffer.byteLength, HEX_MAX));
    var out = Array.prototype.map.call(bytes, function (b) { return pad(b.toString(16)); }).join(" ");
    return out + (buffer.byteLength > HEX_MAX ? " …" : "");
  }
  function sync() {
    var open = ws !== null && ws.readyState === WebSocket.OPEN;
    connectBtn.disabled = ws !== null;
    disconnectBtn.disabled = ws === null;
    sendBtn.disabled = !open;
    state.textContent = ws === null ? "closed" : open ? "open" : "connecting";
    state.className = ws === null ? "closed" : open ? "open" : "connecting";
  }
  function connect() {
    if (ws !== null) return;
    var target = urlBox.value.trim();
    var sock;
    try {
      sock = new WebSocket(target);
    } catch (e) {
      entry("err", "error", String(e && e.message || e));
      return;
    }
    sock.binaryType = "arraybuffer";
    ws = sock;
    entry("sys", "connect", target);
    sock.onopen = function () {
      entry("sys", "open", sock.url);
      // keep the page address in step with the socket path, so a reload reconnects there
      try {
        var u = new URL(sock.url);
        if (u.host === location.host) history.replaceState(null, "", u.pathname + u.search);
      } catch (e) { /* another origin: leave the address alone */ }
      sync();
      sendBox.focus();
    };
    sock.onmessage = function (ev) {
      if (typeof ev.data === "string") entry("in", "recv", ev.data);
      else entry("in", "recv binary " + ev.data.byteLength + " B", hex(ev.data));
    };
    sock.onerror = function () { entry("err", "error", "WebSocket error (see the browser console)"); };
    sock.onclose = function (ev) {
      entry("sys", "close", "code " + ev.code + ", reason " + JSON.stringify(ev.reason) + ", wasClean " + ev.wasClean);
      if (ws === sock) ws = null;
      sync();
    };
    sync();
  }
  function disconnect() {
    if (ws === null) return;
    entry("sys", "disconnect", "closing with 1000");
    ws.close(1000);
  }
  function send() {
    var text = sendBox.value;
    if (ws === null || ws.readyState !== WebSocket.OPEN) {
      entry("err", "error", "not connected");
      return;
    }
    try {
      ws.send(text);
    } catch (e) {
      entry("err", "error", String(e && e.message || e));
      return;
    }
    entry("out", "send", text);
    if (text !== "" && sent[sent.length - 1] !== text) {
      sent.push(text);
      if (sent.length > HISTORY_MAX) sent.splice(0, sent.length - HISTORY_MAX);
      saveHistory();
    }
    pos = sent.length;
    draft = "";
    sendBox.value = "";
  }
  function browse(step) {
    var next = pos + step;
    if (next < 0 || next > sent.length) return;
    if (pos === sent.length) draft = sendBox.value;
    pos = next;
    sendBox.value = pos === sent.length ? draft : sent[pos];
    var end = sendBox.value.length;
    sendBox.setSelectionRange(end, end);
  }

  connectBtn.addEventListener("click", connect);
  disconnectBtn.addEventListener("click", disconnect);
  sendBtn.addEventListener("click", send);
  clearBtn.addEventListener("click", function () { log.replaceChildren(); });
  urlBox.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { ev.preventDefault(); connect(); }
  });
  sendBox.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { ev.preventDefault(); send(); }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); browse(-1); }
    else if (ev.key === "ArrowDown") { ev.preventDefault(); browse(1); }
  });
  sync();
  urlBox.focus();
})();
`;

/** The page; {@link URL_SLOT} stands for the escaped URL in the `value` of the URL box. */
export const DEVCONSOLE_HTML = String.raw`<!doctype html>
<!-- websocketd for Deno: developer console (BSD-2-Clause) -->
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>websocketd console</title>
<style>
:root { color-scheme: light dark; --fg: #1f2328; --bg: #f6f8fa; --panel: #fff; --line: #d0d7de;
  --muted: #656d76; --in: #116329; --out: #0550ae; --err: #cf222e; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --panel: #161b22; --line: #30363d;
    --muted: #8d96a0; --in: #3fb950; --out: #79c0ff; --err: #ff7b72; }
}
* { box-sizing: border-box; }
html, body { height: 100%; }
body { margin: 0; display: flex; flex-direction: column; color: var(--fg); background: var(--bg);
  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
.bar { display: flex; gap: .5rem; align-items: center; padding: .5rem; background: var(--panel); }
header.bar { border-bottom: 1px solid var(--line); }
footer.bar { border-top: 1px solid var(--line); }
h1 { font-size: 1rem; margin: 0 .25rem; white-space: nowrap; }
input { flex: 1; min-width: 0; padding: .45rem .6rem; font: 14px ui-monospace, SFMono-Regular, Menlo, monospace;
  color: inherit; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; }
button { padding: .45rem .8rem; font: inherit; color: inherit; background: var(--bg);
  border: 1px solid var(--line); border-radius: 6px; cursor: pointer; }
button:disabled { opacity: .45; cursor: default; }
#state { font-size: .8rem; padding: .15rem .5rem; border-radius: 999px; border: 1px solid var(--line); }
#state.open { color: var(--in); } #state.connecting { color: var(--out); } #state.closed { color: var(--muted); }
#log { flex: 1; overflow: auto; padding: .5rem; font: 13px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; }
.e { display: flex; gap: .75rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.e .t { color: var(--muted); flex: none; }
.e .k { flex: none; min-width: 6.5em; font-weight: 600; }
.in .k { color: var(--in); } .out .k { color: var(--out); } .err .k, .err .m { color: var(--err); }
.sys .k { color: var(--muted); }
@media (max-width: 600px) { h1 { display: none; } .e { flex-wrap: wrap; gap: 0 .5rem; } }
</style>
</head>
<body>
<header class="bar">
  <h1>websocketd console</h1>
  <input id="url" value="${URL_SLOT}" aria-label="WebSocket URL" spellcheck="false" autocomplete="off">
  <button id="connect" type="button">Connect</button>
  <button id="disconnect" type="button" disabled>Disconnect</button>
  <span id="state" class="closed" role="status">closed</span>
</header>
<main id="log" aria-live="polite"></main>
<footer class="bar">
  <input id="msg" aria-label="Message to send (Enter sends, Up/Down browse history)"
    placeholder="message, Enter sends, ↑/↓ history" spellcheck="false" autocomplete="off">
  <button id="send" type="button" disabled>Send</button>
  <button id="clear" type="button">Clear</button>
</footer>
<script>${DEVCONSOLE_SCRIPT}</script>
</body>
</html>
`;
