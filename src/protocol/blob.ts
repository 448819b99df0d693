/**
 * Files that travel with a job: a pack of the submitter's files (`files:`), uploaded once and stored by
 * the tracker as a blob, content-addressed by its SHA-256, in fixed-size chunks. A chunk is one request
 * and one row, so neither side ever holds a whole blob in memory, and several trackers on one database
 * share every blob.
 */
import { z } from "zod";

const MiB = 1024 * 1024;

export { BLOB_CHUNK_BYTES, chunkCount } from "./blob_chunks.ts";
/** The largest blob a tracker takes (a pack is bounded lower by the submitter's --max-pack). */
export const MAX_BLOB_BYTES = 1024 * MiB;
/** The default of `fabric submit --max-pack`. */
export const DEFAULT_MAX_PACK_BYTES = 256 * MiB;
/** Entries (files and folders) one pack may hold: what the CLI packs and an agent unpacks at most. */
export const MAX_PACK_ENTRIES = 100_000;
/** The longest path inside a pack. */
export const MAX_PACK_PATH = 4096;
/** Patterns under one `files:`. */
export const MAX_FILE_PATTERNS = 1000;

export const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 as 64 lowercase hex digits");

/** A stored blob, as the job that uses it names it. */
export const blobRefSchema = z.strictObject({
  sha256: sha256Schema,
  size: z.number().int().min(0).max(MAX_BLOB_BYTES),
});
export type BlobRef = z.infer<typeof blobRefSchema>;

/** `POST /v1/blobs/:sha256`: every chunk is uploaded, check them and keep the blob. */
export const completeBlobRequestSchema = z.strictObject({ size: blobRefSchema.shape.size });

/** Files one task may leave as artifacts, and patterns under one `artifacts:`. */
export const MAX_TASK_ARTIFACTS = 1000;
export const MAX_ARTIFACT_PATTERNS = 100;

/** One file a task left (`artifacts:`): its path in the task's directory, and its blob (none when empty). */
export const artifactRefSchema = z.strictObject({
  path: z.string().min(1).max(MAX_PACK_PATH),
  sha256: sha256Schema,
  size: z.number().int().min(0).max(MAX_BLOB_BYTES),
});
export type ArtifactRef = z.infer<typeof artifactRefSchema>;

/** When a task's artifacts are kept: whatever its outcome, or only when it succeeded, or failed. */
export const ARTIFACT_WHEN = ["always", "on_success", "on_failure"] as const;
export type ArtifactWhen = typeof ARTIFACT_WHEN[number];

/** What a task keeps: globs relative to its directory, and when. */
export interface ArtifactRule {
  paths: string[];
  when: ArtifactWhen;
}

/** The SHA-256 of nothing: an empty artifact's, which has no blob. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/**
 * The artifacts of a task this one needs (`needs: [{task, artifacts: true}]`, `artifactsFrom:`), as the
 * tracker sends them with the attempt: the agent downloads them (checked by hash) into the task's
 * directory before it starts, at `folder` + each artifact's path. A task that is one copy puts its
 * files in the directory itself (folder ""); a fanned-out one (count, matrix) each copy's under
 * `<task>/<index>/`, so that copies that leave the same path do not collide.
 */
export interface ArtifactInput {
  /** The needed task's name in the job file. */
  task: string;
  /** Its copy's display name (`build`, `build[2]`, `test[os=linux]`). */
  copy: string;
  /** "" or `<task>/<index>`: where under the task's directory its artifacts go. */
  folder: string;
  artifacts: ArtifactRef[];
}

/** Files and bytes a task may start with from the artifacts of the tasks it needs, at most. */
export const MAX_INPUT_FILES = 100_000;
export const MAX_INPUT_BYTES = 16 * 1024 * MiB;
