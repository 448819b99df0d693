/**
 * The `needs` graph of a job's templates, walked without recursion: a chain of needs thousands long
 * once overflowed the stack here (cancel answered 500, and the tracker could not load the job again).
 */
import type { TaskEntry, TemplateEntry } from "./entries.ts";

/** One copy of `template` succeeded: the templates whose last unmet need that was (none until every copy has). */
export function copySucceeded(template: TemplateEntry): TemplateEntry[] {
  template.succeeded++;
  if (template.succeeded < template.instances.length) return [];
  const unblocked: TemplateEntry[] = [];
  for (const dependent of template.dependents) {
    if (dependent.waitingOn.delete(template) && dependent.waitingOn.size === 0) unblocked.push(dependent);
  }
  return unblocked;
}

/**
 * `failed` cannot succeed any more: `skip` ends each queued task that needs it, directly or through
 * others, with `cause` the template it needed. Depth first, in the order a recursion would take (so
 * each reason names the same template it always did), on a stack of its own. `skip` must end the task
 * (it is no longer queued after it) and must not walk further itself. Bounded: a template is entered
 * only after one of its tasks was skipped, so there are at most as many entries as tasks.
 */
export function skipDependents(failed: TemplateEntry, skip: (task: TaskEntry, cause: TemplateEntry) => void): void {
  const stack = [{ template: failed, dependent: 0, instance: 0 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const dependent = frame.template.dependents[frame.dependent];
    if (dependent === undefined) {
      stack.pop();
      continue;
    }
    const task = dependent.instances[frame.instance++];
    if (task === undefined) {
      frame.dependent++;
      frame.instance = 0;
      continue;
    }
    if (task.record.state !== "queued") continue;
    skip(task, frame.template);
    stack.push({ template: dependent, dependent: 0, instance: 0 });
  }
}
