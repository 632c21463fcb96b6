// A Node socket.io peer of the benchmark harness: every client joins one room; a "publish"
// event is emitted as "event" to the room (the sender included), the same work as
// benchmarks/servers/socketio_server.py. Clients speak Engine.IO 4 over a WebSocket directly.
// Prints "listening on ws://HOST:PORT/socket.io/" once bound (port 0: any free one).
import { createServer } from "node:http";
import { Server } from "socket.io";

const host = process.argv[2] ?? "127.0.0.1";
const port = Number(process.argv[3] ?? 0);
const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  perMessageDeflate: false,
  maxHttpBufferSize: 1 << 24,
  serveClient: false,
});

io.on("connection", (socket) => {
  socket.join("bench");
  socket.on("publish", (data) => {
    io.to("bench").emit("event", data);
  });
});
http.listen(port, host, () => {
  console.log(`listening on ws://${host}:${http.address().port}/socket.io/`);
});
process.on("SIGTERM", () => process.exit(0));
