/**
 * A follower's reverse proxy to the leader. What only the leader can answer (placing, the state of
 * jobs and agents it holds in memory) is sent on to it over TLS, trusting only the trackers' CA, with
 * the caller's own Authorization (the leader checks it again), and the answer comes back as the
 * leader gave it: status, headers, the body streamed (a followed log stays live), a long poll held as
 * long as the leader holds it, and the caller going away cancels the request to the leader too.
 *
 * A forwarded request is marked (FORWARDED_HEADER): a tracker that gets one and does not lead answers
 * 503 rather than forwarding it again, so two trackers with an old idea of the leader never bounce a
 * request between them. (Nomad's servers forward RPCs to their leader the same way, one hop.)
 */
import { FabricError, isErrorCode, NO_LEADER_DETAILS, notConnected } from "../../protocol/mod.ts";
import { FORWARDED_FOR_HEADER, FORWARDED_HEADER, FORWARDED_HOST_HEADER, PEER_HEADER } from "./client_address.ts";

/** Headers of one connection, not of the request: never passed on (RFC 9110, 7.6.1). */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
  "content-length",
  // The leader's answer is passed on as it is, never decompressed and compressed again.
  "accept-encoding",
];

/**
 * Agents' short calls (registration, hello, report) forwarded at once at most: a fleet joining through
 * a follower (hundreds a second) waits here for a kept-alive connection to the leader, rather than
 * opening one and handing the leader one more request per agent in the burst.
 */
export const MAX_AGENT_FORWARDS = 64;
/** Past this many waiting, an agent is told to try again rather than queued. */
const MAX_AGENT_QUEUE = 10_000;
const AGENT_CALLS = new Set(["/v1/agents/register", "/v1/agent/hello", "/v1/agent/report"]);

export interface ForwarderOptions {
  /** PEM of the CA every tracker's certificate is from. */
  caPem: string;
  /** This tracker's name, in FORWARDED_HEADER. */
  self: string;
  /** The leader's name and address, or null when no tracker leads now. */
  leader: () => Promise<{ id: string; url: string } | null>;
}

export class Forwarder {
  #options: ForwarderOptions;
  #http: Deno.HttpClient;
  /** Requests under way, by the leader they went to. */
  #inFlight = new Map<string, Set<AbortController>>();

  constructor(options: ForwarderOptions) {
    this.#options = options;
    // HTTP/1.1 as the CLI and agents speak it (client/tracker_connection.ts says why), pooled: one TLS handshake per
    // connection to the leader, not per request.
    this.#http = Deno.createHttpClient({ caCerts: [options.caPem], http2: false, http1: true });
  }

  /** Agents' calls forwarded now, and those waiting for their turn. */
  #agentCalls = 0;
  #agentQueue: Array<() => void> = [];

  /** `request` answered by the leader (an agent's short call once one of MAX_AGENT_FORWARDS is free). */
  async forward(request: Request): Promise<Response> {
    if (!AGENT_CALLS.has(new URL(request.url).pathname)) return await this.#forward(request);
    if (this.#agentCalls >= MAX_AGENT_FORWARDS) {
      if (this.#agentQueue.length >= MAX_AGENT_QUEUE) {
        throw new FabricError("unavailable", "This tracker is passing on many agents' calls; try again");
      }
      await this.#turn(request.signal);
    } else {
      this.#agentCalls++;
    }
    try {
      // Its answer is small: the turn ends when it has come (its body is read after).
      return await this.#forward(request);
    } finally {
      const next = this.#agentQueue.shift();
      if (next) next();
      else this.#agentCalls--;
    }
  }

