/**
 * A task's artifacts (`artifacts:`) on their way to the tracker once it has ended: the files of its
 * directory its globs match, each opened as a file the task made and is trusted in nothing (a link, a
 * FIFO, a device, a hard link, a path through a link: not kept, and said; exec/task_file.ts), hashed, and
 * uploaded a chunk at a time as a blob unless the tracker holds it already. Read twice (to hash, then
 * to send): a file that changes in between fails the tracker's check and is not kept. The attempt is
 * reported ended only after this, with the list: what it names is stored whole.
 */
import fs from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type BlobUploadClient, uploadBlob } from "../client/mod.ts";
import { openTaskFile } from "../exec/mod.ts";
import { walkArtifacts } from "./artifact_walk.ts";
import {
  type ArtifactRef,
  type ArtifactRule,
  EMPTY_SHA256,
  MAX_BLOB_BYTES,
  MAX_TASK_ARTIFACTS,
} from "../protocol/mod.ts";

export type ArtifactClient = BlobUploadClient;

/** Tries of one request to the tracker (one restarting is waited for), with a pause growing to 5 s. */
const TRIES = 8;

export interface ArtifactsOptions {
  /** The agent's work root: the task cannot change it (task_file.ts). */
  root: string;
  /** The task's directory. */
  dir: string;
  /** Names at the top of the directory that are fabric's, not the task's (`.fabric`, `tmp`). */
  skip: string[];
  rule: ArtifactRule;
  client: ArtifactClient;
  /** Told of each file not kept, and why. */
  say: (line: string) => void;
  /** Ends the uploads (the task was cancelled, or the agent stops): what is stored whole is kept. */
  signal?: AbortSignal;
}

/** Whether a task that ended so keeps its artifacts. */
export function keepsArtifacts(rule: ArtifactRule, succeeded: boolean): boolean {
  return rule.when === "always" || (rule.when === "on_success") === succeeded;
}

/** Uploads what the rule matches; the list of what is stored. */
export async function uploadArtifacts(options: ArtifactsOptions): Promise<ArtifactRef[]> {
  const gate = testGate();
  const { files: matched } = await walkArtifacts(options.dir, {
    patterns: options.rule.paths,
    skip: options.skip,
    say: options.say,
  });
  if (matched.length > MAX_TASK_ARTIFACTS) {
    options.say(`${matched.length} files match "artifacts"; only the first ${MAX_TASK_ARTIFACTS} are kept`);
  }
  const kept: ArtifactRef[] = [];
  const wanted = matched.slice(0, MAX_TASK_ARTIFACTS);
  for (const [i, path] of wanted.entries()) {
    if (options.signal?.aborted) {
      options.say(`${wanted.length - i} artifact(s) not kept: the task was stopped while they were uploaded`);
      break;
    }
    const opened = openTaskFile(options.root, join(options.dir, path));
    if (opened.kind !== "open") {
      if (opened.kind === "refused") options.say(`artifact "${path}" is not kept: it ${opened.reason}`);
      continue;
    }
    try {
      if (opened.size > MAX_BLOB_BYTES) {
        options.say(`artifact "${path}" is not kept: it holds more than ${MAX_BLOB_BYTES} bytes`);
        continue;
      }
      const { sha256, size } = await hashOf(opened.fd);
      const fd = opened.fd;
      if (size > 0) {
        await uploadBlob(options.client, { sha256, size }, (buffer, at) => readAt(fd, buffer, at), {
          signal: options.signal,
          tries: TRIES,
          afterChunk: gate === undefined ? undefined : (seq) => heldAt(gate, sha256, seq, options.signal),
        });
      }
      kept.push({ path, sha256: size === 0 ? EMPTY_SHA256 : sha256, size });
    } catch (error) {
      if (options.signal?.aborted) {
        options.say(`${wanted.length - i} artifact(s) not kept: the task was stopped while they were uploaded`);
        break;
      }
      options.say(`artifact "${path}" is not kept: ${(error as Error).message}`);
    } finally {
      fs.closeSync(opened.fd);
    }
  }
  return kept;
}

function readAt(fd: number, buffer: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, buffer, 0, buffer.length, position, (error, read) => (error ? reject(error) : resolve(read)))
  );
}

async function hashOf(fd: number): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  const buffer = new Uint8Array(1024 * 1024);
  let size = 0;
  for (;;) {
    const read = await readAt(fd, buffer, size);
    if (read === 0) break;
    hash.update(buffer.subarray(0, read));
    size += read;
    if (size > MAX_BLOB_BYTES) throw new Error(`it holds more than ${MAX_BLOB_BYTES} bytes`);
  }
  return { sha256: hash.digest("hex"), size };
}

/**
 * A test's hook: with FABRIC_TEST_UPLOAD_GATE=FILE in the agent's environment, an artifact's upload
 * stops after its first chunk (saying so on the agent's standard error) until FILE exists, so that a
 * kill -9 of the agent or the tracker lands mid-upload for certain. Unset, nothing waits.
 */
function testGate(): string | undefined {
  try {
    return Deno.env.get("FABRIC_TEST_UPLOAD_GATE") || undefined;
  } catch {
    return undefined; // no permission to read the environment: no hook
  }
}

async function heldAt(gate: string, sha256: string, seq: number, signal?: AbortSignal): Promise<void> {
  if (seq !== 0) return;
  console.error(`upload of ${sha256} held after chunk 0 until ${gate} exists (FABRIC_TEST_UPLOAD_GATE)`);
  // Bounded by the attempt: a stop ends the wait.
  while (!(await Deno.lstat(gate).then(() => true, () => false))) {
    signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
