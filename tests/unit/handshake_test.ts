/**
 * The opening handshake's helpers (lib/ws/handshake.ts) in process. The
 * handshake answers of a real server: tests/handshake_test.ts.
 */

import {
  acceptKey,
  checkHandshake,
  hasToken,
  isWebSocketRequest,
  offeredProtocols,
  switchingProtocols,
} from "../../lib/ws/handshake.ts";
import { assertEquals } from "../../testing/assert.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

Deno.test("acceptKey: the RFC 6455 §1.3 example", () => {
  assertEquals(acceptKey(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("hasToken / isWebSocketRequest: comma lists, any case, repeated headers", () => {
  assertEquals(hasToken("keep-alive, Upgrade", "upgrade"), true);
  assertEquals(hasToken(["keep-alive", "UPGRADE"], "upgrade"), true);
  assertEquals(hasToken("upgrades", "upgrade"), false);
  assertEquals(hasToken("", "upgrade"), false);
  assertEquals(hasToken(undefined, "upgrade"), false);
  assertEquals(
    isWebSocketRequest({ upgrade: "WebSocket", connection: "keep-alive, Upgrade" }),
    true,
  );
  assertEquals(isWebSocketRequest({ upgrade: "websocket" }), false);
  assertEquals(isWebSocketRequest({ upgrade: "h2c", connection: "upgrade" }), false);
});

Deno.test("checkHandshake: method, then version, then key (gorilla's order)", () => {
  const good = { "sec-websocket-version": "13", "sec-websocket-key": KEY };
  assertEquals(checkHandshake("GET", good), null);
  assertEquals(checkHandshake("GET", { ...good, "sec-websocket-key": ` ${KEY} ` }), null);
  assertEquals(checkHandshake("POST", {}), { status: 405, body: "405 Method Not Allowed\n" });
  assertEquals(checkHandshake("GET", { ...good, "sec-websocket-version": "8" }), {
    status: 400,
    body: "400 Bad Request: unsupported Sec-WebSocket-Version (need 13)\n",
    headers: { "Sec-WebSocket-Version": "13" },
  });
  assertEquals(checkHandshake("GET", { "sec-websocket-key": KEY })?.status, 400);
  const badKey = { status: 400, body: "400 Bad Request: missing or malformed Sec-WebSocket-Key\n" };
  for (
    const key of [
      undefined,
      "",
      "short==",
      "dGhlIHNhbXBsZSBub25jZQ=",
      `${KEY}x`,
      "dGhlIHNhbXBsZSBub25jZQ!!",
    ]
  ) {
    assertEquals(checkHandshake("GET", { ...good, "sec-websocket-key": key }), badKey, String(key));
  }
});

Deno.test("offeredProtocols: client order, blanks dropped, repeated headers joined", () => {
  assertEquals(offeredProtocols("a, b,,c "), ["a", "b", "c"]);
  assertEquals(offeredProtocols(["v1.chat", "v2.chat, v3"]), ["v1.chat", "v2.chat", "v3"]);
  assertEquals(offeredProtocols(undefined), []);
  assertEquals(offeredProtocols(" , "), []);
});

Deno.test("switchingProtocols: the exact 101, with the protocol and extra headers in order", () => {
  assertEquals(
    switchingProtocols(` ${KEY}`, null, []),
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
  );
  assertEquals(
    switchingProtocols(KEY, "chat", [["X-A", "1"], ["X-B", "2"]]),
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n" +
      "X-A: 1\r\nX-B: 2\r\n\r\n",
  );
});