  /** Waits for a free turn, handed on by a call that ends; a caller that goes away meanwhile leaves the queue. */
  #turn(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const turn = () => {
        signal.removeEventListener("abort", gone);
        resolve();
      };
      const gone = () => {
        const at = this.#agentQueue.indexOf(turn);
        if (at >= 0) this.#agentQueue.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", gone, { once: true });
      this.#agentQueue.push(turn);
    });
  }

  async #forward(request: Request): Promise<Response> {
    if (request.headers.has(FORWARDED_HEADER)) {
      throw new FabricError(
        "unavailable",
        `This tracker no longer leads (tracker ${request.headers.get(FORWARDED_HEADER)} sent this here); try again`,
        NO_LEADER_DETAILS,
      );
    }
    const leader = await this.#options.leader();
    if (!leader) {
      throw new FabricError(
        "unavailable",
        "No tracker places work now (none holds the lease); try again shortly",
        NO_LEADER_DETAILS,
      );
    }
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    for (const name of HOP_BY_HOP) headers.delete(name);
    headers.set(FORWARDED_HEADER, this.#options.self);
    headers.set(FORWARDED_HOST_HEADER, url.host);
    // Its caller's address, for the leader's audit trail (client_address.ts); the HTTPS layer set it here.
    headers.delete(FORWARDED_FOR_HEADER);
    const peer = headers.get(PEER_HEADER);
    headers.delete(PEER_HEADER);
    if (peer !== null) headers.set(FORWARDED_FOR_HEADER, peer);
    const bodyless = request.method === "GET" || request.method === "HEAD";
    // Ended by the caller going away, or by the leader changing (one paused or cut off answers nothing).
    const aborter = new AbortController();
    const onAbort = () => aborter.abort(request.signal.reason);
    request.signal.addEventListener("abort", onAbort, { once: true });
    const inFlight = this.#inFlight.get(leader.id) ?? new Set();
    this.#inFlight.set(leader.id, inFlight);
    inFlight.add(aborter);
    const done = () => {
      request.signal.removeEventListener("abort", onAbort);
      inFlight.delete(aborter);
      if (inFlight.size === 0 && this.#inFlight.get(leader.id) === inFlight) this.#inFlight.delete(leader.id);
    };
    let response: Response;
    try {
      response = await fetch(`${leader.url}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body: bodyless ? undefined : await request.arrayBuffer(),
        signal: aborter.signal,
        redirect: "manual",
        client: this.#http,
      });
    } catch (error) {
      done();
      if (request.signal.aborted) throw error;
      const why = aborter.signal.aborted
        ? "it no longer leads"
        : `it could not be reached: ${
          (error as Error & { cause?: Error })?.cause?.message ?? (error as Error).message
        }`;
      // A leader that is gone (its process killed: the connection refused) got nothing of the request.
      throw new FabricError(
        "unavailable",
        `This tracker forwards to the leader, tracker ${leader.id} at ${leader.url}, and ${why}; try again`,
        notConnected(error) ? NO_LEADER_DETAILS : undefined,
      );
    }
    const out = new Headers(response.headers);
    for (const name of HOP_BY_HOP) out.delete(name);
    if (!response.body) {
      done();
      return new Response(null, { status: response.status, headers: out });
    }
    // The body streams through; the request is under way until it ends, fails or its reader goes.
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done: ended, value } = await reader.read();
          if (ended) {
            done();
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (error) {
          done();
          controller.error(error);
        }
      },
      cancel(reason) {
        done();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, headers: out });
  }

  /**
   * A request of this tracker's own to the leader (not a caller's): its JSON answer, or a FabricError
   * with the leader's code and message, or "unavailable" when it cannot be reached within `timeoutMs`.
   */
  async call<T>(path: string, body: unknown, token: string, timeoutMs: number): Promise<T> {
    const leader = await this.#options.leader();
    if (!leader) {
      throw new FabricError("unavailable", "No tracker places work now (none holds the lease); try again shortly");
    }
    const aborter = new AbortController();
    const inFlight = this.#inFlight.get(leader.id) ?? new Set();
    this.#inFlight.set(leader.id, inFlight);
    inFlight.add(aborter);
    const timer = setTimeout(() => aborter.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      const response = await fetch(`${leader.url}${path}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          // Answered 503 by a tracker that does not lead, never sent on again.
          [FORWARDED_HEADER]: this.#options.self,
        },
        body: JSON.stringify(body),
        signal: aborter.signal,
        redirect: "manual",
        client: this.#http,
      });
      const text = await response.text();
      if (response.ok) return JSON.parse(text) as T;
      let error: { code?: unknown; message?: unknown } | undefined;
      try {
        error = (JSON.parse(text) as { error?: typeof error }).error;
      } catch { /* not fabric's answer: the status says it */ }
      const code = isErrorCode(error?.code) ? error.code : "unavailable";
      const message = typeof error?.message === "string" ? error.message : `HTTP ${response.status}`;
      throw new FabricError(code, `The leader, tracker ${leader.id}, answered: ${message}`);
    } catch (error) {
      if (error instanceof FabricError) throw error;
      const why = (error as Error & { cause?: Error })?.cause?.message ?? (error as Error).message;
      throw new FabricError(
        "unavailable",
        `The leader, tracker ${leader.id} at ${leader.url}, could not be reached: ${
          aborter.signal.aborted ? String(aborter.signal.reason?.message ?? why) : why
        }`,
      );
    } finally {
      clearTimeout(timer);
      inFlight.delete(aborter);
      if (inFlight.size === 0 && this.#inFlight.get(leader.id) === inFlight) this.#inFlight.delete(leader.id);
    }
  }

  /** The lease's holder is now `holder`: what went to another leader is ended (its caller is told to try again). */
  leaderChanged(holder: string | null): void {
    for (const [id, requests] of this.#inFlight) {
      if (id === holder) continue;
      for (const aborter of requests) aborter.abort(new Error(`tracker ${id} no longer leads`));
      this.#inFlight.delete(id);
    }
  }

  close(): void {
    this.#http.close();
  }
}
