import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { once } from "node:events";
import { capConnections, connectionCap } from "./connection_cap.ts";

Deno.test("the connection cap keeps an eighth of the descriptor limit, at least 64, for the rest", () => {
  assert.equal(connectionCap(256), 192);
  assert.equal(connectionCap(1024), 896);
  assert.equal(connectionCap(20_000), 17_500);
  assert.equal(connectionCap(40), 16);
  assert.equal(connectionCap(null), 16_384);
});

Deno.test("the open-files limit is read from the process's own limits", async () => {
  const script = 'import { openFileLimit } from "./src/tracker/http/connection_cap.ts"; console.log(openFileLimit());';
  const output = await new Deno.Command("sh", {
    args: ["-c", `ulimit -n 300; exec "$0" eval '${script}'`, Deno.execPath()],
    cwd: new URL("../../../", import.meta.url).pathname,
  }).output();
  assert.equal(new TextDecoder().decode(output.stdout).trim(), "300", new TextDecoder().decode(output.stderr));
});

Deno.test("past the cap a new connection takes the place of the oldest that sent no request", async () => {
  const server = http.createServer((_req, res) => res.end("ok"));
  capConnections(server, 3);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  const connect = async () => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.on("error", () => {});
    await once(socket, "connect");
    return socket;
  };
  const request = async (socket: net.Socket) => {
    socket.write("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    const [data] = await once(socket, "data");
    return String(data).split("\r\n")[0];
  };
  const sockets: net.Socket[] = [];
  try {
    const busy = await connect(); // has sent a request: not evicted
    sockets.push(busy);
    assert.equal(await request(busy), "HTTP/1.1 200 OK");
    const idle = [await connect(), await connect()];
    sockets.push(...idle);
    const closed = once(idle[0], "close");
    const newcomer = await connect();
    sockets.push(newcomer);
    assert.equal(await request(newcomer), "HTTP/1.1 200 OK");
    await closed; // the oldest idle one made room
    assert.equal(idle[1].destroyed, false);
    assert.equal(await request(busy), "HTTP/1.1 200 OK");
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
    server.closeAllConnections();
  }
});
