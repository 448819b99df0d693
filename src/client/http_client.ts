/**
 * The typed client of the tracker's API, used by the CLI and by agents. It speaks HTTPS to one
 * tracker, trusting only the CA it is given, and turns error bodies back into `FabricError`s.
 */
// The protocol's parts one by one: a client command does not need every zod schema built.
import { type ErrorBody, FabricError, isErrorCode, isNoLeader } from "../protocol/errors.ts";
import { notConnected } from "../protocol/not_connected.ts";
import { RetryBackoff } from "../protocol/retry.ts";
import { TASK_HEADER } from "../protocol/task_header.ts";
import { reportBody } from "./report_body.ts";
import { learntUrls, TrackerUrls } from "./tracker_urls.ts";
import type {
  AgentView,
  AttemptRef,
  AuditResponse,
  BlobRef,
  CancelJobResponse,
  ChannelKeysResponse,
  ChannelKeyView,
  ChannelsResponse,
  ChannelWatchResponse,
  ClaimRequest,
  ClaimResponse,
  CreateTokenRequest,
  CreateTokenResponse,
  DeleteChannelKeyResponse,
  GcResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  HelloRequest,
  HelloResponse,
  JobDetail,
  JobLogLine,
  JobSignature,
  JobSummary,
  JobTasksPage,
  JobWatch,
  LogLine,
  PeriodicView,
  RegisterAgentRequest,
  RegisterAgentResponse,
  RegisterPeriodicResponse,
  ReportResponse,
  RerunJobResponse,
  RunPeriodicResponse,
  SecretView,
  SetChannelKeyRequest,
  SetChannelKeyResponse,
  SetSecretResponse,
  SubmitJobResponse,
  TaskDetail,
  TaskEvent,
  TaskState,
  TokenView,
  TrackersResponse,
} from "../protocol/mod.ts";

/** One chunk's request (4 MiB) may take longer than an ordinary call on a slow link. */
const BLOB_TIMEOUT_MS = 120_000;
/** The longest a submission may take to be stored and answered (a million tasks: ~30-60 s on PostgreSQL). */
const SUBMIT_TIMEOUT_MS = 5 * 60_000;

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

/** What comes with a job file sent to the tracker (a job submitted, or a periodic job registered). */
export interface Submission {
  /** The job file's path, as the submitter named it. */
  source?: string;
  /** Script files named by `script:` keys: path -> content. */
  files?: Record<string, string>;
  /** The packs of `files:` uploaded first, by task name. */
  packs?: Record<string, BlobRef>;
  signature?: JobSignature;
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

export class FabricClient {
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

  async #request(
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

  async #json<T>(
    method: string,
    path: string,
    options?: RequestOptions,
  ) {
    const url = this.url;
    const response = await this.#request(method, path, options);
    try {
      return (await response.json()) as T;
    } catch (error) {
      this.#urls.next(url);
      throw new TrackerUnreachableError(
        `The tracker at ${url} sent an incomplete answer: ${describeFetchError(error)}${this.#then(url)}`,
      );
    }
  }

  // ---- agent side ----------------------------------------------------------------------------

