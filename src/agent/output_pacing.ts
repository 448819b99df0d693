/**
 * How much task output the reporter takes while reports wait to go: running tasks are held back
 * while the tracker takes reports, and their output is dropped (results never are) while it does not
 * and the journal is at its limit.
 */
import { formatSize } from "../protocol/mod.ts";
import type { Journal } from "./journal.ts";
import { MAX_BATCH_BYTES } from "./report_batch.ts";

/**
 * Undelivered bytes past which running tasks wait for the tracker (while it takes reports): four
 * full reports, so that one is always ready to go, and a task that writes faster than the tracker
 * stores is slowed to its pace rather than have its output dropped at the journal's limit.
 */
const PACE_BYTES = 4 * MAX_BATCH_BYTES;

export interface OutputPacingOptions {
  journal: Journal;
  /** Undelivered bytes past which output is refused while the tracker is away (ReporterOptions'). */
  maxJournalBytes: number;
  log: (message: string) => void;
}

export class OutputPacing {
  #options: OutputPacingOptions;
  /** Whether the tracker does not take reports now, or the reporter has stopped. */
  #notTaking: () => boolean;
  #full = false;
  #paceBytes: number;
  /** Tasks' output readers waiting for the backlog to go down (see `paceOutput`). */
  #paced: Array<() => void> = [];

  constructor(options: OutputPacingOptions, notTaking: () => boolean) {
    this.#options = options;
    this.#notTaking = notTaking;
    this.#paceBytes = Math.min(PACE_BYTES, Math.floor(options.maxJournalBytes / 2));
  }

  /**
   * Whether task output is taken now: not while the tracker is away and the journal is at its limit.
   * While the tracker takes reports, running tasks are held back at half the limit (`paceOutput`), and
   * the journal passes it only by what they wrote before they were.
   */
  hasRoom(): boolean {
    const full = this.#notTaking() && this.#options.journal.bytes >= this.#options.maxJournalBytes;
    if (full && !this.#full) {
      this.#options.log(
        `the journal holds ${formatSize(this.#options.journal.bytes)} of undelivered reports (limit ${
          formatSize(this.#options.maxJournalBytes)
        }): task output is dropped until the tracker takes reports again; results are kept`,
      );
    }
    if (!full && this.#full) this.#options.log("the journal has room again: task output is kept again");
    this.#full = full;
    return !full;
  }

  /**
   * Whether a running task's output should wait before more is read: a promise that settles once the
   * backlog is down to half the mark, or the tracker stops taking reports (output then goes to the
   * journal, up to its limit), or the reporter stops; null when reading may go on. Meanwhile the
   * task blocks on its full pipe, as it would writing to any slow reader.
   */
  paceOutput(): Promise<void> | null {
    if (this.#notTaking() || this.#options.journal.bytes < this.#paceBytes) return null;
    return new Promise((resolve) => this.#paced.push(resolve));
  }

  /** Lets the waiting output readers go on once the backlog is down to half the mark, or reports are not taken. */
  release(): void {
    if (this.#paced.length === 0) return;
    if (this.#notTaking() || this.#options.journal.bytes <= this.#paceBytes / 2) {
      for (const resolve of this.#paced.splice(0)) resolve();
    }
  }
}
