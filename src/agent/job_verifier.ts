/**
 * `fabric agent --verify-key`: the agent runs a task only if its job was signed by a key it trusts and
 * the task is exactly what the signed job makes of it, so that a compromised tracker cannot make the
 * agent run a command. The tracker's copy of the task is not trusted: the agent re-derives the task from
 * the signed job file with the same pure code the tracker uses (validation, `taskInstanceAt`,
 * `effectiveTask`, `specFields`) and compares every field. What the tracker adds (ids, the attempt, the
 * outputs of the tasks it needs, and for `select: all` how many agents share it) is checked for shape only.
 */
import { isDeepStrictEqual } from "node:util";
import {
  type Assignment,
  type BlobRef,
  effectiveTask,
  jobSignatureSchema,
  type JobSpec,
  keyName,
  MAX_DURATION_DAYS,
  readPayload,
  specFields,
  taskInstanceAt,
  TRACKER_FIELDS,
  validateJobSpec,
  verifyPayload,
} from "../protocol/mod.ts";

/** Ids the tracker makes: they name files on this machine, so nothing but a plain name. */
const PLAIN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/**
 * Signed jobs verified lately, kept because the tasks of one job come in many assignments; at most this
 * many, and this many characters of payload (a job file and its scripts may be several MiB).
 */
const CACHED_JOBS = 16;
const CACHED_CHARS = 32 * 1024 * 1024;
const MAX_GRACE_MS = MAX_DURATION_DAYS * 86_400_000;

interface VerifiedJob {
  payload: string;
  spec: JobSpec;
  files: Record<string, string>;
  packs: Record<string, BlobRef>;
}

export class JobVerifier {
  readonly #trusted: ReadonlySet<string>;
  readonly #agentName: string;
  readonly #keep: { jobs: number; chars: number };
  /** By signature: a payload is taken from here only if it is the very payload that was verified. */
  #verified = new Map<string, VerifiedJob>();
  #cachedChars = 0;

  /** `trusted`: the public keys (raw, base64) of `--verify-key`; `keep`: how much of verified jobs to keep. */
  constructor(trusted: Iterable<string>, agentName: string, keep = { jobs: CACHED_JOBS, chars: CACHED_CHARS }) {
    this.#trusted = new Set(trusted);
    this.#agentName = agentName;
    this.#keep = keep;
  }

