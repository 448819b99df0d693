/**
 * What a command that failed says, and its exit code (exit_codes.ts): a mistake of the user's gets
 * a message, never a stack trace; only an error fabric did not expect shows one, as a bug to report.
 * Loaded only when a command fails.
 */
import { TrackerBusyError, TrackerUnreachableError } from "../client/mod.ts";
import { FabricError } from "../protocol/errors.ts";
import { JobSpecError } from "../protocol/job_spec_error.ts";
import { CaFetchError, CaPinError } from "../tls/errors.ts";
import { UsageError } from "./args.ts";
import { NoTrackerError } from "./connect.ts";
import { DataDirLockedError } from "./data_dir_lock.ts";
import { EXIT } from "./exit_codes.ts";
import { escapeControls } from "./output.ts";

/** Prints why `command` failed with `error`, and returns its exit code. */
export function reportFailure(command: string, error: unknown): number {
  const { code, message } = describeFailure(command, error);
  // Messages quote what a job file, the tracker or an agent chose: no control character reaches the terminal.
  console.error(escapeControls(message, { keepNewlines: true }));
  return code;
}

function describeFailure(command: string, error: unknown): { code: number; message: string } {
  if (error instanceof UsageError) return { code: EXIT.usage, message: error.message };
  if (error instanceof DataDirLockedError) return { code: EXIT.locked, message: `fabric ${command}: ${error.message}` };
  if (error instanceof JobSpecError) {
    const verb = command === "validate" ? "Invalid job file" : "Cannot submit";
    const message = error.problems.length === 1
      ? `${verb} "${error.file}": ${error.message}`
      : `${verb} "${error.file}":\n${indent(error.message)}`;
    return { code: EXIT.usage, message };
  }
  if (
    error instanceof TrackerUnreachableError || error instanceof NoTrackerError || error instanceof CaPinError ||
    error instanceof CaFetchError
  ) {
    return { code: EXIT.unreachable, message: `fabric ${command}: ${error.message}` };
  }
  if (error instanceof FabricError) {
    // A tracker's 503 (its store or the leader away) is a tracker that cannot serve now: try again, as
    // for one that cannot be reached; not a failure of the caller's job (a port in use here is).
    const code = error.code === "unauthorized" || error instanceof TrackerBusyError
      ? EXIT.unreachable
      : error.code === "forbidden"
      ? EXIT.forbidden
      : error.code === "invalid_job" || error.code === "bad_request"
      ? EXIT.usage
      : EXIT.failed;
    return { code, message: `fabric ${command}: ${error.message}` };
  }
  const stack = (error as Error)?.stack ?? String(error);
  return {
    code: EXIT.failed,
    message: `fabric ${command}: unexpected error (a bug in fabric; please report it):\n${stack}`,
  };
}

function indent(text: string): string {
  return text.split("\n").map((line) => `  ${line}`).join("\n");
}
