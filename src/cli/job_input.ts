/**
 * Reading a job file from disk (or stdin as "-") into a validated spec, with the script files it names.
 * Script files must lie inside the job file's folder once links are resolved: a job file from someone
 * else must not ship the submitter's other files (`script: ../../../etc/shadow` put its content in a log).
 */
import { dirname, join, relative, resolve } from "node:path";
import { JobSpecError, type ParsedJobFile, parseJobFile } from "../protocol/job_file.ts";
import type { JobFileProblem } from "../protocol/job_spec_error.ts";
import { MAX_JOB_FILE_BYTES, MAX_SCRIPT_BYTES } from "../protocol/limits.ts";
import { decodeUtf8, textProblem, Utf8Error } from "../protocol/text.ts";
import { FabricError } from "../protocol/errors.ts";
import { UsageError } from "./args.ts";

export interface JobInput extends ParsedJobFile {
  /** Script files named by `script:` keys, read relative to the job file: path as written -> content. */
  files: Record<string, string>;
  /** The job file's folder, links resolved (the working directory for standard input). */
  base: string;
}

export async function readJobFile(file: string): Promise<JobInput> {
  const name = file === "-" ? "(stdin)" : file;
  let bytes: Uint8Array;
  try {
    bytes = file === "-" ? await readStdin(MAX_JOB_FILE_BYTES) : await readRegularFile(file, MAX_JOB_FILE_BYTES);
  } catch (error) {
    if (error instanceof TooLargeError) {
      throw new JobSpecError(name, [{ line: 1, column: 1, message: `a job file may be at most ${error.limit} bytes` }]);
    }
    throw new UsageError(`Cannot read the job file "${file}": ${reasonOf(error)}`);
  }
  let text: string;
  try {
    text = decodeUtf8(bytes);
  } catch (error) {
    if (!(error instanceof Utf8Error)) throw error;
    const message = `not valid UTF-8 (at byte ${error.offset + 1})`;
    throw new JobSpecError(name, [{ line: error.line, column: error.column, message }]);
  }
  const parsed = await parseJobFile(text, name);
  let base: string;
  try {
    base = await Deno.realPath(file === "-" ? Deno.cwd() : dirname(resolve(file)));
  } catch (error) {
    throw new UsageError(`Cannot read the folder of the job file "${file}": ${reasonOf(error)}`);
  }
  const files: Record<string, string> = {};
  const problems: JobFileProblem[] = [];
  for (const [i, task] of parsed.spec.tasks.entries()) {
    if (task.script === undefined || task.script in files) continue;
    const field = `"tasks[${i}].script"`;
    const where = parsed.locate(["tasks", i, "script"]);
    try {
      files[task.script] = await readScript(base, task.script);
    } catch (error) {
      problems.push({ ...where, message: `${field} ${(error as Error).message}` });
    }
  }
  if (problems.length > 0) throw new JobSpecError(name, problems);
  return { ...parsed, files, base };
}

/** A script's text, if it resolves (links followed) to a regular file inside `base` and is clean UTF-8. */
async function readScript(base: string, script: string): Promise<string> {
  const path = join(base, script);
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (error) {
    throw new Error(`cannot be read from "${path}": ${reasonOf(error)}`);
  }
  const inside = relative(base, real);
  if (inside === "" || inside.startsWith("..") || inside.startsWith("/")) {
    throw new Error(`resolves to "${real}", outside the job file's folder "${base}"; a script must lie inside it`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(real, MAX_SCRIPT_BYTES);
  } catch (error) {
    if (error instanceof TooLargeError) throw new Error(`"${path}" is over ${error.limit} bytes`);
    throw new Error(`cannot be read from "${path}": ${reasonOf(error)}`);
  }
  let text: string;
  try {
    text = decodeUtf8(bytes);
  } catch (error) {
    throw new Error(`"${path}" is ${(error as Error).message}`);
  }
  const problem = textProblem(text);
  if (problem !== null) throw new Error(`"${path}" ${problem}`);
  return text;
}

class TooLargeError extends RangeError {
  constructor(readonly limit: number) {
    super(`over ${limit} bytes`);
  }
}

/**
 * At most `limit` bytes of a regular file (not a FIFO, which would block, nor a device without end),
 * or a TooLargeError.
 */
export async function readRegularFile(path: string, limit: number): Promise<Uint8Array> {
  const info = await Deno.stat(path);
  if (!info.isFile) throw new Error("not a regular file");
  if (info.size > limit) throw new TooLargeError(limit);
  const handle = await Deno.open(path, { read: true });
  return await readUpTo(handle.readable, limit); // the stream closes the file at its end or on a throw
}

/** Standard input to its end; a TooLargeError (a RangeError) past `limit` bytes. */
export async function readStdin(limit: number): Promise<Uint8Array> {
  return await readUpTo(Deno.stdin.readable, limit);
}

async function readUpTo(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > limit) throw new TooLargeError(limit);
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

export function reasonOf(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return (error as Error).message;
}

/**
 * A tracker's refusal of the job that names paths in it (a `with:` value that does not fit its add-on's
 * schema) as a JobSpecError at the job file's lines and columns; any other error as it is.
 */
export function locatedRefusal(error: unknown, job: ParsedJobFile, name: string): unknown {
  if (!(error instanceof FabricError) || error.code !== "invalid_job") return error;
  const problems = (error.details as { problems?: unknown } | undefined)?.problems;
  if (!Array.isArray(problems) || problems.length === 0) return error;
  const located: JobFileProblem[] = [];
  for (const problem of problems) {
    const { path, message } = problem as { path?: unknown; message?: unknown };
    if (!Array.isArray(path) || typeof message !== "string") return error;
    const safe = path.filter((part): part is string | number => typeof part === "string" || typeof part === "number");
    located.push({ ...job.locate(safe), message });
  }
  return new JobSpecError(name, located);
}
