/**
 * The note a periodic job's scheduled time gets when it is handled without a run (skipped, missed,
 * refused): its last note, logged and written with the time as its last scheduled one. Alike notes in
 * a row are one note that counts them (NOTE_WRITE_MS).
 */
import { launchLabel } from "../protocol/mod.ts";
import type { PeriodicRecord } from "../store/mod.ts";
import type { PeriodicLauncher } from "./periodic_launcher.ts";

/**
 * Alike notes in a row (a run that outlasts an every-second schedule, a revoked token) are one note
 * that counts them, written when it starts and then at most this often, and logged when written: not
 * a write and a log line at each time. Between writes, the times are handled in memory only; a
 * successor that takes over meanwhile may launch the latest of them if it is within catchUp and the
 * last run has ended by then (docs/job-file.md).
 */
const NOTE_WRITE_MS = 60_000;

/** The alike notes in a row so far, and when the note was last written. */
export interface NoteStreak {
  key: string;
  firstAt: number;
  count: number;
  writtenAt: number;
}

/** A periodic job as periodic.ts keeps it, as far as its notes go. */
export interface NotedEntry {
  record: PeriodicRecord;
  streak?: NoteStreak;
}

export interface NoteOptions {
  /** The periodic job of that name as kept now (looked up again once the note is written). */
  entry: (name: string) => NotedEntry | undefined;
  launcher: Pick<PeriodicLauncher, "save">;
  log: (message: string) => void;
}

/**
 * The time `at` handled without a run, and why (`written`: false when the store did not take it).
 * The same verb and reason as the note before, for the same last run, extend that note (NOTE_WRITE_MS).
 */
export async function noteTime(
  record: PeriodicRecord,
  { at, verb, reason }: { at: number; verb: string; reason: string },
  options: NoteOptions,
): Promise<{ note: string; written: boolean }> {
  const entry = options.entry(record.name);
  const key = `${verb}\0${reason}\0${record.lastJobId}`;
  const streak = entry?.streak?.key === key && entry.record.lastNote !== null ? entry.streak : undefined;
  const count = (streak?.count ?? 0) + 1;
  const note = count === 1
    ? `${verb} the run for ${launchLabel(at)}: ${reason}`
    : `${verb} ${count} runs in a row, from ${launchLabel(streak!.firstAt)} to ${launchLabel(at)}: ${reason}`;
  const updated = { ...record, lastScheduledAt: at, lastNote: note };
  if (streak && at - streak.writtenAt < NOTE_WRITE_MS) {
    streak.count = count;
    entry!.record = updated;
    return { note, written: true };
  }
  options.log(`periodic job ${record.name}: ${note}`);
  try {
    await options.launcher.save(updated);
  } catch {
    return { note, written: false };
  }
  const current = options.entry(record.name);
  if (current) {
    current.record = updated;
    current.streak = { key, firstAt: streak?.firstAt ?? at, count, writtenAt: at };
  }
  return { note, written: true };
}
