/**
 * The `needs` graph of a job's templates, walked without recursion: a chain of needs thousands long
 * once overflowed the stack here (cancel answered 500, and the tracker could not load the job again).
 * Each edge has its condition (protocol/needs.ts): `on_success` is met once every copy of the needed
 * template succeeded and fails with the first copy that does not; `always` and `on_failure` wait for
 * every copy to end, and `on_failure` fails when they all succeeded. A template whose condition fails
 * has its queued tasks skipped, which is an end of theirs in turn, walked the same way.
 */
import type { NeedWhen } from "../protocol/mod.ts";
import type { TaskEntry, TemplateEntry } from "./entries.ts";

/**
 * A copy of `template` ended (`succeeded` or not). Returns the templates whose last unmet need that
 * was; `skip` ends (as `skipped`, with `why`) each queued task whose need cannot be met any more, and
 * must not walk further itself. Depth first on a stack of its own, in the order a recursion would
 * take (so each reason names the template needed directly). Bounded: a template is entered again
 * only for a task of it just skipped, so there are at most as many steps as tasks.
 */
export function copyEnded(
  template: TemplateEntry,
  succeeded: boolean,
  skip: (task: TaskEntry, why: string) => void,
): TemplateEntry[] {
  const unblocked: TemplateEntry[] = [];
  const stack = [entered(template, succeeded)];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const dependent = frame.template.dependents[frame.dependent];
    if (dependent === undefined) {
      stack.pop();
      continue;
    }
    if (frame.instance === 0 && frame.why === null) {
      const why = decide(frame.template, dependent, frame.succeeded);
      if (why === undefined || why === null) {
        if (why === null) {
          dependent.waitingOn.delete(frame.template);
          if (dependent.waitingOn.size === 0) unblocked.push(dependent);
        }
        frame.dependent++;
        continue;
      }
      // Its need cannot be met: it waits for it no more, and its queued tasks end.
      dependent.waitingOn.delete(frame.template);
      frame.why = why;
    }
    const task = dependent.instances[frame.instance++];
    if (task === undefined) {
      frame.dependent++;
      frame.instance = 0;
      frame.why = null;
      continue;
    }
    if (task.record.state !== "queued") continue;
    skip(task, frame.why!);
    stack.push(entered(dependent, false));
  }
  return unblocked;
}

interface Frame {
  template: TemplateEntry;
  succeeded: boolean;
  dependent: number;
  instance: number;
  /** Why the current dependent's tasks are skipped, while they are. */
  why: string | null;
}

/** A copy of `template` ended: counted, and a frame to walk its dependents. */
function entered(template: TemplateEntry, succeeded: boolean): Frame {
  template.ended++;
  if (succeeded) template.succeeded++;
  return { template, succeeded, dependent: 0, instance: 0, why: null };
}

/**
 * What the end of a copy of `t` means to `dependent`: undefined (nothing yet), null (its need of `t`
 * is met), or why its tasks are skipped.
 */
function decide(t: TemplateEntry, dependent: TemplateEntry, succeeded: boolean): string | null | undefined {
  if (!dependent.waitingOn.has(t)) return undefined;
  const when: NeedWhen = dependent.needWhen.get(t) ?? "on_success";
  if (when === "on_success") {
    if (!succeeded) return `skipped: "${t.name}" did not succeed`;
    return t.succeeded === t.instances.length ? null : undefined;
  }
  if (t.ended < t.instances.length) return undefined;
  if (when === "on_failure" && t.succeeded === t.instances.length) {
    return `skipped: "${t.name}" succeeded (it runs only when that does not)`;
  }
  return null;
}
