/**
 * Preparing one attempt's directory and environment, whatever its kind: where its output file and its
 * dependencies' outputs go, and which variables it sees.
 */
import { join } from "node:path";
import { envSuffix } from "../protocol/mod.ts";
import { readTaskFile } from "../exec/mod.ts";
import type { AssignmentBase } from "../protocol/mod.ts";
import type { TaskPaths } from "./work_dirs.ts";

/** Largest $FABRIC_OUTPUT a task may leave. */
export const MAX_OUTPUT_FILE_BYTES = 1024 * 1024;
/**
 * Deepest nesting of arrays and objects in it: what reads it after (the CLI's pretty printer at
 * ~10,000 levels, Python's json module at ~1,000 in a task that needs it) recurses.
 */
export const MAX_OUTPUT_DEPTH = 256;

/** Write the files the task reads into its (new, empty) directory; returns the variables that name them. */
export async function writeTaskFiles(paths: TaskPaths, a: AssignmentBase): Promise<Record<string, string>> {
  if (Object.keys(a.needs).length > 0) await Deno.mkdir(join(paths.metaDir, "needs"));
  const vars: Record<string, string> = { FABRIC_OUTPUT: paths.outputFile };
  for (const [name, output] of Object.entries(a.needs)) {
    const file = join(paths.metaDir, "needs", `${name}.json`);
    await Deno.writeTextFile(file, JSON.stringify(output) + "\n");
    vars[`FABRIC_NEEDS_${envSuffix(name)}`] = file;
  }
  return vars;
}

export interface EnvOptions {
  paths: TaskPaths;
  agentName: string;
  basePath: string;
  /** The agent's own environment, for `permissions.env` pass-through. */
  agentEnv: Record<string, string>;
  /** Sandboxed tasks see a private /tmp; others use their own tmp directory. */
  sandboxed: boolean;
  extra: Record<string, string>;
}

/** The locale every task gets unless its job sets another. */
export const TASK_LANG = "C.UTF-8";

/** The whole environment of a task: nothing else of the agent's is inherited. */
export function taskEnv(a: AssignmentBase, options: EnvOptions): Record<string, string> {
  const passed: Record<string, string> = {};
  for (const pattern of a.permissions.env) {
    const prefix = pattern.endsWith("*") ? pattern.slice(0, -1) : null;
    for (const [name, value] of Object.entries(options.agentEnv)) {
      if (prefix !== null ? name.startsWith(prefix) : name === pattern) passed[name] = value;
    }
  }
  const env: Record<string, string> = {
    PATH: options.basePath,
    HOME: options.paths.workDir,
    TMPDIR: options.sandboxed ? "/tmp" : options.paths.tmpDir,
    LANG: TASK_LANG,
    ...passed,
    ...a.env,
    // In the environment only: never in an argument, a file of the task's directory, or the journal.
    ...a.secrets,
    FABRIC_JOB_ID: a.jobId,
    FABRIC_JOB_NAME: a.jobName,
    FABRIC_TASK_ID: a.taskId,
    FABRIC_TASK_NAME: a.name,
    FABRIC_TASK_INDEX: String(a.index),
    FABRIC_TASK_COUNT: String(a.count),
    FABRIC_ATTEMPT: String(a.attempt),
    FABRIC_AGENT: options.agentName,
    ...options.extra,
  };
  for (const [key, value] of Object.entries(a.matrix ?? {})) env[`FABRIC_MATRIX_${envSuffix(key)}`] = value;
  return env;
}

/**
 * What the task left in $FABRIC_OUTPUT: JSON text, nothing, or why it cannot be taken. The file is
 * the task's and trusted in nothing (see readTaskFile); no reason quotes what it holds.
 */
export function readOutputFile(workRoot: string, paths: TaskPaths): { output?: string; outputError?: string } {
  const file = readTaskFile(workRoot, paths.outputFile, MAX_OUTPUT_FILE_BYTES);
  if (file.kind === "absent") return {};
  if (file.kind === "refused") return { outputError: `$FABRIC_OUTPUT ${file.reason}` };
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(file.bytes);
  } catch {
    return { outputError: "$FABRIC_OUTPUT is not UTF-8 text, so not JSON" };
  }
  try {
    JSON.parse(text);
  } catch (error) {
    // V8's message quotes the text; only where it went wrong is kept.
    const where = (error as Error).message.match(/at position \d+( \(line \d+ column \d+\))?/)?.[0];
    return { outputError: `$FABRIC_OUTPUT does not hold valid JSON${where ? ` (${where})` : ""}` };
  }
  if (nesting(text) > MAX_OUTPUT_DEPTH) {
    return { outputError: `$FABRIC_OUTPUT nests arrays and objects more than ${MAX_OUTPUT_DEPTH} deep` };
  }
  return { output: text };
}

/** How deep arrays and objects nest in valid JSON text, found in one pass (no recursion). */
function nesting(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}
