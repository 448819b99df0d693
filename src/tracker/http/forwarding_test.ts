import assert from "node:assert/strict";
import { createCa, createServerCert } from "../../tls/mod.ts";
import { FabricError } from "../../protocol/mod.ts";
import { Forwarder, MAX_AGENT_FORWARDS } from "./forwarding.ts";

/** A leader over real TLS that holds every request until released, counting how many it holds at once. */
async function holdingLeader() {
  const ca = await createCa("test CA");
  const cert = await createServerCert(ca, ["127.0.0.1"]);
  let held = 0;
  let most = 0;
  let served = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: cert.certPem, key: cert.keyPem, onListen() {} },
    async (request) => {
      await request.arrayBuffer();
      held++;
      most = Math.max(most, held);
      await gate;
      held--;
      served++;
      return Response.json({ ok: true });
    },
  );
  return {
    caPem: ca.certPem,
    url: `https://127.0.0.1:${server.addr.port}`,
    held: () => held,
    most: () => most,
    served: () => served,
    release,
    stop: () => server.shutdown(),
  };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (ok()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("a follower passes on at most MAX_AGENT_FORWARDS agents' calls at once; the rest wait their turn (a caller gone leaves the queue), and past the queue are refused (503)", async () => {
  const leader = await holdingLeader();
  const forwarder = new Forwarder({
    caPem: leader.caPem,
    self: "follower",
    leader: () => Promise.resolve({ id: "leader", url: leader.url }),
  });
  const hello = () =>
    forwarder.forward(new Request("https://follower.test/v1/agent/hello", { method: "POST", body: "{}" }));
  try {
    const calls = Array.from({ length: MAX_AGENT_FORWARDS + 50 }, hello);
    await until(`${MAX_AGENT_FORWARDS} calls at the leader`, () => leader.held() === MAX_AGENT_FORWARDS);
    // The others wait at the follower: none more reaches the leader meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(leader.held(), MAX_AGENT_FORWARDS);

    // A caller that goes away while its call waits leaves the queue: nothing is sent for it.
    const leaving = new AbortController();
    const left = forwarder.forward(
      new Request("https://follower.test/v1/agent/hello", { method: "POST", body: "{}", signal: leaving.signal }),
    );
    leaving.abort(new Error("the agent went away"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise((_, reject) => timer = setTimeout(() => reject(new Error("still queued")), 5000));
    await assert.rejects(Promise.race([left, bound]), /the agent went away/).finally(() => clearTimeout(timer));

    // Past the queue (10,000 waiting), a call is refused at once rather than held.
    const queued = Array.from({ length: 10_000 - 50 }, hello);
    await assert.rejects(hello(), (error: unknown) => error instanceof FabricError && error.code === "unavailable");

    leader.release();
    const answers = await Promise.all([...calls, ...queued]);
    assert.ok(answers.every((answer) => answer.status === 200));
    await Promise.all(answers.map((answer) => answer.body?.cancel()));
    assert.equal(leader.served(), MAX_AGENT_FORWARDS + 10_000);
    assert.equal(leader.most(), MAX_AGENT_FORWARDS, "never more at once");
  } finally {
    leader.release();
    await leader.stop();
  }
});
