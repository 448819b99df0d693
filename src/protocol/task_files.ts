/**
 * The files of a job file's tasks: the submitter's files a task starts with (`files:`) and the files it
 * leaves that are kept (`artifacts:`).
 */
import { z } from "zod";
import { ARTIFACT_WHEN, MAX_ARTIFACT_PATTERNS, MAX_PACK_PATH } from "./blob.ts";
import { textSchema } from "./text.ts";

/**
 * A path or glob of `files:`, relative to the job file's folder. A path that leaves the folder is
 * refused by `fabric submit` unless it is given `--allow-outside` (the CLI knows where the folder is).
 */
export const filePatternSchema = textSchema().min(1).max(MAX_PACK_PATH).refine(
  (path) => !path.startsWith("/") && !path.includes("\0"),
  "must be a path or glob relative to the job file's folder",
);

/** A glob of `artifacts:`, relative to the task's directory. */
const artifactPatternSchema = textSchema().min(1).max(MAX_PACK_PATH).refine(
  (path) => !path.startsWith("/") && !path.split("/").includes(".."),
  `must be a path or glob relative to the task's directory, without ".."`,
);
const artifactPathsSchema = z.array(artifactPatternSchema).min(1).max(MAX_ARTIFACT_PATTERNS);

/** `artifacts: [globs]`, or `{paths: [globs], when}`; kept when the task succeeded unless `when` says otherwise. */
export const artifactsSchema = z.union([
  artifactPathsSchema.transform((paths) => ({ paths, when: "on_success" as const })),
  z.strictObject({ paths: artifactPathsSchema, when: z.enum(ARTIFACT_WHEN).default("on_success") }),
]);

/** The paths and globs of files a task starts with: its own `files:`, else its job's; null for none. */
export function taskFilePatterns(job: { files?: string[] }, task: { files?: string[] }): string[] | null {
  const patterns = task.files ?? job.files ?? null;
  return patterns !== null && patterns.length > 0 ? patterns : null;
}
