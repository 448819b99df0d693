/** How periodic jobs are shown (`fabric periodic`, the dashboard) and described in the log. */
import {
  DEFAULT_CATCH_UP_MS,
  DEFAULT_OVERLAP,
  DEFAULT_TIMEZONE,
  type JobSpec,
  nextTimes,
  type PeriodicView,
  type Schedule,
} from "../protocol/mod.ts";
import type { JobRecord, PeriodicRecord } from "../store/mod.ts";
import { iso } from "./views.ts";

/** Next times a view shows. */
const SHOWN_NEXT = 3;

export function upcomingRuns(record: PeriodicRecord, now: number): string[] {
  if (record.paused) return [];
  return nextTimes(scheduleOf(record.spec), now, SHOWN_NEXT).map((t) => new Date(t).toISOString());
}

/** A periodic job as `fabric periodic` shows it; `activeJob` and `getJob` find its last run. */
export async function periodicView(
  record: PeriodicRecord,
  now: number,
  find: { activeJob(id: string): JobRecord | null; getJob(id: string): Promise<JobRecord | null> },
): Promise<PeriodicView> {
  let lastRun: PeriodicView["lastRun"] = null;
  if (record.lastJobId !== null) {
    const id = record.lastJobId;
    // Gone with retention: its id is all there is.
    const job = find.activeJob(id) ?? await find.getJob(id).catch(() => null);
    lastRun = {
      jobId: id,
      name: job?.name ?? null,
      scheduledAt: iso(job?.periodic?.scheduledAt ?? null),
      state: job?.state ?? null,
    };
  }
  return {
    name: record.name,
    schedule: record.spec.schedule!,
    timezone: record.spec.timezone ?? DEFAULT_TIMEZONE,
    overlap: record.spec.overlap ?? DEFAULT_OVERLAP,
    catchUpMs: record.spec.catchUp ?? DEFAULT_CATCH_UP_MS,
    paused: record.paused,
    submittedBy: record.submittedBy,
    createdAt: iso(record.createdAt)!,
    updatedAt: iso(record.updatedAt)!,
    nextRuns: upcomingRuns(record, now),
    lastRun,
    lastScheduledAt: iso(record.lastScheduledAt),
    note: record.lastNote,
  };
}

export function scheduleOf(spec: JobSpec): Schedule {
  return { cron: spec.schedule!, timezone: spec.timezone ?? DEFAULT_TIMEZONE };
}

export function describePeriodic(record: PeriodicRecord): string {
  const { spec } = record;
  return `"${spec.schedule}" in ${spec.timezone ?? DEFAULT_TIMEZONE}, overlap ${spec.overlap ?? DEFAULT_OVERLAP}` +
    (record.paused ? ", paused" : "");
}
