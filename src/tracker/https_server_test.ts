/**
 * The HTTPS layer's bridge to the fetch handler, over real TLS on loopback: the properties the bridge
 * itself must keep (the front door's are in tests/security/front_door_test.ts, against a tracker).
 */
import assert from "node:assert/strict";
import { createCa, createServerCert } from "../tls/mod.ts";
import { serveHttps, TIMEOUTS } from "./https_server.ts";

async function withServer(
  handler: (request: Request) => Response | Promise<Response>,
  test: (port: number, ca: string) => Promise<void>,
): Promise<void> {
  const ca = await createCa("https server test");
  const cert = await createServerCert(ca, ["127.0.0.1"]);
  const server = await serveHttps({ hostname: "127.0.0.1", port: 0, cert: cert.certPem, key: cert.keyPem }, handler);
  try {
    await test(server.port, ca.certPem);
  } finally {
    await server.close(0);
  }
}

Deno.test("a streamed answer whose reader takes nothing is cut after TIMEOUTS.stalledReader", async () => {
  const saved = TIMEOUTS.stalledReader;
  TIMEOUTS.stalledReader = 300;
  const cancelled = Promise.withResolvers<void>();
  const chunk = new TextEncoder().encode(`${"x".repeat(64 * 1024 - 1)}\n`);
  const endless = () =>
    new Response(
      new ReadableStream({ pull: (controller) => controller.enqueue(chunk), cancel: () => cancelled.resolve() }),
      { headers: { "content-type": "application/x-ndjson" } },
    );
  try {
    await withServer(endless, async (port, ca) => {
      const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
      try {
        await conn.write(new TextEncoder().encode("GET /v1/logs HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"));
        // Nothing is read: the socket's buffers fill, and the server must give up on this reader.
        const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("still streaming"), 15_000));
        const outcome = await Promise.race([cancelled.promise.then(() => "cut"), timeout]);
        assert.equal(outcome, "cut");
      } finally {
        conn.close();
      }
    });
  } finally {
    TIMEOUTS.stalledReader = saved;
  }
});

Deno.test("the handler gets the body the door read, its headers and URL, and an answer goes back whole", async () => {
  const echo = async (request: Request) =>
    Response.json({
      url: request.url,
      method: request.method,
      type: request.headers.get("content-type"),
      body: await request.json(),
    }, { status: 201, headers: { "x-seen": "yes" } });
  await withServer(echo, async (port, ca) => {
    const client = Deno.createHttpClient({ caCerts: [ca], http2: false });
    try {
      const body = { text: "é".repeat(20_000), n: 1 };
      const response = await fetch(`https://127.0.0.1:${port}/v1/jobs?x=1`, {
        client,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 201);
      assert.equal(response.headers.get("x-seen"), "yes");
      assert.deepEqual(await response.json(), {
        url: `https://127.0.0.1:${port}/v1/jobs?x=1`,
        method: "POST",
        type: "application/json",
        body,
      });
    } finally {
      client.close();
    }
  });
});

Deno.test("an error thrown by the handler is answered as fabric's internal JSON error, and logged", async () => {
  const lines: string[] = [];
  const ca = await createCa("https server test");
  const cert = await createServerCert(ca, ["127.0.0.1"]);
  const server = await serveHttps({
    hostname: "127.0.0.1",
    port: 0,
    cert: cert.certPem,
    key: cert.keyPem,
    log: (line) => lines.push(line),
  }, () => {
    throw new Error("boom");
  });
  const client = Deno.createHttpClient({ caCerts: [ca.certPem], http2: false });
  try {
    const response = await fetch(`https://127.0.0.1:${server.port}/v1/x`, { client });
    assert.equal(response.status, 500);
    assert.equal((await response.json()).error.code, "internal");
    assert.match(lines.join("\n"), /GET \/v1\/x failed: Error: boom/);
  } finally {
    client.close();
    await server.close(0);
  }
});

Deno.test("a Host header no URL can hold is answered 400, not as an internal error", async () => {
  const lines: string[] = [];
  const ca = await createCa("https server test");
  const cert = await createServerCert(ca, ["127.0.0.1"]);
  const server = await serveHttps({
    hostname: "127.0.0.1",
    port: 0,
    cert: cert.certPem,
    key: cert.keyPem,
    log: (line) => lines.push(line),
  }, () => new Response("reached"));
  try {
    const conn = await Deno.connectTls({ hostname: "127.0.0.1", port: server.port, caCerts: [ca.certPem] });
    try {
      await conn.write(new TextEncoder().encode("GET /v1/x HTTP/1.1\r\nhost: a b\r\nconnection: close\r\n\r\n"));
      const answer = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.match(answer, /"code":"bad_request"/);
      assert.doesNotMatch(lines.join("\n"), /internal|at /, "no stack trace is logged");
    } finally {
      try {
        conn.close();
      } catch { /* closed by the server already */ }
    }
  } finally {
    await server.close(0);
  }
});
