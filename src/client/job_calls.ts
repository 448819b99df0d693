/**
 * The API's calls about jobs: a job submitted with the files it ships (blobs, a chunk per request:
 * protocol/blob.ts), periodic jobs, a job's and a task's state, and their output.
 */
import type {
  BlobRef,
  CancelJobResponse,
  JobDetail,
  JobLogLine,
  JobSignature,
  JobSummary,
  JobTasksPage,
  JobWatch,
  LogLine,
  PeriodicView,
  RegisterPeriodicResponse,
  RerunJobResponse,
  RunPeriodicResponse,
  SubmitJobResponse,
  TaskDetail,
  TaskState,
} from "../protocol/mod.ts";
import { FabricError } from "../protocol/errors.ts";
import { AgentCalls } from "./agent_calls.ts";

/** One chunk's request (4 MiB) may take longer than an ordinary call on a slow link. */
const BLOB_TIMEOUT_MS = 120_000;
/** The longest a submission may take to be stored and answered (a million tasks: ~30-60 s on PostgreSQL). */
const SUBMIT_TIMEOUT_MS = 5 * 60_000;

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

/** One layer of `FabricClient` (http_client.ts): its calls about jobs. */
export class JobCalls extends AgentCalls {
  submitJob(spec: unknown, options: Submission = {}): Promise<SubmitJobResponse> {
    const { source, files = {}, packs, signature } = options;
    // Answered once the whole job is stored: a job of a million tasks takes its tracker tens of seconds.
    return this.json("POST", "/v1/jobs", {
      body: { spec, source, files, packs, signature },
      timeoutMs: Math.max(SUBMIT_TIMEOUT_MS, this.timeoutMs),
    });
  }

  // ---- blobs: files shipped with jobs, a chunk per request (protocol/blob.ts) ------------------

  /** The blob if the tracker holds it whole, else null. */
  async blobInfo(sha256: string, signal?: AbortSignal): Promise<BlobRef | null> {
    try {
      return await this.json<BlobRef>("GET", `/v1/blobs/${sha256}`, { signal });
    } catch (error) {
      if (error instanceof FabricError && error.code === "not_found") return null;
      throw error;
    }
  }
  async putBlobChunk(sha256: string, seq: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    await this.json("PUT", `/v1/blobs/${sha256}/chunks/${seq}`, { bytes: data, timeoutMs: BLOB_TIMEOUT_MS, signal });
  }
  completeBlob(sha256: string, size: number, signal?: AbortSignal): Promise<BlobRef> {
    // The tracker reads the whole blob back to check it.
    return this.json("POST", `/v1/blobs/${sha256}`, { body: { size }, timeoutMs: 10 * BLOB_TIMEOUT_MS, signal });
  }
  async readBlobChunk(sha256: string, seq: number, signal?: AbortSignal): Promise<Uint8Array> {
    const response = await this.request("GET", `/v1/blobs/${sha256}/chunks/${seq}`, {
      timeoutMs: BLOB_TIMEOUT_MS,
      signal,
    });
    return new Uint8Array(await response.arrayBuffer());
  }

  // ---- periodic jobs -------------------------------------------------------------------------

  /** A job file with `schedule:`: registered (or the one of its name replaced), not run now. */
  registerPeriodic(spec: unknown, options: Submission = {}): Promise<RegisterPeriodicResponse> {
    const { source, files = {}, packs = {}, signature } = options;
    return this.json("POST", "/v1/periodic", { body: { spec, source, files, packs, signature } });
  }
  async listPeriodic(): Promise<PeriodicView[]> {
    return (await this.json<{ periodic: PeriodicView[] }>("GET", "/v1/periodic")).periodic;
  }
  pausePeriodic(name: string): Promise<PeriodicView> {
    return this.json("POST", `/v1/periodic/${encodeURIComponent(name)}/pause`, { body: {} });
  }
  resumePeriodic(name: string): Promise<PeriodicView> {
    return this.json("POST", `/v1/periodic/${encodeURIComponent(name)}/resume`, { body: {} });
  }
  runPeriodic(name: string): Promise<RunPeriodicResponse> {
    return this.json("POST", `/v1/periodic/${encodeURIComponent(name)}/run`, { body: {} });
  }
  async deletePeriodic(name: string): Promise<void> {
    await this.json("DELETE", `/v1/periodic/${encodeURIComponent(name)}`);
  }

  // ---- jobs and tasks ------------------------------------------------------------------------

  async listJobs(limit = 50): Promise<JobSummary[]> {
    return (await this.json<{ jobs: JobSummary[] }>("GET", `/v1/jobs?limit=${limit}`)).jobs;
  }
  getJob(jobId: string): Promise<JobDetail> {
    return this.json("GET", `/v1/jobs/${encodeURIComponent(jobId)}`);
  }
  /** A job with a page of its tasks, those in `state` and named like `name` (a glob) if given. */
  getJobTasks(
    jobId: string,
    query: { state?: TaskState; name?: string; offset?: number; limit: number },
  ): Promise<JobTasksPage> {
    const params = new URLSearchParams({ limit: String(query.limit), offset: String(query.offset ?? 0) });
    if (query.state !== undefined) params.set("state", query.state);
    if (query.name !== undefined) params.set("name", query.name);
    return this.json("GET", `/v1/jobs/${encodeURIComponent(jobId)}?${params}`);
  }
  /** The job's detail as the tracker sent it (JSON text), for passing on without parsing. */
  async getJobText(jobId: string): Promise<string> {
    const response = await this.request("GET", `/v1/jobs/${encodeURIComponent(jobId)}`);
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
    return this.json("GET", `/v1/jobs/${encodeURIComponent(jobId)}/watch?since=${since}&waitMs=${waitMs}${reasons}`, {
      timeoutMs: waitMs + 15_000,
      signal: options.signal,
    });
  }
  /** Submit a job's stored file again; `failed`: only its tasks that did not succeed run. */
  rerunJob(jobId: string, options: { failed?: boolean } = {}): Promise<RerunJobResponse> {
    return this.json("POST", `/v1/jobs/${encodeURIComponent(jobId)}/rerun`, { body: { failed: options.failed } });
  }
  cancelJob(jobId: string): Promise<CancelJobResponse> {
    return this.json("POST", `/v1/jobs/${encodeURIComponent(jobId)}/cancel`);
  }
  getTask(taskId: string): Promise<TaskDetail> {
    return this.json("GET", `/v1/tasks/${encodeURIComponent(taskId)}`);
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
    yield* this.ndjson<LogLine>(`/v1/tasks/${encodeURIComponent(taskId)}/logs?${query}`, {
      timeoutMs: options.follow ? 7 * 86_400_000 : this.timeoutMs,
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
    yield* this.ndjson<JobLogLine>(`/v1/jobs/${encodeURIComponent(jobId)}/logs?${query}`, {
      timeoutMs: 7 * 86_400_000,
      signal: options.signal,
    });
  }
}
