/**
 * HTTPS for the tracker: node:https carrying the Hono app's fetch handler. Not Deno.serve, because
 * there the sockets keep Nagle's algorithm on: a response of more than about a kilobyte is written
 * in two parts and the second waits for the client's delayed ACK, 40 ms per long-poll answer
 * (measured: a claim with one assignment took 42 ms to arrive; with TCP_NODELAY, under 1 ms).
 *
 * The bridge to the fetch handler and back is hand-written, kept over `@hono/node-server` by
 * measurement (bench/bridge.ts; docs/performance.md, "The HTTP bridge", 2026-12-04): that library
 * alone took 0.69-0.73x this layer's CPU per request, but behind this door (which it would need as
 * well) it took 0.85x for 1-32 KB bodies and 1.40x per request of 1,000 simulated agents, and it
 * replaces the global Request and Response of the whole process. The agents' hot routes skip the
 * bridge anyway (the door's fast path).
 *
 * It is also the front door. A request is admitted from its request line and headers alone (the
 * token, the route's body limit) before any of its body is read; one refused is answered and its
 * connection closed, with whatever the client still sends discarded, never kept. Bodies are counted
 * while they are read. Handshakes, headers and bodies have deadlines, idle connections are closed,
 * connections are capped below the descriptor limit, and the listener is kept accepting.
 */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { once } from "node:events";
import { guardListener } from "./http/accept_guard.ts";
import { capConnections, connectionCap, openFileLimit } from "./http/connection_cap.ts";
import { type Answer, errorResponse } from "./http/error_response.ts";
import { bodyLimit } from "./http/body_limits.ts";
import { bodyTooLarge, ClientGoneError, readBody } from "./http/read_body.ts";
import { clientAddress } from "./http/client_address.ts";
import { respond, toRequest } from "./http/fetch_bridge.ts";

export type { Answer };

export interface HttpsServer {
  port: number;
  /** Stop accepting, let in-flight requests finish (up to `graceMs`), then drop every connection. */
  close(graceMs?: number): Promise<void>;
  /** Serve this certificate to new connections from now on (a renewal); open ones keep theirs. */
  setCertificate(cert: string, key: string): void;
}

/** What an admitted request may send, and what the door learned about it (e.g. its caller). */
export interface Admission<C> {
  maxBodyBytes: number;
  context: C;
}

/** The server's policy: who may send what, a fast path, and the one shape of an error. */
export interface FrontDoor<C> {
  /**
   * From the request line and the Authorization header only; throws (e.g. a 401) to refuse. A promise
   * when the answer needs a look at the store (a tracker that follows checks a credential it has not seen).
   * `address`: where the request came from (http/client_address.ts), for the audit trail.
   */
  admit(
    method: string,
    path: string,
    authorization: string | undefined,
    address?: string | null,
  ): Admission<C> | Promise<Admission<C>>;
  /** Tried first for every admitted request: a JSON answer, or null to go on to the fetch handler. */
  fast?(method: string, path: string, context: C, body: Uint8Array, signal: AbortSignal): Promise<Answer | null>;
  /** Any error thrown while admitting, reading or handling a request, as its answer. */
  errorResponse(error: unknown, where: string): Answer;
}

export interface HttpsOptions<C> {
  hostname: string;
  port: number;
  cert: string;
  key: string;
  door?: FrontDoor<C>;
  /** Connections held at once (default: from the descriptor limit, see connection_cap.ts). */
  maxConnections?: number;
  /** Told of each request once its answer is sent, or its client gone (status 499), for metrics. */
  observe?: Observe;
  log?: (line: string) => void;
}

/** A request for `path` (no query) ended with `status` after `seconds`. */
export type Observe = (method: string, path: string, status: number, seconds: number) => void;

/** The status counted for a request whose client went away before its answer (as nginx logs it). */
export const CLIENT_GONE = 499;

export type FetchHandler<C> = (request: Request, context: C) => Response | Promise<Response>;

/**
 * Connections the kernel queues for the tracker to accept (it caps this at net.core.somaxconn). Node's
 * 511 overflowed while a fleet of thousands of agents grew and the tracker was busy: a connection
 * refused there is retried by its client only after 1, 3, 7... s (SYN retransmits), so registrations
 * that should take milliseconds took seconds each (measured: 5,500 connections waiting on SYN at once).
 */
export const LISTEN_BACKLOG = 4096;

/** Deadlines, in milliseconds. Long polls are not cut: a request's time ends once its body is in. */
export const TIMEOUTS = {
  /** From the TCP connection to a finished TLS handshake. */
  handshake: 10_000,
  /** From the connection (or the previous answer) to the request's last header line. */
  headers: 10_000,
  /** From the connection to the request's last body byte. */
  request: 60_000,
  /** An idle keep-alive connection is closed after this (an agent heartbeats far more often). */
  keepAlive: 60_000,
  /** How often the headers and request deadlines are checked. */
  check: 1000,
  /**
   * A refused request's connection is cut after this, or after lingerBytes more of its body (at 1 MiB, a client
   * under load that was still sending often never read its 413: 5 runs in 24 of the front-door test, 4 at a time).
   */
  linger: 1000,
  lingerBytes: 16 * 1024 * 1024,
  /** A streamed answer (logs --follow) whose reader takes nothing for this long is cut. */
  stalledReader: 60_000,
};

/** With no door of its own (the bench's canned server), everything is admitted with the routes' limits. */
function openDoor(log: (line: string) => void): FrontDoor<undefined> {
  return {
    admit: (method, path) => ({ maxBodyBytes: bodyLimit(method, path), context: undefined }),
    errorResponse: (error, where) => errorResponse(error, where, log),
  };
}

