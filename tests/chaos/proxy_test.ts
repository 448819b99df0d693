import assert from "node:assert/strict";
import { startProxy } from "./proxy.ts";

/** An echo server on loopback, standing in for the tracker. */
function startEcho(): { port: number; close: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    const echoes: Promise<void>[] = [];
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        break;
      }
      conns.add(conn);
      echoes.push((async () => {
        const buffer = new Uint8Array(1024);
        try {
          for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
            await conn.write(buffer.subarray(0, n));
          }
        } catch { /* closed */ }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })());
    }
    await Promise.all(echoes);
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: async () => {
      listener.close();
      for (const conn of conns) conn.close();
      await serving;
    },
  };
}

/** What the peer sends within `ms`: text, "closed" (EOF or reset), or "silent". */
async function readWithin(conn: Deno.Conn, ms: number): Promise<string> {
  const buffer = new Uint8Array(1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silent = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("silent"), ms)));
  const read = conn.read(buffer).then(
    (n) => (n === null ? "closed" : new TextDecoder().decode(buffer.subarray(0, n))),
    () => "closed",
  );
  const result = await Promise.race([read, silent]);
  clearTimeout(timer);
  if (result === "silent") {
    conn.close();
    await read;
  }
  return result;
}

async function roundTrip(port: number, text: string, ms = 2000): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(text)).catch(() => 0);
  const answer = await readWithin(conn, ms);
  try {
    conn.close();
  } catch { /* closed by readWithin */ }
  return answer;
}

Deno.test("the proxy forwards bytes both ways", async () => {
  const echo = startEcho();
  const proxy = startProxy({ targetPort: echo.port });
  try {
    assert.equal(await roundTrip(proxy.port, "hello"), "hello");
    assert.equal(await roundTrip(proxy.port, "again"), "again");
    assert.equal(proxy.forwarded, 2);
  } finally {
    await proxy.close();
    await echo.close();
  }
});

Deno.test("a cut closes open connections and refuses new ones until it heals", async () => {
  const echo = startEcho();
  const proxy = startProxy({ targetPort: echo.port });
  try {
    const open = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    await open.write(new TextEncoder().encode("before"));
    assert.equal(await readWithin(open, 2000), "before");
    proxy.cut("refuse");
    assert.equal(await readWithin(open, 2000), "closed");
    open.close();
    assert.equal(await roundTrip(proxy.port, "during"), "closed");
    proxy.heal();
    assert.equal(await roundTrip(proxy.port, "after"), "after");
  } finally {
    await proxy.close();
    await echo.close();
  }
});

Deno.test("a blackhole cut accepts connections but answers nothing, and drops them when it heals", async () => {
  const echo = startEcho();
  const proxy = startProxy({ targetPort: echo.port });
  try {
    proxy.cut("blackhole");
    const held = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    await held.write(new TextEncoder().encode("anyone?"));
    const buffer = new Uint8Array(16);
    const pending = held.read(buffer).then((n) => (n === null ? "closed" : "data"), () => "closed");
    const early = await Promise.race([pending, new Promise((resolve) => setTimeout(() => resolve("silent"), 300))]);
    assert.equal(early, "silent");
    proxy.heal();
    assert.equal(await pending, "closed");
    held.close();
    assert.equal(await roundTrip(proxy.port, "healed"), "healed");
  } finally {
    await proxy.close();
    await echo.close();
  }
});

Deno.test("with its target down the proxy closes the connection", async () => {
  const echo = startEcho();
  const port = echo.port;
  await echo.close();
  const proxy = startProxy({ targetPort: port });
  try {
    assert.equal(await roundTrip(proxy.port, "hello"), "closed");
  } finally {
    await proxy.close();
  }
});
