import assert from "node:assert/strict";
import { connectWithin } from "./accept_guard.ts";

Deno.test("a probe of a listener that stopped accepting, its queue full, ends within its bound (no connect hangs for minutes)", async () => {
  // A listening socket nobody accepts from: the kernel completes handshakes until its queue is full.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const held: Deno.TcpConn[] = [];
  try {
    let outcome: Deno.TcpConn | "timed out" | "failed" | undefined;
    // Bounded: the queue holds at most the backlog (somaxconn) plus one.
    for (let i = 0; i < 5000; i++) {
      outcome = await connectWithin("127.0.0.1", port, 500);
      if (typeof outcome === "string") break;
      held.push(outcome);
    }
    assert.equal(outcome, "timed out", `${held.length} connections were all taken into the queue`);
    assert.ok(held.length > 0, "the queue took connections before it was full");
  } finally {
    for (const conn of held) conn.close();
    listener.close();
  }
});

Deno.test("a probe of a port nobody listens on fails at once", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  assert.equal(await connectWithin("127.0.0.1", port, 5000), "failed");
});
