/**
 * A job's `files:` on their way to the tracker: one pack per distinct list (a task's own `files:`, else
 * its job's, and a script task's local modules), written to a temporary file, uploaded a chunk at a time unless the tracker holds it
 * already (the same files make the same pack), and named in the submission by task.
 */
import { type BlobRef, MAX_BLOB_BYTES } from "../protocol/blob.ts";
import { taskFilePatterns } from "../protocol/task_files.ts";
import { formatSize } from "../protocol/size.ts";
import { type FabricClient, uploadBlob } from "../client/mod.ts";
import { JobSpecError } from "../protocol/job_file.ts";
import type { JobFileProblem } from "../protocol/job_spec_error.ts";
import { UsageError } from "./args.ts";
import type { JobInput } from "./job_input.ts";
import { collectFiles, PackError, type PackOptions, writePack } from "./pack.ts";
import { scriptModules } from "./script_imports.ts";

export interface Pack extends BlobRef {
  /** The temporary file that holds it (removed by `removePacks`). */
  file: string;
  files: number;
  /** The tasks (specs) that start with it. */
  tasks: string[];
}

/** Packs for the job's tasks that name files; throws a JobSpecError naming the `files:` at fault. */
export async function packJob(job: JobInput, name: string, options: Omit<PackOptions, "base">): Promise<Pack[]> {
  const byList = new Map<string, Pack>();
  const packs: Pack[] = [];
  try {
    for (const [i, task] of job.spec.tasks.entries()) {
      const modules = task.script === undefined ? [] : await localModules(job, name, i, task.script);
      const listed = taskFilePatterns(job.spec, task);
      // A script that imports modules of its own ships them (and itself, beside them) in its pack.
      const patterns = modules.length > 1 ? [...new Set([...(listed ?? []), ...modules])] : listed;
      if (patterns === null) continue;
      const key = JSON.stringify(patterns);
      const known = byList.get(key);
      if (known) {
        known.tasks.push(task.name);
        continue;
      }
      const where = task.files ? ["tasks", i, "files"] : ["files"];
      const field = task.files ? `"tasks[${i}].files"` : `"files"`;
      let sources;
      try {
        sources = await collectFiles(patterns, { ...options, base: job.base });
      } catch (error) {
        if (!(error instanceof PackError)) throw error;
        const at = error.pattern === null ? where : [...where, patterns.indexOf(error.pattern)];
        const problem: JobFileProblem = { ...job.locate(at), message: `${field}: ${error.message}` };
        throw new JobSpecError(name, [problem]);
      }
      const file = await Deno.makeTempFile({ prefix: "fabric-pack-", suffix: ".tar" });
      const pack: Pack = { sha256: "", size: 0, file, files: sources.length, tasks: [task.name] };
      packs.push(pack);
      Object.assign(pack, await writePack(sources, file));
      if (pack.size > MAX_BLOB_BYTES) {
        throw new UsageError(
          `The files of task "${task.name}" pack to ${pack.size} bytes; a tracker takes at most ${MAX_BLOB_BYTES}`,
        );
      }
      byList.set(key, pack);
    }
    return packs;
  } catch (error) {
    await removePacks(packs);
    throw error;
  }
}

/** The entry script and the modules it imports (script_imports.ts), or a JobSpecError at its `script:`. */
async function localModules(job: JobInput, name: string, i: number, script: string): Promise<string[]> {
  try {
    return await scriptModules(job.base, script);
  } catch (error) {
    const problem = {
      ...job.locate(["tasks", i, "script"]),
      message: `"tasks[${i}].script": ${(error as Error).message}`,
    };
    throw new JobSpecError(name, [problem]);
  }
}

/** "3 files, 12.5 KiB (tasks build, test)" for each pack. */
export function describePacks(packs: readonly Pack[]): string[] {
  return packs.map((p) => `packed ${p.files} file(s), ${formatSize(p.size)} for task(s) ${p.tasks.join(", ")}`);
}

/** Each pack the tracker does not hold yet, uploaded; the packs by task, as the submission names them. */
export async function uploadPacks(client: FabricClient, packs: readonly Pack[]): Promise<Record<string, BlobRef>> {
  const byTask: Record<string, BlobRef> = {};
  for (const pack of packs) {
    const ref = { sha256: pack.sha256, size: pack.size };
    const file = await Deno.open(pack.file, { read: true });
    try {
      await uploadBlob(client, ref, async (buffer, position) => {
        await file.seek(position, Deno.SeekMode.Start);
        return (await file.read(buffer)) ?? 0;
      });
    } finally {
      file.close();
    }
    for (const task of pack.tasks) byTask[task] = ref;
  }
  return byTask;
}

export async function removePacks(packs: readonly Pack[]): Promise<void> {
  for (const pack of packs) await Deno.remove(pack.file).catch(() => {});
}
