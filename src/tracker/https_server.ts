/**
 * HTTPS for the tracker: node:https carrying the Hono app's fetch handler. Not Deno.serve, because
 * there the sockets keep Nagle's algorithm on: a response of more than about a kilobyte is written
 * in two parts and the second waits for the client's delayed ACK, 40 ms per long-poll answer
 * (measured: a claim with one assignment took 42 ms to arrive; with TCP_NODELAY, under 1 ms).
 *
 * From an admitted request, whose body the door has read, to the fetch handler and back is
 * `@hono/node-server`'s request listener, not a hand-written bridge: measured with bench/bridge.ts
 * (the same canned handler behind each, server CPU time per request, 5 alternating pairs on the
 * loaded 2-core machine, 2026-12-04), the library's took 0.73x the CPU of the hand-written one per
 * request of 1,000 simulated agents and 0.69x per 1-32 KB report. Its Request reads the body
 * already read, and its Response is written without a Web stream. The agents' hot routes still skip
 * both (the door's fast path).
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
import { Buffer } from "node:buffer";
import { getRequestListener, type HttpBindings } from "@hono/node-server";
import { FabricError } from "../protocol/mod.ts";
import { guardListener } from "./http/accept_guard.ts";
import { capConnections, connectionCap, openFileLimit } from "./http/connection_cap.ts";
import { type Answer, errorResponse } from "./http/error_response.ts";
import { bodyLimit } from "./http/body_limits.ts";
import { bodyTooLarge, ClientGoneError, readBody } from "./http/read_body.ts";

export type { Answer };

export interface HttpsServer {
  port: number;
  /** Stop accepting, let in-flight requests finish (up to `graceMs`), then drop every connection. */
  close(graceMs?: number): Promise<void>;
}

/** What an admitted request may send, and what the door learned about it (e.g. its caller). */
export interface Admission<C> {
  maxBodyBytes: number;
  context: C;
}

/** The server's policy: who may send what, a fast path, and the one shape of an error. */
export interface FrontDoor<C> {
  /** From the request line and the Authorization header only; throws (e.g. a 401) to refuse. */
  admit(method: string, path: string, authorization: string | undefined): Admission<C>;
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
  log?: (line: string) => void;
}

