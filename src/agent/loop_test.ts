/** The agent's loop with the time driven by the test: claims through an absent tracker, the backlog first, heartbeats. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TrackerUnreachableError } from "../client/mod.ts";
import { ExecRuntime } from "../exec/mod.ts";
import {
  type Assignment,
  type ClaimResponse,
  DEFAULT_PERMISSIONS,
  FabricError,
  type HeartbeatResponse,
  type ReportResponse,
  type TaskEvent,
} from "../protocol/mod.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { Journal } from "./journal.ts";
import { AgentLoop } from "./loop.ts";
import { Reporter } from "./reporter.ts";
import { RunRegistry } from "./run_registry.ts";

type Answer<T> = T | Error;

/**
 * The tracker's side of the agent's calls: claims and reports answered in turn from the lists given
 * (a claim past the list waits, as a long poll, until the agent stops), each call's time recorded.
 */
class TrackerStandIn {
  readonly calls: Array<{ what: string; at: number }> = [];
  heartbeatMs = 1000;
  constructor(
    readonly clock: FakeClock,
    readonly claims: Array<Answer<ClaimResponse>>,
    readonly reports: Array<Answer<ReportResponse>> = [],
  ) {}

  #call<T>(what: string, answers: Array<Answer<T>>, otherwise: () => Promise<T>): Promise<T> {
    this.calls.push({ what, at: this.clock.now() });
    const answer = answers.shift();
    if (answer === undefined) return otherwise();
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }
  claim(_request: unknown, signal?: AbortSignal): Promise<ClaimResponse> {
    return this.#call(
      "claim",
      this.claims,
      () =>
        new Promise((_, reject) =>
          signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")))
        ),
    );
  }
  /** Every event the agent reported, in order. */
  readonly events: Array<{ type: string; taskId: string; attempt: number }> = [];
  reportJson(events: string[]): Promise<ReportResponse> {
    for (const event of events) this.events.push(JSON.parse(event));
    return this.#call("report", this.reports, () => Promise.resolve({ stale: [], assignments: [] }));
  }
  heartbeat(): Promise<HeartbeatResponse> {
    this.calls.push({ what: "heartbeat", at: this.clock.now() });
    return Promise.resolve({ state: "ready", heartbeatMs: this.heartbeatMs, ttlMs: 3000, drainDeadline: null });
  }
  selfDrain(): Promise<{ name: string; running: number; deadline: number }> {
    return Promise.resolve({ name: "a1", running: 0, deadline: this.clock.now() });
  }
  leave(): Promise<void> {
    this.calls.push({ what: "leave", at: this.clock.now() });
    return Promise.resolve();
  }
  close(): void {}

  /** When each call of one kind came, from `since`. */
  times(what: string, since: number): number[] {
    return this.calls.filter((c) => c.what === what).map((c) => c.at - since);
  }
}

