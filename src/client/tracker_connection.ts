/**
 * How the client reaches its trackers: HTTPS to the current one of its list (tracker_urls.ts), trusting
 * only the CA it is given, or plain HTTP over an agent's socket inside a task. A call is sent again while
 * no tracker leads, goes to the next tracker when one refuses the connection, and an error body comes
 * back as a `FabricError`. The API's calls, built on it, are in the files `http_client.ts` names.
 */
// The protocol's parts one by one: a client command does not need every zod schema built.
import { type ErrorBody, FabricError, isErrorCode, isNoLeader } from "../protocol/errors.ts";
import { notConnected } from "../protocol/not_connected.ts";
import { RetryBackoff } from "../protocol/retry.ts";
import { TrackerUrls } from "./tracker_urls.ts";

/** The tracker could not be reached at all (refused, reset, timed out, TLS failure). */
export class TrackerUnreachableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TrackerUnreachableError";
  }
}

/**
 * A tracker's 503: it cannot serve now (its store, or the leader, is away). A FabricError with code
 * "unavailable" as any, told apart from the same code raised on this machine (a port in use, a store
 * that cannot be opened) so that the CLI says "try again" (exit code 3) only for a tracker's answer.
 */
export class TrackerBusyError extends FabricError {
  constructor(message: string, details?: unknown) {
    super("unavailable", message, details);
    this.name = "TrackerBusyError";
  }
}

/** Where the tracker is for a task: its agent's socket (`unix:/path`), served over plain HTTP. */
const UNIX_PREFIX = "unix:";
/** How long a request waits for a tracker to lead (a takeover takes at most the lease's time, 10 s by default). */
const NO_LEADER_WAIT_MS = 20_000;
const NO_LEADER_BACKOFF = { initialMs: 100, maxMs: 1000 };

/** One call's body (JSON, text or bytes), its timeout, its caller's signal, and more headers. */
interface RequestOptions {
  body?: unknown;
  rawBody?: string;
  bytes?: Uint8Array;
  /** The content type of `bytes` (application/octet-stream if none). */
  bytesType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

export interface ClientOptions {
  /**
   * `https://host:port`, or several trackers' (any answers; tracker_urls.ts moves on from one that does not);
   * or, inside a task, `unix:PATH`: the socket its agent serves (agent/channel_socket.ts).
   */
  url: string | readonly string[];
  token: string;
  /** PEM of the CA that signed the tracker's certificate. */
  caPem: string;
  /** Per-request timeout for ordinary calls. */
  timeoutMs?: number;
}

/** The transport under `FabricClient`: the API's calls (its subclasses) use `request`, `json` and `ndjson`. */
export class TrackerConnection {
  #urls: TrackerUrls;
  #token: string;
  #http: Deno.HttpClient;
  #timeoutMs: number;