export type FetchHandler<C> = (request: Request, context: C) => Response | Promise<Response>;

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
  /** A refused request's connection is cut after this, or after lingerBytes more of its body. */
  linger: 1000,
  lingerBytes: 1024 * 1024,
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
  const bridge = honoBridge(handler, door, log);
  const server = https.createServer({
    cert: options.cert,
    key: options.key,
    handshakeTimeout: TIMEOUTS.handshake,
    headersTimeout: TIMEOUTS.headers,
    requestTimeout: TIMEOUTS.request,
    connectionsCheckingInterval: TIMEOUTS.check,
  }, (req, res) => void handle(req, res, bridge, door, log));
  // With a listener, Node leaves answering an `Expect: 100-continue` to us: after admission.
  server.on("checkContinue", (req, res) => void handle(req, res, bridge, door, log));
  server.on("secureConnection", (socket) => socket.setNoDelay(true));
  server.on("tlsClientError", () => {}); // a failed or timed-out handshake: the socket is already gone
  server.keepAliveTimeout = TIMEOUTS.keepAlive;
  capConnections(server, options.maxConnections ?? connectionCap(openFileLimit()));
  server.listen(options.port, options.hostname);
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([error]) => Promise.reject(error)),
  ]);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const guard = guardListener(server, { hostname: options.hostname, port, log });
  return {
    port,
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

/** What the door learned about an admitted request, for the fetch handler behind the bridge. */
interface Admitted<C> {
  context: C;
  where: string;
}

/** An admitted request whose body has been read, handed to @hono/node-server's bridge. */
type Bridge<C> = (req: IncomingMessage, res: ServerResponse, admitted: Admitted<C>, body: Uint8Array) => Promise<void>;

/**
 * The fetch handler behind `@hono/node-server`'s request listener: its Request reads the body we
 * already read and capped (as `rawBody`), and its Response is written without a Web stream when it
 * can be. Chosen over a hand-written bridge by measurement (docs/performance.md, "The HTTP bridge").
 * It replaces the global Request and Response with its lighter ones, as it does by default.
 */
function honoBridge<C>(handler: FetchHandler<C>, door: FrontDoor<C>, log: (line: string) => void): Bridge<C> {
  const admitted = new WeakMap<IncomingMessage, Admitted<C>>();
  const json = { "content-type": "application/json" };
  const listener = getRequestListener(async (request, env) => {
    const incoming = (env as HttpBindings).incoming;
    const { context, where } = admitted.get(incoming)!;
    try {
      return await handler(request, context);
    } catch (error) {
      if (request.signal.aborted) {
        // Nobody is left to read an answer, and what the handler threw is only the abort.
        log(`${where}: the client went away before its answer`);
        return new Response(null, { status: 500 });
      }
      const answer = door.errorResponse(error, where);
      return new Response(answer.body, { status: answer.status, headers: json });
    }
  }, {
    hostname: "localhost",
    // A request line or Host header it cannot make a URL of (the handler is not called).
    errorHandler: (error) => {
      const answer = door.errorResponse(new FabricError("bad_request", (error as Error).message), "request");
      return new Response(answer.body, { status: answer.status, headers: json });
    },
  });
  return async (req, res, what, body) => {
    admitted.set(req, what);
    (req as IncomingMessage & { rawBody?: Buffer }).rawBody = Buffer.from(
      body.buffer,
      body.byteOffset,
      body.byteLength,
    );
    cutStalledReader(res);
    await listener(req, res);
  };
}

async function handle<C>(
  req: IncomingMessage,
  res: ServerResponse,
  bridge: Bridge<C>,
  door: FrontDoor<C>,
  log: (line: string) => void,
): Promise<void> {
  const method = req.method ?? "GET";
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  const path = query < 0 ? url : url.slice(0, query);
  const where = `${method} ${path}`;
  let admission: Admission<C>;
  let body: Uint8Array;
  try {
    admission = door.admit(method, path, req.headers.authorization);
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > admission.maxBodyBytes) throw bodyTooLarge(admission.maxBodyBytes, declared);
    if (req.headers.expect?.toLowerCase() === "100-continue") res.writeContinue();
    body = await readBody(req, admission.maxBodyBytes);
  } catch (error) {
    if (error instanceof ClientGoneError) log(`${where}: ${error.message}`);
    else refuse(req, res, door.errorResponse(error, where));
    return;
  }
  if (!door.fast) return await bridge(req, res, { context: admission.context, where }, body);
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  let answer: Answer | null;
  try {
    answer = await door.fast(method, path, admission.context, body, abort.signal);
  } catch (error) {
    if (abort.signal.aborted) log(`${where}: the client went away before its answer`);
    else send(res, door.errorResponse(error, where));
    return;
  }
  if (answer) send(res, answer);
  else await bridge(req, res, { context: admission.context, where }, body);
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
  const timer = setTimeout(() => req.socket.destroy(), TIMEOUTS.linger);
  req.socket.once("close", () => clearTimeout(timer));
  let discarded = 0;
  req.removeAllListeners("data");
  req.on("data", (chunk: Uint8Array) => {
    discarded += chunk.byteLength;
    if (discarded > TIMEOUTS.lingerBytes) req.socket.destroy();
  });
  req.once("end", () => res.end());
  req.resume();
}

/**
 * A streamed answer (logs --follow) whose reader takes nothing for TIMEOUTS.stalledReader is cut: the
 * bridge waits for "drain" after a write the socket could not take, and would wait forever.
 */
function cutStalledReader(res: ServerResponse): void {
  const write = res.write;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drained = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  res.write = function (this: ServerResponse, ...args: Parameters<ServerResponse["write"]>) {
    const taken = (write as (...a: unknown[]) => boolean).apply(this, args);
    if (!taken && timer === undefined) {
      timer = setTimeout(() => res.destroy(), TIMEOUTS.stalledReader);
      res.once("drain", drained);
    }
    return taken;
  } as ServerResponse["write"];
  res.once("close", drained);
}
