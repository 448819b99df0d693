/** `fabric artifacts TASK|JOB [--json]`, `fabric artifacts get TASK PATH|GLOB [-o DIR]`: what tasks left. */
import { dirname, join, matchesGlob, relative, resolve } from "node:path";
import { BlobMismatchError, downloadBlob, type FabricClient } from "../client/mod.ts";
import type { ArtifactRef } from "../protocol/blob.ts";
import { formatSize } from "../protocol/size.ts";
import { parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { printJson, table } from "./output.ts";

const USAGE = `
fabric artifacts TASK|JOB [--json]
fabric artifacts get TASK PATH|GLOB [-o DIR]

List the files tasks kept ("artifacts:" in the job file): a task's, or every task's of a job (path,
size, SHA-256). "get" downloads a task's artifacts whose path is PATH or matches GLOB into DIR (the
current folder by default), each at its path under DIR, checked against its SHA-256; a path that
would land outside DIR is refused.

  --json       print the list as JSON
  -o, --out    the folder to download into
${CONNECTION_HELP}
`;

/** Tasks of a job whose artifacts are listed, at most. */
const MAX_LISTED_TASKS = 1000;

export async function artifactsCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("artifacts", args, {
    ...CONNECTION_FLAGS,
    json: { type: "boolean" },
    out: { type: "string", short: "o" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  const [first, ...rest] = parsed.positionals;
  if (first === "get") {
    if (rest.length !== 2) throw new UsageError("fabric artifacts get takes a task and a path or glob");
    const client = await connect(parsed);
    try {
      return await get(client, rest[0], rest[1], stringFlag(parsed, "out") ?? ".");
    } finally {
      client.close();
    }
  }
  if (first === undefined || rest.length > 0) throw new UsageError("fabric artifacts takes one task or job id");
  const client = await connect(parsed);
  try {
    const listed = await list(client, first);
    if (parsed.values.json) printJson(listed);
    else if (listed.length === 0) console.error("no artifacts");
    else {
      console.log(
        table(["TASK", "PATH", "SIZE", "SHA-256"], listed.map((a) => [a.task, a.path, formatSize(a.size), a.sha256])),
      );
    }
    return 0;
  } finally {
    client.close();
  }
}

async function list(client: FabricClient, id: string): Promise<Array<ArtifactRef & { task: string }>> {
  const tasks = id.includes(".")
    ? [id]
    : (await client.getJobTasks(id, { limit: MAX_LISTED_TASKS })).tasks.map((t) => t.id);
  const out: Array<ArtifactRef & { task: string }> = [];
  for (const taskId of tasks) {
    for (const artifact of (await client.getTask(taskId)).artifacts ?? []) out.push({ task: taskId, ...artifact });
  }
  return out;
}

async function get(client: FabricClient, taskId: string, pattern: string, out: string): Promise<number> {
  const task = await client.getTask(taskId);
  const chosen = (task.artifacts ?? []).filter((a) => a.path === pattern || matchesGlob(a.path, pattern));
  if (chosen.length === 0) throw new UsageError(`Task ${taskId} has no artifact "${pattern}"`);
  const root = resolve(out);
  for (const artifact of chosen) {
    const target = resolve(root, artifact.path);
    const inside = relative(root, target);
    if (inside === "" || inside.startsWith("..") || inside.startsWith("/")) {
      throw new UsageError(`The artifact "${artifact.path}" would be written outside "${root}"; not downloaded`);
    }
    await Deno.mkdir(dirname(target), { recursive: true });
    await download(client, artifact, target);
    console.error(`${artifact.path} (${formatSize(artifact.size)})`);
  }
  return 0;
}

/** Into a new file beside `target`, checked, then renamed over it: never a half file at `target`. */
async function download(client: FabricClient, artifact: ArtifactRef, target: string): Promise<void> {
  const partial = join(dirname(target), `.fabric-partial-${crypto.randomUUID()}`);
  const file = await Deno.open(partial, { write: true, createNew: true });
  try {
    await downloadBlob(client, artifact, async (chunk) => {
      for (let at = 0; at < chunk.byteLength;) at += await file.write(chunk.subarray(at));
    });
    file.close();
    await Deno.rename(partial, target);
  } catch (error) {
    try {
      file.close();
    } catch { /* closed */ }
    await Deno.remove(partial).catch(() => {});
    if (error instanceof BlobMismatchError) {
      throw new UsageError(`The artifact "${artifact.path}" as downloaded is not what its task left (size or SHA-256)`);
    }
    throw error;
  }
}
