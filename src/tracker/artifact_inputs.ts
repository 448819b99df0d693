/**
 * The artifacts a task starts with (`needs: [{task: build, artifacts: true}]`, `artifactsFrom:`): what
 * the last ended attempt of each copy of the needed task kept, sent with the attempt for its agent to
 * download (protocol/blob.ts ArtifactInput). Kept in memory on each task as its attempt ends (its report's
 * finished event, reports.ts), and read back from the store for the jobs a tracker loads at its start, so
 * that an assignment is built from memory as every other part of it is.
 */
import { type ArtifactInput, isTerminalTask } from "../protocol/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import type { JobEntry, TaskEntry } from "./entries.ts";

/** The artifacts of the tasks `task` needs that it asked for; null when it asked for none. */
export function inputsOf(task: TaskEntry): ArtifactInput[] | null {
  const inputs: ArtifactInput[] = [];
  for (const rule of task.template.effective.needRules) {
    if (!rule.artifacts) continue;
    const needed = task.job.templates.get(rule.task)!;
    const single = needed.instances.length === 1;
    for (const copy of needed.instances) {
      inputs.push({
        task: needed.name,
        copy: copy.record.name,
        folder: single ? "" : `${needed.name}/${copy.record.index}`,
        artifacts: copy.artifacts ?? [],
      });
    }
  }
  return inputs.length === 0 ? null : inputs;
}

/** The artifacts of the ended tasks of loaded jobs that a task of theirs asks for, from the store. */
export async function loadNeededArtifacts(store: BlobStore, jobs: Iterable<JobEntry>): Promise<void> {
  for (const job of jobs) {
    const wanted = new Set<string>();
    for (const template of job.templates.values()) {
      for (const rule of template.effective.needRules) if (rule.artifacts) wanted.add(rule.task);
    }
    for (const name of wanted) {
      for (const task of job.templates.get(name)!.instances) {
        if (!isTerminalTask(task.record.state)) continue;
        const rows = await store.listArtifacts(task.record.id);
        task.artifacts = rows.filter((row) => row.attempt === task.record.attempt)
          .map(({ path, sha256, size }) => ({ path, sha256, size }));
      }
    }
  }
}
