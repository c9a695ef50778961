/**
 * The page both embedding examples serve at `/`: a box whose lines go to
 * the program at `/ws` (websocketd embedded, see deno_serve.ts for the
 * command), and the program's answers below it.
 *
 * @module
 */

/** The HTML of the page. */
export const PAGE = `<!DOCTYPE html>
<meta charset="utf-8"><title>greeter</title>
<input id="name" placeholder="your name" autofocus> <button id="send">Send</button>
<pre id="log"></pre>
<script>
  const log = (t) => (document.getElementById("log").textContent += t + "\\n");
  const socket = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws");
  socket.onmessage = (e) => log(e.data);
  socket.onclose = (e) => log("closed: " + e.code + " " + e.reason);
  document.getElementById("send").onclick = () =>
    socket.send(document.getElementById("name").value);
</script>
`;