export async function serveHttps<C = undefined>(
  options: HttpsOptions<C>,
  handler: FetchHandler<C>,
): Promise<HttpsServer> {
  const log = options.log ?? (() => {});
  const door = options.door ?? (openDoor(log) as unknown as FrontDoor<C>);
  const server = https.createServer({
    cert: options.cert,
    key: options.key,
    handshakeTimeout: TIMEOUTS.handshake,
    headersTimeout: TIMEOUTS.headers,
    requestTimeout: TIMEOUTS.request,
    connectionsCheckingInterval: TIMEOUTS.check,
  }, (req, res) => void handle(req, res, { handler, door, log, observe: options.observe }));
  // With a listener, Node leaves answering an `Expect: 100-continue` to us: after admission.
  server.on("checkContinue", (req, res) => void handle(req, res, { handler, door, log, observe: options.observe }));
  server.on("secureConnection", (socket) => socket.setNoDelay(true));
  server.on("tlsClientError", () => {}); // a failed or timed-out handshake: the socket is already gone
  server.keepAliveTimeout = TIMEOUTS.keepAlive;
  capConnections(server, options.maxConnections ?? connectionCap(openFileLimit()));
  server.listen({ port: options.port, host: options.hostname, backlog: LISTEN_BACKLOG });
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([error]) => Promise.reject(error)),
  ]);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const guard = guardListener(server, { hostname: options.hostname, port, backlog: LISTEN_BACKLOG, log });
  return {
    port,
    setCertificate(cert, key) {
      server.setSecureContext({ cert, key });
    },
    async close(graceMs = 5000) {
      guard.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

interface Handling<C> {
  handler: FetchHandler<C>;
  door: FrontDoor<C>;
  log: (line: string) => void;
  observe?: Observe;
}

async function handle<C>(req: IncomingMessage, res: ServerResponse, how: Handling<C>): Promise<void> {
  const { handler, door, log, observe } = how;
  const method = req.method ?? "GET";
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  const path = query < 0 ? url : url.slice(0, query);
  const where = `${method} ${path}`;
  if (observe) {
    const started = performance.now();
    res.once("close", () => {
      const status = res.headersSent ? res.statusCode : CLIENT_GONE;
      observe(method, path, status, (performance.now() - started) / 1000);
    });
  }
  let admission: Admission<C>;
  let body: Uint8Array;
  const address = clientAddress(req.socket.remoteAddress, req.headers);
  try {
    const admitted = door.admit(method, path, req.headers.authorization, address);
    admission = admitted instanceof Promise ? await admitted : admitted;
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > admission.maxBodyBytes) throw bodyTooLarge(admission.maxBodyBytes, declared);
    if (req.headers.expect?.toLowerCase() === "100-continue") res.writeContinue();
    body = await readBody(req, admission.maxBodyBytes);
  } catch (error) {
    if (error instanceof ClientGoneError) log(`${where}: ${error.message}`);
    else refuse(req, res, door.errorResponse(error, where));
    return;
  }
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  try {
    const answer = door.fast ? await door.fast(method, path, admission.context, body, abort.signal) : null;
    if (answer) return send(res, answer);
    const request = toRequest(req, { method, url, body, address, signal: abort.signal });
    await respond(res, await handler(request, admission.context), abort, TIMEOUTS.stalledReader);
  } catch (error) {
    if (abort.signal.aborted) {
      log(`${where}: the client went away before its answer`);
      return;
    }
    const answer = door.errorResponse(error, where);
    if (res.headersSent) res.destroy();
    else send(res, answer);
  }
}

function send(res: ServerResponse, answer: Answer, headers: Record<string, string> = {}): void {
  const body = new TextEncoder().encode(answer.body);
  res.writeHead(answer.status, {
    "content-type": "application/json",
    "content-length": String(body.byteLength),
    ...headers,
  });
  res.end(body);
}

/**
 * Answer and close, keeping nothing more the client sends. The answer is written whole, but the
 * response is not ended at once: that closes the connection, and closing it with the client's data
 * unread resets it, which loses the answer on the client's side. So what still comes is discarded as
 * it comes, up to TIMEOUTS.lingerBytes or TIMEOUTS.linger, and the connection is cut then (or closed
 * when the client closes its side). Pausing instead is no bound: the TLS layer reads on regardless.
 */
function refuse(req: IncomingMessage, res: ServerResponse, answer: Answer): void {
  if (res.headersSent) {
    req.socket.destroy();
    return;
  }
  const body = new TextEncoder().encode(answer.body);
  res.writeHead(answer.status, {
    "content-type": "application/json",
    "content-length": String(body.byteLength),
    connection: "close",
  });
  if (req.complete) {
    res.end(body);
    return;
  }
  res.write(body);
  // Our side ends right after the answer: the client reads it and its end at once, and a client that
  // keeps sending learns it should stop before the reset (one writing when the reset comes fails that
  // write and may never read what it was sent).
  const socket = req.socket;
  socket.end();
  const timer = setTimeout(() => socket.destroy(), TIMEOUTS.linger);
  socket.once("close", () => clearTimeout(timer));
  let discarded = 0;
  req.removeAllListeners("data");
  req.on("data", (chunk: Uint8Array) => {
    discarded += chunk.byteLength;
    if (discarded > TIMEOUTS.lingerBytes) socket.destroy();
  });
  req.once("end", () => socket.destroy());
  req.resume();
}