  register(request: RegisterAgentRequest): Promise<RegisterAgentResponse> {
    return this.#json("POST", "/v1/agents/register", { body: request });
  }
  hello(request: HelloRequest & { holding: AttemptRef[] }): Promise<HelloResponse> {
    return this.#json("POST", "/v1/agent/hello", { body: request });
  }
  heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    return this.#json("POST", "/v1/agent/heartbeat", { body: request });
  }
  claim(request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse> {
    return this.#json("POST", "/v1/agent/claim", { body: request, timeoutMs: request.waitMs + 15_000, signal });
  }
  /** The agent drains itself: no new work; running tasks are handed back after `graceMs`. */
  selfDrain(graceMs: number): Promise<{ name: string; running: number; deadline: number }> {
    return this.#json("POST", "/v1/agent/drain", { body: { graceMs } });
  }
  async leave(): Promise<void> {
    await this.#json("POST", "/v1/agent/leave", { body: {} });
  }
  report(events: TaskEvent[]): Promise<ReportResponse> {
    return this.#json("POST", "/v1/agent/report", { body: { events } });
  }
  /** The same, with each event already as JSON text: a chatty task's output is not encoded twice. */
  reportJson(events: string[]): Promise<ReportResponse> {
    return this.#json("POST", "/v1/agent/report", { bytes: reportBody(events), bytesType: "application/json" });
  }

  // ---- client side ---------------------------------------------------------------------------

  submitJob(spec: unknown, options: Submission = {}): Promise<SubmitJobResponse> {
    const { source, files = {}, packs, signature } = options;
    // Answered once the whole job is stored: a job of a million tasks takes its tracker tens of seconds.
    return this.#json("POST", "/v1/jobs", {
      body: { spec, source, files, packs, signature },
      timeoutMs: Math.max(SUBMIT_TIMEOUT_MS, this.#timeoutMs),
    });
  }

  // ---- blobs: files shipped with jobs, a chunk per request (protocol/blob.ts) ------------------

  /** The blob if the tracker holds it whole, else null. */
  async blobInfo(sha256: string, signal?: AbortSignal): Promise<BlobRef | null> {
    try {
      return await this.#json<BlobRef>("GET", `/v1/blobs/${sha256}`, { signal });
    } catch (error) {
      if (error instanceof FabricError && error.code === "not_found") return null;
      throw error;
    }
  }
  async putBlobChunk(sha256: string, seq: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    await this.#json("PUT", `/v1/blobs/${sha256}/chunks/${seq}`, { bytes: data, timeoutMs: BLOB_TIMEOUT_MS, signal });
  }
  completeBlob(sha256: string, size: number, signal?: AbortSignal): Promise<BlobRef> {
    // The tracker reads the whole blob back to check it.
    return this.#json("POST", `/v1/blobs/${sha256}`, { body: { size }, timeoutMs: 10 * BLOB_TIMEOUT_MS, signal });
  }
  async readBlobChunk(sha256: string, seq: number, signal?: AbortSignal): Promise<Uint8Array> {
    const response = await this.#request("GET", `/v1/blobs/${sha256}/chunks/${seq}`, {
      timeoutMs: BLOB_TIMEOUT_MS,
      signal,
    });
    return new Uint8Array(await response.arrayBuffer());
  }
  /** A job file with `schedule:`: registered (or the one of its name replaced), not run now. */
  registerPeriodic(spec: unknown, options: Submission = {}): Promise<RegisterPeriodicResponse> {
    const { source, files = {}, packs = {}, signature } = options;
    return this.#json("POST", "/v1/periodic", { body: { spec, source, files, packs, signature } });
  }
  async listPeriodic(): Promise<PeriodicView[]> {
    return (await this.#json<{ periodic: PeriodicView[] }>("GET", "/v1/periodic")).periodic;
  }
  pausePeriodic(name: string): Promise<PeriodicView> {
    return this.#json("POST", `/v1/periodic/${encodeURIComponent(name)}/pause`, { body: {} });
  }
  resumePeriodic(name: string): Promise<PeriodicView> {
    return this.#json("POST", `/v1/periodic/${encodeURIComponent(name)}/resume`, { body: {} });
  }
  runPeriodic(name: string): Promise<RunPeriodicResponse> {
    return this.#json("POST", `/v1/periodic/${encodeURIComponent(name)}/run`, { body: {} });
  }
  async deletePeriodic(name: string): Promise<void> {
    await this.#json("DELETE", `/v1/periodic/${encodeURIComponent(name)}`);
  }
  drainAgent(agentName: string, graceMs: number): Promise<{ name: string; running: number; deadline: number }> {
    return this.#json("POST", `/v1/agents/${encodeURIComponent(agentName)}/drain`, { body: { graceMs } });
  }
  resumeAgent(agentName: string): Promise<{ name: string }> {
    return this.#json("POST", `/v1/agents/${encodeURIComponent(agentName)}/resume`, { body: {} });
  }
  async setWeight(agentName: string, weight: number): Promise<void> {
    await this.#json("PUT", `/v1/agents/${encodeURIComponent(agentName)}/weight`, { body: { weight } });
  }
  async listJobs(limit = 50): Promise<JobSummary[]> {
    return (await this.#json<{ jobs: JobSummary[] }>("GET", `/v1/jobs?limit=${limit}`)).jobs;
  }
  getJob(jobId: string): Promise<JobDetail> {
    return this.#json("GET", `/v1/jobs/${encodeURIComponent(jobId)}`);
  }
  /** A job with a page of its tasks, those in `state` and named like `name` (a glob) if given. */
  getJobTasks(
    jobId: string,
    query: { state?: TaskState; name?: string; offset?: number; limit: number },
  ): Promise<JobTasksPage> {
    const params = new URLSearchParams({ limit: String(query.limit), offset: String(query.offset ?? 0) });
    if (query.state !== undefined) params.set("state", query.state);
    if (query.name !== undefined) params.set("name", query.name);
    return this.#json("GET", `/v1/jobs/${encodeURIComponent(jobId)}?${params}`);
  }
  /** The job's detail as the tracker sent it (JSON text), for passing on without parsing. */
  async getJobText(jobId: string): Promise<string> {
    const response = await this.#request("GET", `/v1/jobs/${encodeURIComponent(jobId)}`);
    return await response.text();
  }
  /**
   * The job's summary once its version passes `since`, or after `waitMs` (default 25s); with
   * `reasons`, also why its waiting tasks wait.
   */
  watchJob(
    jobId: string,
    since: number,
    options: { waitMs?: number; reasons?: boolean; signal?: AbortSignal } = {},
  ): Promise<JobWatch> {
    const waitMs = options.waitMs ?? 25_000;
    const reasons = options.reasons ? "&reasons=1" : "";
    return this.#json("GET", `/v1/jobs/${encodeURIComponent(jobId)}/watch?since=${since}&waitMs=${waitMs}${reasons}`, {
      timeoutMs: waitMs + 15_000,
      signal: options.signal,
    });
  }
  /** Submit a job's stored file again; `failed`: only its tasks that did not succeed run. */
  rerunJob(jobId: string, options: { failed?: boolean } = {}): Promise<RerunJobResponse> {
    return this.#json("POST", `/v1/jobs/${encodeURIComponent(jobId)}/rerun`, { body: { failed: options.failed } });
  }
  cancelJob(jobId: string): Promise<CancelJobResponse> {
    return this.#json("POST", `/v1/jobs/${encodeURIComponent(jobId)}/cancel`);
  }
  getTask(taskId: string): Promise<TaskDetail> {
    return this.#json("GET", `/v1/tasks/${encodeURIComponent(taskId)}`);
  }
  async listAgents(): Promise<AgentView[]> {
    return (await this.#json<{ agents: AgentView[] }>("GET", "/v1/agents")).agents;
  }
  /** A pending agent (a tracker with --approve-agents) takes work from now on. */
  approveAgent(agentName: string): Promise<{ name: string; approved: boolean }> {
    return this.#json("POST", `/v1/agents/${encodeURIComponent(agentName)}/approve`, { body: {} });
  }
  /** Revoke an agent's credential: its tasks run elsewhere, its name is free. */
  removeAgent(agentName: string): Promise<{ name: string; lost: number }> {
    return this.#json("DELETE", `/v1/agents/${encodeURIComponent(agentName)}`);
  }

  async listTokens(): Promise<TokenView[]> {
    return (await this.#json<{ tokens: TokenView[] }>("GET", "/v1/tokens")).tokens;
  }
  createToken(request: CreateTokenRequest): Promise<CreateTokenResponse> {
    return this.#json("POST", "/v1/tokens", { body: request });
  }
  revokeToken(name: string): Promise<{ name: string; revoked: number }> {
    return this.#json("DELETE", `/v1/tokens/${encodeURIComponent(name)}`);
  }
  /** A new join token; the old one is refused from now on. */
  async rotateJoinToken(): Promise<string> {
    return (await this.#json<{ token: string }>("POST", "/v1/join-token/rotate", { body: {} })).token;
  }
  /** Run retention now, for about `budgetMs` (`more` in the answer: call again). */
  gc(budgetMs: number): Promise<GcResponse> {
    return this.#json("POST", "/v1/gc", { body: { budgetMs }, timeoutMs: budgetMs + this.#timeoutMs });
  }

  /** A page of the audit trail, newest first; `before`: the `next` of the page before. */
  audit(
    query: { since?: number; actor?: string; action?: string; before?: number; limit: number },
  ): Promise<AuditResponse> {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.since !== undefined) params.set("since", String(query.since));
    if (query.actor !== undefined) params.set("actor", query.actor);
    if (query.action !== undefined) params.set("action", query.action);
    if (query.before !== undefined) params.set("before", String(query.before));
    return this.#json("GET", `/v1/audit?${params}`);
  }

  /** The trackers that share this one's store (itself alone on SQLite), and which one answered. */
  listTrackers(): Promise<TrackersResponse> {
    return this.#json<TrackersResponse>("GET", "/v1/trackers");
  }

  /**
   * Ask the current tracker for the others, and go by that list from now on (see learntUrls): the
   * current one first, the others heard from lately, then `given` (the user's). Answers the list.
   */
  async learnTrackers(given: readonly string[] = []): Promise<readonly string[]> {
    const current = this.url;
    const answer = await this.listTrackers();
    this.#urls.replace(learntUrls(answer, { current, given, now: Date.now() }));
    return this.#urls.all;
  }

  /** Set a secret's value (sent in the body only); `allow` replaces who may use it. */
  setSecret(name: string, value: string, allow?: string[]): Promise<SetSecretResponse> {
    return this.#json("PUT", `/v1/secrets/${encodeURIComponent(name)}`, { body: { value, allow } });
  }
  async listSecrets(): Promise<SecretView[]> {
    return (await this.#json<{ secrets: SecretView[] }>("GET", "/v1/secrets")).secrets;
  }
  async deleteSecret(name: string): Promise<void> {
    await this.#json("DELETE", `/v1/secrets/${encodeURIComponent(name)}`);
  }

  // ---- channels: `task`, an agent's call for one of its tasks (agent/channel_socket.ts) ----------

  listChannels(): Promise<ChannelsResponse> {
    return this.#json("GET", "/v1/channels");
  }
  listChannelKeys(channel: string, task?: AttemptRef): Promise<ChannelKeysResponse> {
    return this.#json("GET", `/v1/channels/${encodeURIComponent(channel)}`, { headers: taskHeader(task) });
  }
  getChannelKey(channel: string, key: string, task?: AttemptRef): Promise<ChannelKeyView> {
    return this.#json("GET", channelKeyPath(channel, key), { headers: taskHeader(task) });
  }
  setChannelKey(
    channel: string,
    key: string,
    request: SetChannelKeyRequest,
    task?: AttemptRef,
  ): Promise<SetChannelKeyResponse> {
    return this.#json("PUT", channelKeyPath(channel, key), { body: request, headers: taskHeader(task) });
  }
  deleteChannelKey(
    channel: string,
    key: string,
    options: { ifRevision?: number; task?: AttemptRef } = {},
  ): Promise<DeleteChannelKeyResponse> {
    const query = options.ifRevision === undefined ? "" : `?ifRevision=${options.ifRevision}`;
    return this.#json("DELETE", `${channelKeyPath(channel, key)}${query}`, { headers: taskHeader(options.task) });
  }
  /** The changes of `channel` after revision `after`, waiting up to `waitMs` for the first. */
  watchChannel(
    channel: string,
    after: number,
    options: { waitMs: number; signal?: AbortSignal; task?: AttemptRef },
  ): Promise<ChannelWatchResponse> {
    const path = `/v1/channels/${encodeURIComponent(channel)}/watch?after=${after}&waitMs=${options.waitMs}`;
    return this.#json<ChannelWatchResponse>("GET", path, {
      timeoutMs: options.waitMs + 15_000,
      signal: options.signal,
      headers: taskHeader(options.task),
    });
  }

  /** A task's output as it is stored; with `follow`, live until the attempt ends. */
  async *logs(
    taskId: string,
    options: { attempt?: number; after?: number; follow?: boolean; signal?: AbortSignal } = {},
  ): AsyncGenerator<LogLine> {
    const query = new URLSearchParams();
    if (options.attempt !== undefined) query.set("attempt", String(options.attempt));
    if (options.after !== undefined) query.set("after", String(options.after));
    if (options.follow) query.set("follow", "1");
    yield* this.#ndjson<LogLine>(`/v1/tasks/${encodeURIComponent(taskId)}/logs?${query}`, {
      timeoutMs: options.follow ? 7 * 86_400_000 : this.#timeoutMs,
      signal: options.signal,
    });
  }

  /** The output of a job's tasks (each one's current attempt), in one stream: `fabric logs JOB`. */
  async *jobLogs(
    jobId: string,
    options: { state?: TaskState; task?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<JobLogLine> {
    const query = new URLSearchParams();
    if (options.state !== undefined) query.set("state", options.state);
    if (options.task !== undefined) query.set("task", options.task);
    yield* this.#ndjson<JobLogLine>(`/v1/jobs/${encodeURIComponent(jobId)}/logs?${query}`, {
      timeoutMs: 7 * 86_400_000,
      signal: options.signal,
    });
  }

  async *#ndjson<T>(path: string, options: { timeoutMs: number; signal?: AbortSignal }): AsyncGenerator<T> {
    const response = await this.#request("GET", path, options);
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

function taskHeader(task: AttemptRef | undefined): Record<string, string> | undefined {
  return task ? { [TASK_HEADER]: `${task.taskId}/${task.attempt}` } : undefined;
}

function channelKeyPath(channel: string, key: string): string {
  return `/v1/channels/${encodeURIComponent(channel)}/keys/${encodeURIComponent(key)}`;
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
