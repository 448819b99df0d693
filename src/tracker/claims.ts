/**
 * What an agent is sent: assignments it does not hold yet, and stop orders for attempts it holds
 * that must not go on. Read from memory; the only thing written is when an attempt was last sent.
 */
import {
  type Assignment,
  attemptKey,
  type AttemptRef,
  type ClaimRequest,
  type ClaimResponse,
  type Clock,
  isTerminalTask,
} from "../protocol/mod.ts";
import { assignmentOf } from "./assignment.ts";
import type { AgentEntry, JobEntry, TaskEntry } from "./entries.ts";
import type { Submitter } from "./secret_policy.ts";
import { NO_SECRETS, type SecretValues } from "./secrets.ts";

/** An assignment sent but not acknowledged after this long is sent again. */
const REDELIVER_MS = 5_000;
/**
 * A stop order still wanted is sent again after this long: the answer that carried it may have been
 * lost (a cut connection), and a poll answered at once, again and again, would be a busy loop.
 */
const RESEND_STOP_MS = 1_000;

/** What sending work needs besides the tasks: the default grace period, and the tasks' secrets. */
export interface Delivery {
  /** Time between SIGTERM and SIGKILL for a task that sets none. */
  graceMs: number;
  /** A task's secrets (variable -> secret name) opened for its assignment, or why they cannot be. */
  secrets: { valuesFor(mapping: Record<string, string>, submitter: () => Submitter | string): SecretValues };
  /** Who submitted `job`, with the rights their token has now; why it has none (revoked, expired). */
  rightsOf: (job: JobEntry) => Submitter | string;
  /** A task that cannot be sent (its secret is gone) fails here, as if it had failed to start there. */
  failToStart: (task: TaskEntry, message: string) => void;
}

/**
 * Assigned attempts the agent does not hold and has not just been sent. An attempt sent but not
 * acknowledged (started, or named as held) for a while is sent again: the answer may have been lost.
 */
export function deliverable(
  agent: AgentEntry,
  holding: ReadonlySet<string>,
  options: Delivery & { now: number },
): Assignment[] {
  const assignments: Assignment[] = [];
  for (const task of agent.tasks) {
    if (task.record.state !== "assigned" || task.stopRequested) continue;
    if (holding.size > 0 && holding.has(attemptKey({ taskId: task.record.id, attempt: task.record.attempt }))) {
      continue;
    }
    if (task.deliveredAt !== null && options.now - task.deliveredAt < REDELIVER_MS) continue;
    const secrets = options.secrets.valuesFor(task.template.effective.secrets, () => options.rightsOf(task.job));
    if ("problem" in secrets) {
      // Nothing of the task goes to the agent (a Set's entry deleted while iterated is simply skipped).
      options.failToStart(task, secrets.problem);
      continue;
    }
    task.deliveredAt = options.now;
    const assignment = assignmentOf(task, options.graceMs);
    // Only a task that has secrets carries the field: the others' assignments are as they were.
    if (secrets !== NO_SECRETS) assignment.secrets = secrets.values;
    assignments.push(assignment);
  }
  return assignments;
}

export interface ClaimContext extends Delivery {
  clock: Clock;
  /** Longest a long poll is held. */
  maxWaitMs: number;
  tasks: { get(id: string): TaskEntry | undefined };
  /** The tracker is stopping: answer now. */
  closing: () => boolean;
  /** Resolves once every change so far is durable: work goes out only once its placement is stored. */
  flush: () => Promise<void>;
}

/**
 * Long poll: new assignments for the agent, and attempts it holds that it must stop, as soon as there
 * are any, else an empty answer after the wait it asked for. One open claim per agent: a newer one
 * (after a dropped connection) answers the older.
 */
export async function waitForWork(
  agent: AgentEntry,
  request: ClaimRequest,
  context: ClaimContext & { signal?: AbortSignal },
): Promise<ClaimResponse> {
  const signal = context.signal;
  const generation = ++agent.claimGeneration;
  agent.claim.notify();
  const holding = { list: request.holding, keys: new Set(request.holding.map(attemptKey)) };
  const deadline = context.clock.now() + Math.min(request.waitMs, context.maxWaitMs);
  for (let timedOut = false;;) {
    // Only a request is a sign of life: a long poll woken up (or timed out) says nothing about the
    // agent, which may have died meanwhile, and it must not bring a down agent back.
    if (generation !== agent.claimGeneration || agent.record.state === "down") return { assignments: [], stop: [] };
    const now = context.clock.now();
    const response = claimResponse(agent, holding, { ...context, now });
    if (response.assignments.length > 0 || response.stop.length > 0) {
      await context.flush();
      return response;
    }
    const remaining = deadline - now;
    if (timedOut || remaining <= 0 || signal?.aborted || context.closing()) return response;
    // The wait ends by a change, or by its own timer: the clock alone (a test's) may not move.
    timedOut = !(await agent.claim.wait(remaining, signal));
  }
}

/** A claim's answer: new work, and the attempts the agent holds that it must stop. */
function claimResponse(
  agent: AgentEntry,
  holding: { list: AttemptRef[]; keys: ReadonlySet<string> },
  options: Delivery & { now: number; tasks: { get(id: string): TaskEntry | undefined } },
): ClaimResponse {
  const assignments = deliverable(agent, holding.keys, options);
  return { assignments, stop: stopOrders(agent, holding.list, options) };
}

/**
 * The attempts the agent may be running that must not go on: those it holds that ended or were asked
 * to stop, and its tasks asked to stop even if it does not name them (work handed over in a report's
 * answer is missing from the holding of a long poll opened before it). An order is sent once, and
 * again only after RESEND_STOP_MS: a task that takes its grace to stop must not turn the agent's long
 * poll into a busy loop.
 */
function stopOrders(
  agent: AgentEntry,
  holding: readonly AttemptRef[],
  options: { now: number; tasks: { get(id: string): TaskEntry | undefined } },
): AttemptRef[] {
  const wanted = new Map<string, AttemptRef>();
  for (const ref of holding) {
    const task = options.tasks.get(ref.taskId);
    if (task && task.record.attempt === ref.attempt && task.attempt?.agentId === agent.record.id) {
      const ended = task.attempt.state;
      // What the agent finished and reported needs no stop: only what it may still be running.
      if (ended === "succeeded" || ended === "failed") continue;
      if (!isTerminalTask(task.record.state) && !task.stopRequested) continue;
    }
    wanted.set(attemptKey(ref), ref);
  }
  for (const task of agent.tasks) {
    if (!task.stopRequested || task.attempt?.agentId !== agent.record.id) continue;
    const ref = { taskId: task.record.id, attempt: task.record.attempt };
    wanted.set(attemptKey(ref), ref);
  }
  const sent = agent.stopsSent;
  for (const key of sent.keys()) if (!wanted.has(key)) sent.delete(key);
  const stop: AttemptRef[] = [];
  for (const [key, ref] of wanted) {
    const at = sent.get(key);
    if (at !== undefined && options.now - at < RESEND_STOP_MS) continue;
    sent.set(key, options.now);
    stop.push(ref);
  }
  return stop;
}

/** Whether work or a stop order was sent to the agent long enough ago, without a word back, to be sent again. */
export function awaitsRedelivery(agent: AgentEntry, now: number): boolean {
  for (const at of agent.stopsSent.values()) if (now - at >= RESEND_STOP_MS) return true;
  for (const task of agent.tasks) {
    if (task.record.state === "assigned" && task.deliveredAt !== null && now - task.deliveredAt >= REDELIVER_MS) {
      return true;
    }
  }
  return false;
}
