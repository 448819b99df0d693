/**
 * Why a job's tasks wait, for its page, computed at most once every few seconds per job: the notes go
 * over every waiting task (120 ms for a job of 100,000 queued tasks, measured), and a running job's
 * page is rendered again on each of its changes. `fabric submit --wait` asks as seldom.
 */
import type { WaitingNote } from "../../protocol/mod.ts";
import { jobWaiting } from "../queries.ts";
import type { Tracker } from "../tracker.ts";

const FRESH_MS = 5000;
/** Jobs whose notes are kept; past it the oldest go. */
const MAX_JOBS = 100;

export class WaitingNotes {
  #byJob = new Map<string, { at: number; notes: WaitingNote[] }>();
  #tracker: Tracker;

  constructor(tracker: Tracker) {
    this.#tracker = tracker;
  }

  of(jobId: string): WaitingNote[] {
    const now = this.#tracker.clock.now();
    const kept = this.#byJob.get(jobId);
    if (kept && now - kept.at < FRESH_MS) return kept.notes;
    const notes = jobWaiting(this.#tracker, jobId);
    this.#byJob.delete(jobId);
    this.#byJob.set(jobId, { at: now, notes });
    while (this.#byJob.size > MAX_JOBS) this.#byJob.delete(this.#byJob.keys().next().value!);
    return notes;
  }
}
