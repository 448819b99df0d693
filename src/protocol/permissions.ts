/**
 * One permission vocabulary for every task kind. Script tasks get exactly the matching Deno
 * `--allow-*` flags; shell and git tasks get the matching bubblewrap mounts and network namespace.
 */
import { z } from "zod";
import { channelNameSchema } from "./channel.ts";

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+|\*)(?::\d{1,5})?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;

export const absolutePathSchema = z.string().refine(
  (p) => p.startsWith("/") && !p.split("/").includes(".."),
  "must be an absolute path without '..'",
);

/**
 * Places no task may be granted, whatever the agent: the root is the whole machine (the agent's
 * credential included), /proc holds every process's files (`/proc/PID/root` is its whole view) and
 * the kernel's knobs, /sys the rest of them. The agent also resolves each path's links before it
 * binds it (src/exec/sandbox.ts), since a link can lead to any of these.
 */
export const FORBIDDEN_TREES = ["/proc", "/sys"];

/** Why `path` (absolute, without "..") may never be granted to a task, or null. */
export function forbiddenPath(path: string): string | null {
  const normal = "/" + path.split("/").filter((part) => part !== "" && part !== ".").join("/");
  if (normal === "/") return 'must not be "/": that grants the whole machine';
  const tree = FORBIDDEN_TREES.find((tree) => normal === tree || normal.startsWith(`${tree}/`));
  if (tree) return `must not be under ${tree}: it exposes other processes and the kernel's settings`;
  return null;
}

/** A `read` or `write` path: absolute, without "..", and not one of the places no task may have. */
const grantedPathSchema = absolutePathSchema.superRefine((path, ctx) => {
  const why = forbiddenPath(path);
  if (why) ctx.addIssue({ code: "custom", message: `${why}, got ${JSON.stringify(path)}` });
});

export const permissionsSchema = z.strictObject({
  /** false: no network; true: any; a list: these `host:port` (or `host`) only. */
  net: z.union([
    z.boolean(),
    z.array(z.string().regex(HOST_PORT, 'must look like "host:port", "host" or "[v6]:port"')),
  ]).optional(),
  /** Extra paths the task may read (its own directory and system files always). */
  read: z.array(grantedPathSchema).optional(),
  /** Extra paths the task may write (its own directory and a private /tmp always). */
  write: z.array(grantedPathSchema).optional(),
  /** Names of the agent's environment variables passed through (a trailing * matches a prefix). */
  env: z.array(z.string().regex(ENV_NAME, "must be an environment variable name")).optional(),
  /** Commands a script task may start. */
  run: z.array(z.string().min(1)).optional(),
  /** Channels the task may read and write, through its agent (docs/channels.md). */
  channels: z.array(channelNameSchema).max(64).optional(),
});
export type PermissionsInput = z.input<typeof permissionsSchema>;

/** Permissions with the defaults filled in: what a task actually gets. */
export interface Permissions {
  net: boolean | string[];
  read: string[];
  write: string[];
  env: string[];
  run: string[];
  channels: string[];
}

export const DEFAULT_PERMISSIONS: Permissions = {
  net: false,
  read: [],
  write: [],
  env: [],
  run: [],
  channels: [],
};

/** A task's permissions over its job's: each field the task sets replaces the job's. */
export function resolvePermissions(job?: PermissionsInput, task?: PermissionsInput): Permissions {
  const pick = <K extends keyof Permissions>(key: K): Permissions[K] =>
    (task?.[key] ?? job?.[key] ?? DEFAULT_PERMISSIONS[key]) as Permissions[K];
  return {
    net: pick("net"),
    read: pick("read"),
    write: pick("write"),
    env: pick("env"),
    run: pick("run"),
    channels: pick("channels"),
  };
}
