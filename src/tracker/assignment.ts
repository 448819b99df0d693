/** What an agent gets for one attempt: everything it needs to run the task, and nothing of the tracker's. */
import { type Assignment, specFields } from "../protocol/mod.ts";
import { inputsOf } from "./artifact_inputs.ts";
import type { TaskEntry } from "./entries.ts";

/** The attempt `task` is on now, as its agent sees it; `defaultGraceMs` where the task sets no grace period. */
export function assignmentOf(task: TaskEntry, defaultGraceMs: number): Assignment {
  const job = task.job.record;
  const template = task.template;
  const spec = template.spec;
  const effective = template.effective;
  const needs: Record<string, unknown> = {};
  for (const name of effective.needs) {
    const needed = task.job.templates.get(name)!;
    const outputs = needed.instances.map((t) => (t.record.output === null ? null : JSON.parse(t.record.output)));
    needs[name] = needed.instances.length === 1 ? outputs[0] : needed.instances.map((t, i) => ({
      name: t.record.name,
      index: t.record.index,
      matrix: t.record.matrix,
      // How it ended: a task run `when: always` or `on_failure` after it tells the copies apart by it.
      state: t.record.state,
      output: outputs[i],
    }));
  }
  const inputs = inputsOf(task);
  return {
    taskId: task.record.id,
    attempt: task.record.attempt,
    jobId: job.id,
    name: task.record.name,
    index: task.record.index,
    count: task.record.count,
    matrix: task.record.matrix,
    needs,
    signed: job.signed,
    pack: job.packs?.[spec.name] ?? null,
    ...(inputs ? { inputs } : {}),
    ...specFields(job.spec, spec, { effective, files: job.files, defaultGraceMs }),
  };
}
