/**
 * Periodic jobs' schedules: a cron expression (five fields, or six with seconds first) read in an IANA
 * time zone, through croner (npm), never a parser of our own. DST follows croner (as Vixie cron and
 * croner-rust): a fixed time (one value in each of seconds, minutes and hours) that a spring-forward
 * skips runs at the first time after the gap, one that a fall-back repeats runs once, at its first
 * occurrence; an interval schedule skips the times of a gap and runs on both passes of a repeated hour.
 * docs/job-file.md says the same for users.
 */
import { Cron } from "croner";

export const OVERLAPS = ["skip", "allow", "cancel"] as const;
export type Overlap = typeof OVERLAPS[number];

export const DEFAULT_TIMEZONE = "UTC";
export const DEFAULT_OVERLAP: Overlap = "skip";
/** How late a missed time may still be run (one catch-up run at most). */
export const DEFAULT_CATCH_UP_MS = 5 * 60_000;
export const MAX_SCHEDULE_CHARS = 256;
export const MAX_TIMEZONE_CHARS = 64;

/** croner's nicknames, which stand for a five-field expression. */
const NICKNAMES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]);

/** A schedule as the tracker keeps it: everything a launch time depends on. */
export interface Schedule {
  cron: string;
  timezone: string;
}

/** Why `timezone` is not an IANA time zone this runtime knows, or null. */
export function timezoneProblem(timezone: string): string | null {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return null;
  } catch {
    return `is not an IANA time zone (like "UTC", "Europe/Paris" or "America/New_York"), got ${
      JSON.stringify(timezone)
    }`;
  }
}

/**
 * Why `cron` is not a schedule (read in a time zone known to be good), or null: five or six fields
 * (or a nickname like "@daily") that croner accepts, and that names at least one time to come.
 */
export function cronProblem(cron: string, timezone: string, now: number): string | null {
  const text = cron.trim();
  const fields = text.split(/\s+/).length;
  if (!NICKNAMES.has(text.toLowerCase()) && fields !== 5 && fields !== 6) {
    return `must be a cron expression of five fields (minute hour day month weekday) or six (seconds first), ` +
      `got ${fields} field(s) in ${JSON.stringify(cron)}`;
  }
  let job: Cron;
  try {
    job = cronOf({ cron: text, timezone });
  } catch (error) {
    const reason = (error as Error).message.replace(/^CronPattern:\s*/, "");
    return `is not a valid cron expression (${reason}): ${JSON.stringify(cron)}`;
  }
  if (job.nextRun(new Date(now)) === null) return `never fires: ${JSON.stringify(cron)} names no time to come`;
  return null;
}

/** croner's reading of a schedule; it never starts a timer (no function is given). */
export function cronOf(schedule: Schedule): Cron {
  return new Cron(schedule.cron.trim(), { timezone: schedule.timezone, mode: "5-or-6-parts", paused: true });
}

/** The first `count` times strictly after `after` (ms), fewer if the schedule ends. */
export function nextTimes(schedule: Schedule, after: number, count: number): number[] {
  return cronOf(schedule).nextRuns(count, new Date(after)).map((date) => date.getTime());
}

/** The latest time at or before `at` (ms), or null when there is none within croner's reach. */
export function latestTime(schedule: Schedule, at: number): number | null {
  // croner counts in whole seconds and looks strictly before its reference: the next second's start.
  const previous = cronOf(schedule).previousRuns(1, new Date(Math.floor(at / 1000) * 1000 + 1000));
  const time = previous.length > 0 ? previous[0].getTime() : null;
  return time !== null && time <= at ? time : null;
}

/** A scheduled time as a run's name shows it: `2026-12-05T03:00Z`, with seconds when it has any. */
export function launchLabel(at: number): string {
  const iso = new Date(at).toISOString();
  return iso.endsWith(":00.000Z") ? `${iso.slice(0, 16)}Z` : `${iso.slice(0, 19)}Z`;
}
