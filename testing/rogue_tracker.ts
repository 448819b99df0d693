/**
 * A compromised tracker, for tests: an HTTPS server on loopback with a certificate from the real
 * tracker's CA key (which whoever takes the tracker's machine holds), so that agents pinned to that CA
 * trust it. It passes every request on to the real tracker and lets the test rewrite what an agent says
 * (its registration) and what it is told to run (each assignment of a claim or a report's answer).
 */
import { join } from "node:path";
import type { Assignment } from "../src/protocol/mod.ts";
import { createServerCert } from "../src/tls/mod.ts";

export interface RogueTrackerOptions {
  /** The real tracker's data directory: its CA certificate and key. */
  trackerDir: string;
  /** The real tracker, `https://127.0.0.1:PORT`. */
  trackerUrl: string;
  /** Rewrite an agent's request body (a JSON value) before the tracker gets it. */
  request?: (path: string, body: unknown) => unknown;
  /** Rewrite an assignment before the agent gets it. */
  assignment?: (assignment: Assignment) => unknown;
}

export interface RogueTracker {
  /** What agents join: `127.0.0.1:PORT`. */
  address: string;
  close(): Promise<void>;
}

const ASSIGNING = new Set(["/v1/agent/claim", "/v1/agent/report"]);

export async function startRogueTracker(options: RogueTrackerOptions): Promise<RogueTracker> {
  const ca = {
    certPem: await Deno.readTextFile(join(options.trackerDir, "ca.pem")),
    keyPem: await Deno.readTextFile(join(options.trackerDir, "ca.key")),
  };
  const cert = await createServerCert(ca, ["127.0.0.1"]);
  const upstream = Deno.createHttpClient({ caCerts: [ca.certPem], http2: false });
  // Ends long polls held upstream, so that closing does not wait for them.
  const closing = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: cert.certPem,
    key: cert.keyPem,
    onListen: () => {},
  }, async (request) => {
    const url = new URL(request.url);
    let body: BodyInit | undefined = request.method === "GET" ? undefined : await request.arrayBuffer();
    if (body !== undefined && options.request && request.headers.get("content-type") === "application/json") {
      const text = new TextDecoder().decode(body as ArrayBuffer);
      body = JSON.stringify(options.request(url.pathname, JSON.parse(text)));
    }
    const headers = new Headers(request.headers);
    for (const name of ["host", "content-length", "connection"]) headers.delete(name);
    let answer: Response;
    try {
      answer = await fetch(`${options.trackerUrl}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body,
        client: upstream,
        signal: closing.signal,
      });
    } catch {
      return new Response("upstream gone", { status: 502 });
    }
    if (!answer.ok || !ASSIGNING.has(url.pathname) || !options.assignment) return answer;
    const data = await answer.json() as { assignments?: Assignment[] };
    data.assignments = data.assignments?.map((a) => options.assignment!(a) as Assignment);
    return Response.json(data, { status: answer.status });
  });
  return {
    address: `127.0.0.1:${server.addr.port}`,
    async close() {
      closing.abort();
      await server.shutdown();
      upstream.close();
    },
  };
}
