/**
 * The values a job file writes in its keys, each parsed to what the rest of fabric uses: names,
 * durations (in milliseconds), sizes (in bytes), variables, shells and retry backoffs.
 */
import { z } from "zod";
import { DurationTooLongError, MAX_DURATION_DAYS, parseDuration } from "./duration.ts";
import { MAX_ENV_BYTES, MAX_ENV_VALUE_BYTES, MAX_ENV_VARS, MAX_RETENTION_MS, MAX_VALUE_CHARS } from "./limits.ts";
import { parseSize } from "./size.ts";
import { textSchema, utf8Length } from "./text.ts";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;

export const nameSchema = z.string().regex(
  NAME,
  "must start with a letter or digit and hold only letters, digits, '_', '.' or '-' (at most 63)",
);

/** A duration: "30s", "5m", "1h", or a bare number of seconds. Parsed to milliseconds. */
export const durationSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    const shown = JSON.stringify(typeof value === "string" && value.length > 40 ? `${value.slice(0, 40)}…` : value);
    ctx.addIssue({
      code: "custom",
      message: error instanceof DurationTooLongError
        ? `may be at most ${MAX_DURATION_DAYS}d, got ${shown}`
        : `must be a duration like "30s", "5m" or "1h30m", got ${shown}`,
    });
    return z.NEVER;
  }
});

/**
 * How long a job is kept after it ended (a job asks to be kept longer than the tracker's `--retention`).
 * Up to MAX_RETENTION_MS: it is compared with the time the job ended, never put in a timer.
 */
export const retentionSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value, MAX_RETENTION_MS);
  } catch (error) {
    const shown = JSON.stringify(value);
    ctx.addIssue({
      code: "custom",
      message: error instanceof DurationTooLongError
        ? `may be at most ${MAX_RETENTION_MS / 86_400_000}d, got ${shown}`
        : `must be a duration like "30d" or "12h", got ${shown}`,
    });
    return z.NEVER;
  }
});

/** A size: "512M", "2G", or a bare number of bytes. Parsed to bytes. */
export const sizeSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseSize(value);
  } catch {
    ctx.addIssue({ code: "custom", message: `must be a size like "512M" or "2G", got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
});

/** Variables: each `NAME=value` and the whole set within what Linux passes to a new program. */
export const envSchema = z.record(
  z.string().regex(ENV_NAME, "must be a valid environment variable name (at most 256 characters)"),
  z.union([textSchema(MAX_ENV_VALUE_BYTES), z.number(), z.boolean()]).transform(String),
).superRefine((env, ctx) => {
  const names = Object.keys(env);
  if (names.length > MAX_ENV_VARS) {
    ctx.addIssue({ code: "custom", message: `may hold at most ${MAX_ENV_VARS} variables, got ${names.length}` });
  }
  const bytes = envBytes(env);
  if (bytes > MAX_ENV_BYTES) {
    ctx.addIssue({ code: "custom", message: `may hold at most ${MAX_ENV_BYTES} bytes of variables, got ${bytes}` });
  }
});

/** The size of variables as the kernel counts them: `NAME=value` and a NUL each. */
export function envBytes(env: Record<string, string>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(env)) bytes += name.length + utf8Length(value) + 2;
  return bytes;
}

/** bash, sh, python, or a command line with "{0}" where the script file goes (as GitHub Actions). */
export const shellSchema = textSchema().max(1024).refine(
  (s) => ["bash", "sh", "python"].includes(s) || s.includes("{0}"),
  'must be "bash", "sh", "python" or a command containing "{0}"',
);

/** A value a constraint compares an agent's label with, or one of a matrix's values. */
export const valueSchema = textSchema().max(MAX_VALUE_CHARS);

/** "5s" for a fixed delay, or {delay, factor, max} for exponential backoff with a cap. */
export const backoffSchema = z.union([
  durationSchema.transform((delay) => ({ delay, factor: 1, max: delay })),
  z.strictObject({
    delay: durationSchema,
    factor: z.number().min(1).max(100).default(2),
    max: durationSchema.optional(),
  }).transform((b) => ({ delay: b.delay, factor: b.factor, max: b.max ?? 3_600_000 })),
]);
export type Backoff = z.output<typeof backoffSchema>;
