/**
 * The artifacts of the tasks a task needs (`needs: [{task, artifacts: true}]`), put in its directory
 * before it starts. What the tracker names is hostile input as a pack is (unpack.ts): each path must
 * stay inside the directory (no "..", no absolute path, not `.fabric`), folders are made a step at a
 * time and must be real folders, each file is created new (never written through something already
 * there, such as a file of the job's `files:`), and the count and the bytes are bounded. Each blob is
 * downloaded once per agent and checked by its hash (the pack cache), then copied, a chunk at a time.
 */
import { join } from "node:path";
import {
  EMPTY_SHA256,
  formatSize,
  MAX_BLOB_BYTES,
  MAX_INPUT_BYTES,
  MAX_INPUT_FILES,
  sha256Schema,
} from "../protocol/mod.ts";
import type { PackCache } from "./pack_cache.ts";
import { checkedName, makeDirs, shown, UnpackError } from "./unpack.ts";

/** Put every artifact of `inputs` under `dir`; an UnpackError (the task cannot start) for a bad one. */
export async function placeInputs(
  inputs: unknown,
  dir: string,
  cache: PackCache,
  options: { signal?: AbortSignal; say: (line: string) => void },
): Promise<{ files: number; bytes: number }> {
  const checked = checkedInputs(inputs);
  const made = new Set<string>([""]);
  let files = 0;
  let bytes = 0;
  for (const input of checked) {
    let inputBytes = 0;
    for (const artifact of input.artifacts) {
      const name = checkedName(
        input.folder === "" ? artifact.path : `${input.folder}/${artifact.path}`,
        "file",
        "the artifact",
      );
      const slash = name.lastIndexOf("/");
      if (slash > 0) await makeDirs(dir, name.slice(0, slash), made);
      const target = join(dir, name);
      if (artifact.size === 0) await createNew(target, name).then((file) => file.close());
      else {
        const ref = { sha256: artifact.sha256, size: artifact.size };
        await cache.with(
          ref,
          (cached) => copyInto(cached, target, name, options.signal),
          options.signal,
          `artifact "${shown(artifact.path)}" of ${shown(input.copy)}`,
        );
      }
      files++;
      inputBytes += artifact.size;
    }
    bytes += inputBytes;
    const where = input.folder === "" ? "" : ` into ${shown(input.folder)}/`;
    options.say(
      `artifacts of ${shown(input.copy)}: ${input.artifacts.length} file(s), ${formatSize(inputBytes)}${where}`,
    );
  }
  return { files, bytes };
}

interface CheckedInput {
  copy: string;
  folder: string;
  artifacts: Array<{ path: string; sha256: string; size: number }>;
}

/** The inputs' shape, and their count and bytes within bounds, before anything is written. */
function checkedInputs(inputs: unknown): CheckedInput[] {
  if (!Array.isArray(inputs)) throw new UnpackError("the artifacts to start with are not a list");
  const out: CheckedInput[] = [];
  let files = 0;
  let bytes = 0;
  for (const input of inputs) {
    const { copy, folder, artifacts } = (input ?? {}) as Record<string, unknown>;
    if (typeof copy !== "string" || typeof folder !== "string" || !Array.isArray(artifacts)) {
      throw new UnpackError("the artifacts to start with are not as an agent reads them");
    }
    for (const a of artifacts as Array<Record<string, unknown>>) {
      const good = typeof a?.path === "string" && sha256Schema.safeParse(a.sha256).success &&
        Number.isSafeInteger(a.size) && (a.size as number) >= 0 && (a.size as number) <= MAX_BLOB_BYTES &&
        ((a.size as number) > 0 || a.sha256 === EMPTY_SHA256);
      if (!good) throw new UnpackError(`an artifact of ${shown(copy)} is not named as an agent reads it`);
      files++;
      bytes += a.size as number;
    }
    if (files > MAX_INPUT_FILES) {
      throw new UnpackError(`the artifacts to start with are more than ${MAX_INPUT_FILES} files`);
    }
    if (bytes > MAX_INPUT_BYTES) {
      throw new UnpackError(`the artifacts to start with hold more than ${formatSize(MAX_INPUT_BYTES)}`);
    }
    out.push({ copy, folder, artifacts: artifacts as CheckedInput["artifacts"] });
  }
  return out;
}

async function createNew(target: string, name: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(target, { write: true, createNew: true, mode: 0o644 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new UnpackError(`the artifact "${shown(name)}" would replace a file already in the task's directory`);
    }
    throw error;
  }
}

/** The checked blob at `cached` copied to a new file at `target`, a chunk at a time. */
async function copyInto(cached: string, target: string, name: string, signal?: AbortSignal): Promise<void> {
  const out = await createNew(target, name);
  const input = await Deno.open(cached, { read: true });
  await input.readable.pipeTo(out.writable, { signal });
}
