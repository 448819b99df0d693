/**
 * A reporter on a real journal (in a temporary directory) and a driven clock, sending to a stand-in
 * for the tracker's report route that the test tells to take, hold, refuse or reject what it is sent.
 */
import { TrackerUnreachableError } from "../client/mod.ts";
import { type AttemptRef, FabricError, type ReportResponse, type TaskEvent } from "../protocol/mod.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { Journal } from "./journal.ts";
import { Reporter, type ReporterOptions } from "./reporter.ts";

type Mode = "take" | "hold" | "away" | "reject";

/** A report holding an event for this task is refused as malformed, whatever the mode. */
export const BAD_TASK = "bad";

/** The tracker's side of `reportJson`: what it was sent, when, and what it answers. */
export class TrackerStandIn {
  /** Each batch it was sent, parsed, in order (refused ones too). */
  readonly batches: TaskEvent[][] = [];
  /** The clock's time at each batch. */
  readonly times: number[] = [];
  mode: Mode = "take";
  /** Attempts the next answer calls stale. */
  stale: AttemptRef[] = [];
  #held: Array<() => void> = [];
  #clock: FakeClock;

  constructor(clock: FakeClock) {
    this.#clock = clock;
  }

  reportJson(events: string[]): Promise<ReportResponse> {
    this.batches.push(events.map((json) => JSON.parse(json)));
    this.times.push(this.#clock.now());
    if (this.mode === "away") {
      return Promise.reject(new TrackerUnreachableError("Cannot reach the tracker at https://127.0.0.1:1: refused"));
    }
    if (this.mode === "reject") return Promise.reject(new FabricError("bad_request", "events[0]: invalid"));
    const bad = this.batches.at(-1)!.findIndex((e) =>
      e.taskId === BAD_TASK && !(e.type === "finished" && e.result.kind === "failed_to_start")
    );
    if (bad >= 0) return Promise.reject(new FabricError("bad_request", `events[${bad}]: invalid`));
    // The answer says what is stale when it is given.
    const answer = () => ({ stale: this.stale.splice(0), assignments: [] });
    if (this.mode === "take") return Promise.resolve(answer());
    return new Promise((resolve) => this.#held.push(() => resolve(answer())));
  }

  /** Answer the batches held so far. */
  answerHeld(): void {
    for (const answer of this.#held.splice(0)) answer();
  }

  get holding(): number {
    return this.#held.length;
  }

  /** The events sent so far as `type:taskId#attempt`, batch by batch. */
  sent(): string[][] {
    return this.batches.map((batch) => batch.map((e) => `${e.type}:${e.taskId}#${e.attempt}`));
  }
}

export interface ReporterSetup {
  reporter: Reporter;
  journal: Journal;
  clock: FakeClock;
  tracker: TrackerStandIn;
  logs: string[];
  staleSeen: AttemptRef[];
  /** Whether the agent is busy (events linger): the test may change it. */
  busy: { value: boolean };
  /** Stop the reporter, let it end, close and remove the journal. */
  close(): Promise<void>;
}

export async function startReporter(
  options: Partial<Pick<ReporterOptions, "maxJournalBytes" | "syncResults" | "backlog">> & { dir?: string } = {},
): Promise<ReporterSetup> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "fabric-reporter-" });
  const clock = new FakeClock();
  const { journal } = await Journal.open(dir, clock);
  const tracker = new TrackerStandIn(clock);
  const logs: string[] = [];
  const staleSeen: AttemptRef[] = [];
  const busy = { value: false };
  const reporter = new Reporter({
    client: tracker,
    journal,
    clock,
    random: () => 0.5,
    backlog: options.backlog ?? [],
    maxJournalBytes: options.maxJournalBytes ?? 256 * 1024 * 1024,
    syncResults: options.syncResults ?? false,
    onStale: (ref) => staleSeen.push(ref),
    onAssignments: () => {},
    busy: () => busy.value,
    log: (message) => logs.push(message),
  });
  const running = reporter.run();
  return {
    reporter,
    journal,
    clock,
    tracker,
    logs,
    staleSeen,
    busy,
    async close() {
      reporter.stop();
      tracker.answerHeld();
      await clock.tick(0);
      await running;
      journal.close();
      if (!options.dir) await Deno.remove(dir, { recursive: true });
    },
  };
}

export function started(taskId: string, at: number, attempt = 1): TaskEvent {
  return { type: "started", taskId, attempt, at };
}

export function output(taskId: string, at: number, data = "x\n", seq = 0, attempt = 1): TaskEvent {
  return { type: "output", taskId, attempt, at, chunks: [{ seq, stream: "stdout", data }] };
}

export function finished(taskId: string, at: number, attempt = 1): TaskEvent {
  return { type: "finished", taskId, attempt, at, result: { kind: "exited", code: 0 }, durationMs: 1 };
}
