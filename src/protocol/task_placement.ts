/**
 * Where a job file's tasks may run and what they hold there: how an agent is chosen among those that
 * fit, rules on agents' labels, and the resources a task reserves (and is held to).
 */
import { z } from "zod";
import { MAX_MATRIX_VALUES } from "./limits.ts";
import { patternSchema } from "./pattern.ts";
import { sizeSchema, valueSchema } from "./spec_values.ts";
import { textSchema } from "./text.ts";

export const SELECTS = ["least_loaded", "random", "round_robin", "all"] as const;
export const STRATEGIES = ["spread", "binpack"] as const;

/**
 * A rule on an agent label (or `fabric.name`, `fabric.os`, `fabric.arch`). Exactly one operator.
 * `matches` is an RE2 pattern (pattern.ts): agents choose their labels, and a backtracking regex over
 * one froze the tracker.
 */
export const constraintSchema = z.strictObject({
  label: textSchema().min(1).max(128),
  equals: valueSchema.optional(),
  notEquals: valueSchema.optional(),
  in: z.array(valueSchema).min(1).max(MAX_MATRIX_VALUES).optional(),
  exists: z.boolean().optional(),
  matches: patternSchema.optional(),
}).refine(
  (c) => [c.equals, c.notEquals, c.in, c.exists, c.matches].filter((v) => v !== undefined).length === 1,
  'needs exactly one of "equals", "notEquals", "in", "exists", "matches"',
);
export type Constraint = z.output<typeof constraintSchema>;

/** The most processes (and threads) a task may have at once when its job sets no `resources.pids`. */
export const DEFAULT_PIDS = 1024;
/** Fewer could not even start the sandbox (bwrap and its init count) and a shell with a pipe. */
const MIN_PIDS = 8;
/** The kernel's own ceiling on process ids (PID_MAX_LIMIT). */
const MAX_PIDS = 4_194_304;

export const resourcesSchema = z.strictObject({
  cpu: z.number().positive().max(4096).optional(),
  memory: sizeSchema.optional(),
  /** Placement capacity, and enforced: the task's directory may not grow past it (reason `disk`). */
  disk: sizeSchema.optional(),
  /** Processes and threads the task may have at once, its sandbox's own included. */
  pids: z.number().int().min(MIN_PIDS).max(MAX_PIDS).optional(),
});
