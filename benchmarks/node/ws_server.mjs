// A Node `ws` peer of the benchmark harness: every text frame received is sent to every
// connection (the sender included), the same work as benchmarks/servers/bare_ws.py.
// Prints "listening on ws://HOST:PORT/" once bound (port 0: any free one).
import { WebSocketServer } from "ws";

const host = process.argv[2] ?? "127.0.0.1";
const port = Number(process.argv[3] ?? 0);
const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: 1 << 24 });

wss.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => {
    for (const client of wss.clients) {
      if (client.readyState === 1) client.send(data, { binary: isBinary });
    }
  });
});
wss.on("listening", () => {
  console.log(`listening on ws://${host}:${wss.address().port}/`);
});
process.on("SIGTERM", () => process.exit(0));