  constructor(options: ClientOptions) {
    const socket = typeof options.url === "string" && options.url.startsWith(UNIX_PREFIX)
      ? options.url.slice(UNIX_PREFIX.length)
      : null;
    // The socket's requests need a URL: its host is never looked up (the transport is the socket).
    this.#urls = new TrackerUrls(socket !== null ? ["http://agent.socket"] : [options.url].flat());
    this.#token = options.token;
    // HTTP/1.1 on purpose: Deno's fetch leaves Nagle on, and on one multiplexed HTTP/2 connection a
    // long-poll answer then waits ~40ms for a delayed ACK (measured: submit-to-done 90ms vs 9ms).
    this.#http = socket !== null
      ? Deno.createHttpClient({ proxy: { transport: "unix", path: socket }, http2: false, http1: true })
      : Deno.createHttpClient({ caCerts: [options.caPem], http2: false, http1: true });
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The tracker requests go to now. */
  get url(): string {
    return this.#urls.current;
  }

  /** Every tracker this client may go to, the current one first. */
  get urls(): readonly string[] {
    return this.#urls.all;
  }

  /** Go to these trackers from now on (learnt from one: GET /v1/trackers); the current one stays if listed. */
  setUrls(urls: readonly string[]): void {
    this.#urls.replace(urls);
  }

  /** Use another token from now on (an agent swaps its join token for its credential). */
  setToken(token: string): void {
    this.#token = token;
  }

  close(): void {
    this.#http.close();
  }

  /** The timeout of an ordinary call (`ClientOptions.timeoutMs`). */
  protected get timeoutMs(): number {
    return this.#timeoutMs;
  }

  protected async request(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<Response> {
    const signals = [AbortSignal.timeout(options.timeoutMs ?? this.#timeoutMs)];
    if (options.signal) signals.push(options.signal);
    const signal = AbortSignal.any(signals);
    // While no tracker leads (a takeover: at most a lease's time), a tracker answers what only the
    // leader does with a 503 that says it did nothing: sent again until a leader answers, within bounds.
    const started = performance.now();
    const backoff = new RetryBackoff(NO_LEADER_BACKOFF);
    for (;;) {
      try {
        return await this.#send(method, path, options, signal);
      } catch (error) {
        if (!isNoLeader(error) || signal.aborted || performance.now() - started >= NO_LEADER_WAIT_MS) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, backoff.next()));
    }
  }

  async #send(method: string, path: string, options: RequestOptions, signal: AbortSignal): Promise<Response> {
    let response: Response;
    // A tracker that refuses the connection got nothing of the request: the next one is asked at once,
    // each at most once. A failure after the request may have been sent is the caller's to retry.
    for (let tried = 1;; tried++) {
      const url = this.url;
      try {
        response = await fetch(`${url}${path}`, {
          method,
          client: this.#http,
          signal,
          headers: {
            ...options.headers,
            authorization: `Bearer ${this.#token}`,
            ...(options.bytes !== undefined
              ? { "content-type": options.bytesType ?? "application/octet-stream" }
              : options.body === undefined && options.rawBody === undefined
              ? {}
              : { "content-type": "application/json" }),
          },
          body: (options.bytes as Uint8Array<ArrayBuffer> | undefined) ?? options.rawBody ??
            (options.body === undefined ? undefined : JSON.stringify(options.body)),
        });
        break;
      } catch (error) {
        if (options.signal?.aborted) throw error;
        this.#urls.next(url);
        if (tried < this.#urls.all.length && notConnected(error)) continue;
        throw new TrackerUnreachableError(
          `Cannot reach the tracker at ${url}: ${describeFetchError(error)}${this.#then(url)}`,
          { cause: error },
        );
      }
    }
    if (!response.ok) {
      // A tracker that cannot serve now (it cannot reach the store, or the leader) may not be the only
      // one: the caller's next try goes to the next tracker of the list.
      if (response.status === 503) this.#urls.next(this.url);
      throw await errorFrom(response);
    }
    return response;
  }

  /** What a message adds when the next try goes to another tracker. */
  #then(failed: string): string {
    return this.url === failed ? "" : ` (next: ${this.url})`;
  }

  protected async json<T>(
    method: string,
    path: string,
    options?: RequestOptions,
  ) {
    const url = this.url;
    const response = await this.request(method, path, options);
    try {
      return (await response.json()) as T;
    } catch (error) {
      this.#urls.next(url);
      throw new TrackerUnreachableError(
        `The tracker at ${url} sent an incomplete answer: ${describeFetchError(error)}${this.#then(url)}`,
      );
    }
  }

  /** A GET answered with one JSON value a line (a log stream), each yielded as it comes. */
  protected async *ndjson<T>(path: string, options: { timeoutMs: number; signal?: AbortSignal }): AsyncGenerator<T> {
    const response = await this.request("GET", path, options);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        let read: ReadableStreamReadResult<string>;
        try {
          read = await reader.read();
        } catch (error) {
          if (options.signal?.aborted) return;
          const url = this.url;
          this.#urls.next(url);
          throw new TrackerUnreachableError(
            `The log stream from ${url} broke: ${describeFetchError(error)}${this.#then(url)}`,
          );
        }
        if (read.done) break;
        // What is buffered holds no newline: only the new text is searched (a long line arrives in
        // many reads, and searching it whole each time made following a chatty task quadratic).
        let newline = read.value.indexOf("\n");
        if (newline < 0) {
          buffer += read.value;
          continue;
        }
        newline += buffer.length;
        buffer += read.value;
        let start = 0;
        while (newline >= 0) {
          const line = buffer.slice(start, newline);
          start = newline + 1;
          if (line) yield JSON.parse(line) as T;
          newline = buffer.indexOf("\n", start);
        }
        buffer = buffer.slice(start);
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }
}

async function errorFrom(response: Response): Promise<FabricError> {
  let body: Partial<ErrorBody> | null = null;
  try {
    body = await response.json();
  } catch { /* not JSON: described below from the status */ }
  const code = body?.error?.code;
  if (code === "unavailable") return new TrackerBusyError(body!.error!.message, body!.error!.details);
  if (isErrorCode(code)) return new FabricError(code, body!.error!.message, body!.error!.details);
  if (response.status === 401) return new FabricError("unauthorized", "The tracker refused the credentials");
  const message = `The tracker answered ${response.status} ${response.statusText}`;
  return response.status >= 500 ? new TrackerBusyError(message) : new FabricError("bad_request", message);
}

function describeFetchError(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  const cause = (error as Error & { cause?: Error })?.cause?.message;
  if (error instanceof DOMException && error.name === "TimeoutError") return "no answer in time";
  if (/certificate|UnknownIssuer|NotValidForName|invalid peer/i.test(message + (cause ?? ""))) {
    return `its certificate is not trusted (${cause ?? message}); check --ca or FABRIC_CA`;
  }
  return cause && !message.includes(cause) ? `${message}: ${cause}` : message;
}
