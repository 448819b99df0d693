/**
 * A job spec from outside (a parsed job file, an API body), checked first as a document (nesting,
 * size, clean text: document.ts) and then by its schema, so that no input reaches zod's recursion
 * or the tracker's store without passing the limits.
 */
import type { z } from "zod";
import { checkDocument } from "./document.ts";
import { type JobSpec, jobSpecSchema } from "./job_spec.ts";

export type JobSpecResult =
  | { success: true; data: JobSpec }
  | { success: false; issues: z.core.$ZodIssue[] };

export function validateJobSpec(raw: unknown): JobSpecResult {
  const problems = checkDocument(raw);
  if (problems.length > 0) {
    const issues = problems.map((p): z.core.$ZodIssue => ({ code: "custom", path: p.path, message: p.message }));
    return { success: false, issues };
  }
  const parsed = jobSpecSchema.safeParse(raw);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, issues: parsed.error.issues };
}
