/** Task output: ordered chunks of one attempt, numbered from 0 without gaps. */
import { z } from "zod";

export const STREAMS = ["stdout", "stderr"] as const;
export type Stream = typeof STREAMS[number];

export const logChunkSchema = z.object({
  seq: z.number().int().min(0),
  stream: z.enum(STREAMS),
  data: z.string(),
});
export type LogChunkData = z.infer<typeof logChunkSchema>;

/** A chunk as clients read it: with the attempt and the time the agent produced it. */
export interface LogChunk extends LogChunkData {
  attempt: number;
  at: number;
}

/** A line of `GET /v1/tasks/:id/logs` (NDJSON): a chunk, or the end of the attempt's output. */
export type LogLine =
  | { type: "chunk"; chunk: LogChunk }
  | { type: "end"; attempt: number; state: string };
