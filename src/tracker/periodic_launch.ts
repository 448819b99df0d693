/**
 * One launch of a periodic job's run, under its overlap rule and the registering token's rights as
 * they are now. What launches nothing is noted (for a scheduled time, the time counts as handled); a
 * launch the store did not take is "unwritten", and its time is tried again.
 */
import { DEFAULT_OVERLAP, FabricError, isTerminalJob, launchLabel, type Overlap } from "../protocol/mod.ts";
import { LeaseLostError, type PeriodicRecord } from "../store/mod.ts";
import type { PeriodicLauncher } from "./periodic_launcher.ts";
import type { Submitter } from "./secret_policy.ts";

export interface LaunchDeps {
  launcher: PeriodicLauncher;
  log: (message: string) => void;
  /**
   * A scheduled time handled without a run: `verb` ("skipped", "refused") and why. Noted, logged, and
   * answered with the note as it reads now (a run of alike notes is one note: periodic.ts).
   */
  note: (record: PeriodicRecord, at: number, verb: string, reason: string) => Promise<string>;
  /** The periodic job as it now is, after a run was launched. */
  launched: (record: PeriodicRecord) => void;
}

export type LaunchOutcome =
  | { kind: "launched"; jobId: string; name: string }
  | { kind: "skipped" | "refused"; note: string; code: "forbidden" | "invalid_job" | "conflict" }
  | { kind: "unwritten"; note: string; code: "unavailable" };

/**
 * Launch a run for `at` under the overlap rule, by the registering token's rights as they are now.
 * What launches nothing is noted (for a scheduled time, the time counts as handled).
 */
export async function launchRun(
  record: PeriodicRecord,
  at: number,
  options: { scheduled: boolean },
  deps: LaunchDeps,
): Promise<LaunchOutcome> {
  const { launcher, log } = deps;
  /** What launches nothing: noted for a scheduled time, only logged for one asked for now. */
  const handled = (verb: string, reason: string): Promise<string> => {
    if (options.scheduled) return deps.note(record, at, verb, reason);
    const note = `${verb} the run asked for at ${launchLabel(at)}: ${reason}`;
    log(`periodic job ${record.name}: ${note}`);
    return Promise.resolve(note);
  };
  const label = launchLabel(at);
  const overlap: Overlap = record.spec.overlap ?? DEFAULT_OVERLAP;
  const last = record.lastJobId;
  const lastRun = last === null ? null : launcher.activeJob(last);
  if (lastRun !== null && !isTerminalJob(lastRun.state) && overlap !== "allow") {
    if (overlap === "skip") {
      const note = await handled("skipped", `the last run (${last}) had not ended (overlap: skip)`);
      return { kind: "skipped", note, code: "conflict" };
    }
    await launcher.cancel(last!);
    const what = options.scheduled ? `the run for ${label}` : `the run asked for at ${label}`;
    log(`periodic job ${record.name}: cancelled its last run ${last} for ${what} (overlap: cancel)`);
  }
  let submitter: Submitter | undefined;
  if (record.submittedBy !== null) {
    const now = launcher.submitterNamed(record.submittedBy);
    if (now === null) {
      const note = await handled(
        "refused",
        `the token "${record.submittedBy}" that registered it is revoked or expired ` +
          `(register the job again with a token that works)`,
      );
      return { kind: "refused", note, code: "forbidden" };
    }
    submitter = now;
  }
  const name = `${record.name}@${label}`;
  /** The periodic job as stored with its run, in the same write. */
  const launchedAs = (jobId: string): PeriodicRecord => ({
    ...record,
    lastScheduledAt: options.scheduled ? at : record.lastScheduledAt,
    lastJobId: jobId,
    lastNote: null,
  });
  try {
    const jobId = await launcher.launch(record.spec, {
      name,
      files: record.files,
      packs: record.packs ?? {},
      source: record.source,
      signed: record.signed,
      submitter,
      link: { name: record.name, scheduledAt: at },
      record: launchedAs,
    });
    deps.launched(launchedAs(jobId));
    log(`periodic job ${record.name}: launched ${name} (job ${jobId})`);
    return { kind: "launched", jobId, name };
  } catch (error) {
    if (error instanceof LeaseLostError || !(error instanceof FabricError) || error.code === "unavailable") {
      // Not written: the time is not handled, and is tried again (by the next leader if this one lost).
      return { kind: "unwritten", note: (error as Error).message, code: "unavailable" };
    }
    const note = await handled("refused", error.message);
    return { kind: "refused", note, code: error.code === "forbidden" ? "forbidden" : "invalid_job" };
  }
}