async function withLoop(
  tracker: (clock: FakeClock) => TrackerStandIn,
  test: (context: { clock: FakeClock; tracker: TrackerStandIn; loop: AgentLoop; logs: string[] }) => Promise<void>,
  backlog: TaskEvent[] = [],
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-loop-" });
  const clock = new FakeClock();
  const stand = tracker(clock);
  const logs: string[] = [];
  const { journal } = await Journal.open(join(dir, "journal"), clock);
  journal.append(backlog);
  try {
    const reporter = new Reporter({
      client: stand,
      journal,
      clock,
      random: () => 0.5,
      backlog,
      maxJournalBytes: 1024 * 1024,
      syncResults: false,
      onStale: () => {},
      onAssignments: () => {},
      log: (message) => logs.push(message),
    });
    const loop = new AgentLoop({
      client: stand,
      identity: { tracker: "127.0.0.1:1", agentId: "a", name: "a1", credential: "a.secret" },
      dataDir: dir,
      slots: 1,
      heartbeatMs: 1000,
      runtime: {
        capabilities: { sandbox: false, unsandboxed: false, cgroup: null, deno: false, git: false },
        exec: new ExecRuntime({ dataDir: dir, taskUser: null, cgroup: null, deno: null, allowLocalGit: false, clock }),
      },
      journal,
      registry: new RunRegistry(join(dir, "runs")),
      reporter,
      stopGraceMs: 1000,
      clock,
      random: () => 0.5,
      log: (message) => logs.push(message),
    });
    await test({ clock, tracker: stand, loop, logs });
  } finally {
    journal.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const away = () => new TrackerUnreachableError("Cannot reach the tracker at https://127.0.0.1:1: refused");
const nothing: ClaimResponse = { assignments: [], stop: [] };

Deno.test("claims through an absent tracker are retried at jittered growing waits, said once each way", async () => {
  await withLoop((clock) => new TrackerStandIn(clock, [away(), away(), away(), away(), nothing]), async (t) => {
    const start = t.clock.now();
    const agent = t.loop.start();
    await t.clock.tick(2000);
    // random() = 0.5: half of a bound that doubles from 100 ms up to 2 s; the fifth claim is answered.
    assert.deepEqual(t.tracker.times("claim", start), [0, 50, 150, 350, 750, 750]);
    assert.equal(t.logs.filter((l) => l.startsWith("cannot claim work:")).length, 1);
    assert.equal(t.logs.filter((l) => l === "the tracker is back").length, 1);
    await agent.stop();
    await agent.done;
    assert.deepEqual(t.tracker.calls.at(-1)?.what, "leave");
    assert.equal(t.clock.timers, 0, "nothing left waiting");
  });
});

Deno.test("a refused credential ends the agent at once with the reason, without retrying", async () => {
  const refused = new FabricError("unauthorized", "unknown agent credential");
  await withLoop((clock) => new TrackerStandIn(clock, [refused]), async (t) => {
    const agent = t.loop.start();
    await t.clock.tick(10_000);
    await assert.rejects(
      agent.done,
      /refused this agent's credential \(unknown agent credential\)\. To join again as a new agent, remove .*agent\.json/,
    );
    assert.deepEqual(t.tracker.times("claim", 0).length, 1);
    assert.equal(t.clock.timers, 0, "no heartbeat goes on");
  });
});

Deno.test("a restarted agent takes work only once the reports its last run left are delivered", async () => {
  const backlog: TaskEvent[] = [{
    type: "finished",
    taskId: "t1",
    attempt: 1,
    at: 1,
    result: { kind: "exited", code: 0 },
    durationMs: 5,
  }];
  await withLoop(
    (clock) => new TrackerStandIn(clock, [nothing], [away(), away(), away()]),
    async (t) => {
      const start = t.clock.now();
      const agent = t.loop.start();
      await t.clock.tick(5000);
      assert.deepEqual(t.tracker.times("report", start), [0, 50, 150, 350]);
      assert.deepEqual(t.tracker.times("claim", start).slice(0, 1), [350], "the first claim once they are delivered");
      assert.ok(t.logs.includes("delivering 1 report(s) left from the last run before taking work"));
      // Heartbeats meanwhile, at the tracker's pace.
      assert.deepEqual(t.tracker.times("heartbeat", start), [0, 1000, 2000, 3000, 4000, 5000]);
      await agent.stop();
      await agent.done;
    },
    backlog,
  );
});

Deno.test("an attempt sent again after it ran here is not run twice; the next attempt of the task runs", async () => {
  const assignment = (attempt: number): Assignment => ({
    ...{ taskId: "j.1", attempt, jobId: "j", jobName: "j", name: "t", index: 0, count: 1, matrix: null, env: {} },
    ...{ permissions: DEFAULT_PERMISSIONS, sandbox: false, timeoutMs: null, graceMs: 1000, memoryBytes: null },
    ...{ diskBytes: null, pids: 1024, maxOutputBytes: 1 << 20, needs: {}, signed: null },
    ...{ kind: "shell", run: "true", shell: "sh" },
  });
  await withLoop(
    (clock) => new TrackerStandIn(clock, []),
    async (t) => {
      const agent = t.loop.start();
      const finished = async (attempt: number) => {
        for (let turn = 0; turn < 200 && !t.tracker.events.some((e) => isFinished(e, attempt)); turn++) {
          await t.clock.tick(50);
        }
        return t.tracker.events.filter((e) => isFinished(e, attempt)).length;
      };
      t.loop.take([assignment(1)]);
      assert.equal(await finished(1), 1);
      // Its run wholly over (its folder removed: real time), it is no longer among the runs in progress.
      for (let turn = 0; turn < 500 && t.loop.runningCount > 0; turn++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(t.loop.runningCount, 0);
      t.loop.take([assignment(1)]);
      t.loop.take([assignment(2)]);
      assert.equal(await finished(2), 1, "the next attempt runs");
      assert.equal(await finished(1), 1, "the first ran once");
      assert.ok(
        t.logs.includes("task j.1 attempt 1 was sent again after it ran here: not run twice"),
        t.logs.join("\n"),
      );
      await agent.stop();
      await agent.done;
    },
  );
});

function isFinished(event: { type: string; taskId: string; attempt: number }, attempt: number): boolean {
  return event.type === "finished" && event.taskId === "j.1" && event.attempt === attempt;
}