  /** What is kept of jobs verified lately: how many, and their payloads' characters. */
  get kept(): { jobs: number; chars: number } {
    return { jobs: this.#verified.size, chars: this.#cachedChars };
  }

  /** Why this agent must not run the assignment, or null if it is the signed job's task. */
  async refusal(a: Assignment): Promise<string | null> {
    for (const [field, value] of [["taskId", a.taskId], ["jobId", a.jobId]] as const) {
      if (typeof value !== "string" || !PLAIN_ID.test(value)) {
        return `the tracker sent a ${field} that is not a plain name`;
      }
    }
    if (!Number.isSafeInteger(a.attempt) || a.attempt < 1) return "the tracker sent an attempt that is not a number";
    const job = await this.#signedJob(a);
    if (typeof job === "string") return job;
    return difference(a, job, this.#agentName);
  }

  async #signedJob(a: Assignment): Promise<VerifiedJob | string> {
    const signed = a.signed;
    if (signed === null || signed === undefined) {
      return "the job is not signed by a key this agent trusts (it is not signed)";
    }
    const signature = jobSignatureSchema.safeParse({
      algorithm: signed.algorithm,
      publicKey: signed.publicKey,
      signature: signed.signature,
    });
    if (!signature.success || typeof signed.payload !== "string") {
      return "the job is not signed by a key this agent trusts (its signature is malformed)";
    }
    if (!this.#trusted.has(signature.data.publicKey)) {
      return `the job is not signed by a key this agent trusts (it is signed by ${keyName(signature.data.publicKey)})`;
    }
    const cached = this.#verified.get(signature.data.signature);
    if (cached !== undefined && cached.payload === signed.payload) return cached;
    if (!(await verifyPayload(signature.data, signed.payload))) {
      return "the job's signature does not verify: the signed job was altered";
    }
    const content = readPayload(signed.payload);
    if (typeof content === "string") return content;
    const parsed = validateJobSpec(content.spec);
    if (!parsed.success) return "the signed job is not a valid job file for this agent's version of fabric";
    const job = { payload: signed.payload, spec: parsed.data, files: content.files, packs: content.packs };
    this.#remember(signature.data.signature, job);
    return job;
  }

  #remember(signature: string, job: VerifiedJob): void {
    const old = this.#verified.get(signature);
    if (old) this.#cachedChars -= old.payload.length;
    this.#verified.delete(signature);
    this.#verified.set(signature, job);
    this.#cachedChars += job.payload.length;
    // Oldest first; the one just verified stays even if it alone is over the limit.
    for (const [key, entry] of this.#verified) {
      const within = this.#verified.size <= this.#keep.jobs && this.#cachedChars <= this.#keep.chars;
      if (this.#verified.size <= 1 || within) break;
      this.#verified.delete(key);
      this.#cachedChars -= entry.payload.length;
    }
  }
}

/** The first way the assignment differs from the task the signed job makes, or null. */
function difference(a: Assignment, job: VerifiedJob, agentName: string): string | null {
  const differs = (field: string, why = "") => `task differs from the signed job: field ${field}${why}`;
  const template = /^[^[@]*/.exec(a.name)![0];
  const task = job.spec.tasks.find((t) => t.name === template);
  if (task === undefined) return differs("name", ` (the signed job has no task "${template}")`);
  const effective = effectiveTask(job.spec, task);
  // Where the job says it may run, by name; label constraints are the tracker's to apply.
  if (effective.agents !== null && !effective.agents.includes(agentName)) {
    return differs("agents", ` (it runs only on ${effective.agents.join(", ")})`);
  }
  if (effective.exclude.includes(agentName)) return differs("exclude", " (it excludes this agent)");
  const place = placeOf(a, task, effective.select === "all", agentName);
  if (typeof place === "string") return differs(place);
  // The tracker's default grace period applies where the job sets none; it only delays a kill.
  const graceOk = Number.isSafeInteger(a.graceMs) && a.graceMs >= 0 && a.graceMs <= MAX_GRACE_MS;
  if (effective.graceMs === null && !graceOk) return differs("graceMs");
  // The pack is named by its hash, which the signature covers: the bytes are checked against it when fetched.
  const pack = a.pack ?? null;
  const signedPack = Object.hasOwn(job.packs, template) ? job.packs[template] : null;
  if (!isDeepStrictEqual(pack, signedPack)) {
    return differs("pack", signedPack === null ? " (the signed job ships no files to this task)" : "");
  }
  const expected: Record<string, unknown> = {
    ...place,
    ...specFields(job.spec, task, { effective, files: job.files, defaultGraceMs: a.graceMs }),
  };
  const given = a as unknown as Record<string, unknown>;
  for (const [field, value] of Object.entries(expected)) {
    if (!isDeepStrictEqual(given[field], value)) return differs(field);
  }
  const trackers: ReadonlySet<string> = new Set(TRACKER_FIELDS);
  for (const field of Object.keys(given)) {
    if (!(field in expected) && !trackers.has(field)) return differs(field, " (not in the signed job)");
  }
  // Outputs of other tasks are data the tracker passes on; which tasks they are is the job's.
  const needs = a.needs;
  if (typeof needs !== "object" || needs === null || Array.isArray(needs)) return differs("needs");
  if (!isDeepStrictEqual(Object.keys(needs).sort(), [...effective.needs].sort())) return differs("needs");
  // Artifacts are the job's own tasks' too, named by hash; only tasks whose artifacts it asked for.
  const asked = new Set(effective.needRules.filter((rule) => rule.artifacts).map((rule) => rule.task));
  const inputs: unknown = a.inputs ?? [];
  if (!Array.isArray(inputs) || inputs.some((input) => !asked.has(input?.task))) return differs("inputs");
  // Secrets' values are the tracker's to send; which variables they set is the job's (a tracker that
  // could add one could set BASH_ENV or LD_PRELOAD).
  const secrets = a.secrets ?? {};
  if (typeof secrets !== "object" || secrets === null || Array.isArray(secrets)) return differs("secrets");
  if (Object.values(secrets).some((value) => typeof value !== "string")) return differs("secrets");
  if (!isDeepStrictEqual(Object.keys(secrets).sort(), Object.keys(effective.secrets).sort())) {
    return differs("secrets", " (not the variables the signed job names)");
  }
  return null;
}

type Place = Pick<Assignment, "name" | "index" | "count" | "matrix">;

/**
 * Which task of the fan-out the assignment is, as the signed job makes it; or the field that is wrong.
 * `select: all` makes one copy per agent the tracker found ready: their number is the tracker's, but the
 * copy must be this agent's.
 */
function placeOf(a: Assignment, task: JobSpec["tasks"][number], all: boolean, agentName: string): Place | string {
  if (!Number.isSafeInteger(a.index) || !Number.isSafeInteger(a.count)) return "index";
  if (!all) {
    const instance = taskInstanceAt(task, a.index);
    if (instance === null) return "index";
    return { name: instance.name, index: instance.index, count: instance.count, matrix: instance.matrix };
  }
  const fan = taskInstanceAt(task, 0)!.count;
  const agents = a.count / fan;
  if (!Number.isSafeInteger(agents) || agents < 1) return "count";
  const instance = taskInstanceAt(task, Math.floor(a.index / agents));
  if (instance === null) return "index";
  return { name: `${instance.name}@${agentName}`, index: a.index, count: a.count, matrix: instance.matrix };
}
