/**
 * Why a job's tasks have not started, summed up for `fabric submit --wait`: the reasons `status`
 * gives each task, counted, and whether any current agent could ever run them. Computed only when a
 * watcher asks (after a few seconds of waiting, then every few seconds), never on a placement.
 */
import { capabilityHint, type WaitingNote } from "../protocol/mod.ts";
import { type Candidate, eligibleAgents } from "./placement.ts";
import { readyCandidates } from "./planner.ts";
import type { JobEntry, TaskEntry } from "./entries.ts";
import type { FabricState } from "./state.ts";
import { waitReason } from "./wait_reason.ts";

/** The notes a watcher gets at most: the ones no agent can help first, then the most common. */
const MAX_NOTES = 5;

type Verdict = Pick<WaitingNote, "reason" | "noAgent" | "hint">;

export function waitingNotes(state: FabricState, job: JobEntry): WaitingNote[] {
  // Agents as they could be: a busy or draining agent may take the task later, one without the
  // capability, label or size it needs never will.
  const agents: Candidate[] = readyCandidates(state.agents.values()).map((a) => ({ ...a, draining: false }));
  const byTemplate = new Map<string, Verdict>();
  const notes = new Map<string, WaitingNote>();
  for (const task of job.tasks) {
    const s = task.record.state;
    if (s !== "queued" && s !== "lost") continue;
    let verdict: Verdict;
    if (placeable(task)) {
      // Tasks of a template wait for the same reason (but for their pinned agent, with `select: all`).
      const key = `${task.template.name}\0${task.record.pinnedAgent ?? ""}`;
      verdict = byTemplate.get(key) ?? verdictOf(task, agents);
      byTemplate.set(key, verdict);
    } else {
      verdict = { reason: waitReason(task) ?? s, noAgent: false, hint: null };
    }
    const key = `${verdict.noAgent}\0${verdict.reason}`;
    const note = notes.get(key);
    if (note) note.tasks++;
    else notes.set(key, { ...verdict, tasks: 1, example: { id: task.record.id, name: task.record.name } });
  }
  return [...notes.values()]
    .sort((a, b) => Number(b.noAgent) - Number(a.noAgent) || b.tasks - a.tasks)
    .slice(0, MAX_NOTES);
}

/** Queued with nothing to wait for but an agent (no `needs` left, no retry delay). */
function placeable(task: TaskEntry): boolean {
  return task.record.state === "queued" && task.record.retryAt === null && task.template.waitingOn.size === 0;
}

function verdictOf(task: TaskEntry, agents: Candidate[]): Verdict {
  const eligible = eligibleAgents(agents, {
    ...task.template.effective,
    pinnedAgent: task.record.pinnedAgent,
    signedBy: task.job.record.signed?.publicKey ?? null,
  });
  if (eligible.reason === null) {
    return { reason: waitReason(task) ?? "not placed yet", noAgent: false, hint: null };
  }
  // The scheduler may have said "every ready agent is busy" (it checks for a free slot first): this
  // is the reason that lasts.
  const hint = eligible.hint ??
    (eligible.lacks
      ? capabilityHint(eligible.lacks)
      : agents.length === 0
      ? "start an agent (fabric agent --join HOST:PORT ...)"
      : null);
  return { reason: eligible.reason, noAgent: true, hint };
}
