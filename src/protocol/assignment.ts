/**
 * What an agent gets for one attempt: what every task has, and what its kind needs, as a union tagged
 * by kind. A task kind is defined here (its fields, how a job file's task becomes them, what an agent
 * must have for it) and by its driver on the agent (exec/drivers/); nothing else knows the kinds.
 */
import { parseAddonRef } from "./addon.ts";
import type { TaskKind } from "./job_expand.ts";
import type { TaskSpec } from "./job_spec.ts";
import type { Permissions } from "./permissions.ts";
import type { SignedJob } from "./signing.ts";
import type { ArtifactInput, ArtifactRule, BlobRef } from "./blob.ts";

/** The fields of each kind. */
export interface WorkByKind {
  /** `run` is a script for `shell`: bash, sh, python, or a command line with "{0}" for the script file. */
  shell: { run: string; shell: string };
  /** A TypeScript file, run by Deno. */
  script: { script: { name: string; content: string } };
  /** A checkout of `git`, then its commands in it with `shell`: one script, or steps (the first failure ends it). */
  git: {
    git: { repo: string; ref: string; depth: number | null };
    shell: string;
    commands: { run: string } | { steps: string[] };
  };
  /** An add-on the agent loaded (addon.ts), by name and version, with the task's parameters (`with:`). */
  addon: { addon: { name: string; version: string; with: Record<string, unknown> } };
}

/** One kind's part of an assignment. */
export type WorkOf<K extends TaskKind> = { kind: K } & WorkByKind[K];
export type Work = { [K in TaskKind]: WorkOf<K> }[TaskKind];

/** What every attempt has, whatever its kind. */
export interface AssignmentBase {
  taskId: string;
  attempt: number;
  jobId: string;
  jobName: string;
  name: string;
  index: number;
  count: number;
  matrix: Record<string, string> | null;
  env: Record<string, string>;
  permissions: Permissions;
  sandbox: boolean;
  timeoutMs: number | null;
  graceMs: number;
  memoryBytes: number | null;
  /** The most the task's directory may hold (null: no limit); past it the task ends with `disk`. */
  diskBytes: number | null;
  /** The most processes and threads the task may have at once. */
  pids: number;
  maxOutputBytes: number;
  /** Outputs of the tasks this one needs, by task name (a list for a fanned-out task). */
  needs: Record<string, unknown>;
  /** The pack of the task's `files:` (blob.ts): the agent unpacks it into the task's directory; null: none. */
  pack?: BlobRef | null;
  /** The artifacts of the tasks it needs that it asked for (blob.ts), put in its directory; absent: none. */
  inputs?: ArtifactInput[] | null;
  /** What the task keeps of what it leaves (`artifacts:`); null or absent: nothing. */
  artifacts?: ArtifactRule | null;
  /** The job as its submitter signed it (`fabric submit --sign`), or null: what a `--verify-key` agent checks. */
  signed: SignedJob | null;
  /**
   * The values of the job's `secrets:` for this task, by variable name; absent when it has none. Set
   * by the tracker when it sends the attempt; the agent puts them in the task's environment only, and
   * masks them in its output.
   */
  secrets?: Record<string, string>;
}

export type AssignmentOf<K extends TaskKind> = AssignmentBase & WorkOf<K>;
/** Everything an agent needs to run one attempt. */
export type Assignment = { [K in TaskKind]: AssignmentOf<K> }[TaskKind];

/** A validated task's kind and the fields of its kind; `files` are the job's shipped script files. */
export function workOf(spec: TaskSpec, files: Record<string, string>): Work {
  if (spec.uses !== undefined) return { kind: "addon", addon: { ...parseAddonRef(spec.uses), with: spec.with ?? {} } };
  if (spec.git) {
    const { repo, ref, depth } = spec.git;
    return {
      kind: "git",
      git: { repo, ref, depth: depth ?? null },
      shell: spec.shell ?? "bash",
      commands: spec.steps ? { steps: spec.steps } : { run: spec.run ?? "" },
    };
  }
  if (spec.code !== undefined) return { kind: "script", script: { name: `${spec.name}.ts`, content: spec.code } };
  if (spec.script !== undefined) {
    return { kind: "script", script: { name: spec.script, content: files[spec.script] ?? "" } };
  }
  return { kind: "shell", run: spec.run ?? "", shell: spec.shell ?? "bash" };
}

/** What an agent must have (beyond the sandbox and an add-on) to be given a task of each kind, and what to say when none has. */
export const KIND_NEEDS: { [K in TaskKind]: { capability: "deno" | "git"; missing: string } | null } = {
  shell: null,
  script: { capability: "deno", missing: "no ready agent has a Deno runtime for script tasks" },
  git: { capability: "git", missing: "no ready agent has git" },
  // Which add-on, not a capability: placement.ts looks for its NAME@VERSION among the agents' add-ons.
  addon: null,
};
