/**
 * The documented limits on what a job file or an API body may hold (docs/job-file.md, "Limits"). Each keeps one
 * hostile input from costing the tracker or an agent more than it costs the sender: past a limit the
 * input is refused with a message naming the field, before anything is stored.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** A job file on disk, and the YAML it holds. */
export const MAX_JOB_FILE_BYTES = 4 * MiB;
/** Nesting of maps and lists in a job spec; a real one is 6 deep (tasks, a task, permissions, a list). */
export const MAX_SPEC_DEPTH = 32;
/** Values (maps, lists, scalars) in a job spec, counted before the schema looks at them. */
export const MAX_SPEC_VALUES = 1_000_000;
/** Entries under `tasks:` (each may fan out with count and matrix). */
export const MAX_TASK_SPECS = 10_000;
/** Concrete tasks of one job, after count, matrix and `select: all`. */
export const MAX_JOB_TASKS = 1_000_000;
/** Names one task's `needs` may list. */
export const MAX_NEEDS = 1_000;
/**
 * One `run` script or git step: bash and sh get it as one argument, and Linux refuses an argument
 * of 128 KiB or more (MAX_ARG_STRLEN) at exec.
 */
export const MAX_RUN_BYTES = 128 * KiB - 1;
/** An inline `code` script, as a shipped script file. */
export const MAX_SCRIPT_BYTES = 4 * MiB;
/** One variable, as `NAME=value` (MAX_ARG_STRLEN again). */
export const MAX_ENV_VALUE_BYTES = 128 * KiB - 1;
/** A task's whole environment (job's and task's merged): Linux takes 2 MiB of arguments and environment. */
export const MAX_ENV_BYTES = 1 * MiB;
export const MAX_ENV_VARS = 1_000;
export const MAX_MATRIX_KEYS = 16;
export const MAX_MATRIX_VALUES = 1_000;
/** A matrix value, a label value, a constraint value. */
export const MAX_VALUE_CHARS = 256;
export const MAX_LABELS = 64;
export const MAX_CONSTRAINTS = 64;
/** A constraint's `matches` pattern, in characters and in RE2 program instructions (matching costs their product). */
export const MAX_PATTERN_CHARS = 256;
export const MAX_PATTERN_PROGRAM = 512;
/** Longest duration anywhere (timeouts, backoff, flags): a timer takes at most 2^31-1 ms (24.8 days). */
export const MAX_DURATION_MS = 7 * 86_400_000;
/**
 * Longest retention, the tracker's `--retention` and a job's `retention:`: only ever compared with the
 * time a job ended, never a timer's, so it may pass MAX_DURATION_MS.
 */
export const MAX_RETENTION_MS = 365 * 86_400_000;
/**
 * A secret's value (`fabric secret set`): a key file or a token, not a file system. With a task's
 * `env` (1 MiB) its secrets (at most 32 of this size) stay within what Linux passes to a new program.
 */
export const MAX_SECRET_BYTES = 32 * KiB;
/** Shorter values cannot be masked in output without masking ordinary text with them. */
export const MIN_SECRET_CHARS = 4;
/** Secrets one task may be given (its job's and its own). */
export const MAX_TASK_SECRETS = 32;
