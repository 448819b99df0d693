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

/** A line of `GET /v1/jobs/:id/logs` (NDJSON): a chunk of one of the job's tasks, named. */
export interface JobLogLine {
  type: "chunk";
  taskId: string;
  /** The task's display name: `build`, `build[3]`, `test[os=linux]`. */
  task: string;
  chunk: LogChunk;
}

/**
 * A glob over task names (`*` any run of characters, `?` one, everything else itself), as a test.
 * Built without a regular expression of the user's text: matched by a bounded two-pointer walk.
 */
export function taskNameMatcher(glob: string): (name: string) => boolean {
  return (name) => {
    let g = 0;
    let n = 0;
    let star = -1;
    let mark = 0;
    while (n < name.length) {
      if (g < glob.length && (glob[g] === "?" || glob[g] === name[n])) {
        g++;
        n++;
      } else if (g < glob.length && glob[g] === "*") {
        star = g++;
        mark = n;
      } else if (star >= 0) {
        g = star + 1;
        n = ++mark;
      } else return false;
    }
    while (g < glob.length && glob[g] === "*") g++;
    return g === glob.length;
  };
}
