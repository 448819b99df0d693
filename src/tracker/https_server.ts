/**
 * HTTPS for the tracker: node:https carrying the Hono app's fetch handler. Not Deno.serve, because
 * there the sockets keep Nagle's algorithm on: a response of more than about a kilobyte is written
 * in two parts and the second waits for the client's delayed ACK, 40 ms per long-poll answer
 * (measured: a claim with one assignment took 42 ms to arrive; with TCP_NODELAY, under 1 ms).
 */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { once } from "node:events";

export interface HttpsServer {
  port: number;
  /** Stop accepting, let in-flight requests finish (up to `graceMs`), then drop every connection. */
  close(graceMs?: number): Promise<void>;
}

export interface HttpsOptions {
  hostname: string;
  port: number;
  cert: string;
  key: string;
  /** Tried first for every request: a JSON answer, or null to go on to the fetch handler. */
  fast?: FastRoute;
  onError?: (error: unknown) => void;
}

export type FastRoute = (
  method: string,
  path: string,
  authorization: string | undefined,
  body: Uint8Array,
) => Promise<{ status: number; body: string } | null>;

/** Bodies fabric streams (logs --follow) are passed on as they come; everything else is sent whole. */
const STREAMED = /^application\/x-ndjson/;

export async function serveHttps(
  options: HttpsOptions,
  handler: (request: Request) => Response | Promise<Response>,
): Promise<HttpsServer> {
  const server = https.createServer({ cert: options.cert, key: options.key }, (req, res) => {
    handle(req, res, handler, options.fast).catch((error) => {
      options.onError?.(error);
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "internal", message: "The tracker hit an internal error" } }));
    });
  });
  server.on("secureConnection", (socket) => socket.setNoDelay(true));
  // Long polls last up to a minute; idle keep-alive connections are closed after two.
  server.keepAliveTimeout = 120_000;
  server.requestTimeout = 0;
  server.listen(options.port, options.hostname);
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([error]) => Promise.reject(error)),
  ]);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  return {
    port,
    async close(graceMs = 5000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  handler: (request: Request) => Response | Promise<Response>,
  fast: FastRoute | undefined,
): Promise<void> {
  const chunks = await readBody(req);
  const method = req.method ?? "GET";
  const answer = fast ? await fast(method, req.url ?? "/", req.headers.authorization, concat(chunks)) : null;
  if (answer) {
    const body = new TextEncoder().encode(answer.body);
    res.writeHead(answer.status, { "content-type": "application/json", "content-length": String(body.byteLength) });
    res.end(body);
    return;
  }
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) { for (const v of value) headers.append(name, v); }
    else if (value !== undefined) headers.set(name, value);
  }
  const request = new Request(`https://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
    method,
    headers,
    body: method === "GET" || method === "HEAD" || chunks.length === 0 ? undefined : concat(chunks),
    signal: abort.signal,
  });
  const response = await handler(request);
  const outHeaders: Record<string, string> = {};
  response.headers.forEach((value, name) => (outHeaders[name] = value));
  if (!response.body) {
    res.writeHead(response.status, outHeaders);
    res.end();
    return;
  }
  if (!STREAMED.test(response.headers.get("content-type") ?? "")) {
    const body = new Uint8Array(await response.arrayBuffer());
    outHeaders["content-length"] = String(body.byteLength);
    res.writeHead(response.status, outHeaders);
    res.end(body);
    return;
  }
  res.writeHead(response.status, outHeaders);
  const reader = response.body.getReader();
  try {
    for (;;) {
      if (abort.signal.aborted) break;
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await Promise.race([once(res, "drain"), once(res, "close")]);
    }
  } finally {
    reader.cancel().catch(() => {});
    res.end();
  }
}

/** The request's body, by events: an async iterator over the stream costs more than the request itself. */
function readBody(req: IncomingMessage): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    req.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    req.on("end", () => resolve(chunks));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("the client went away mid-request")));
  });
}

function concat(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
