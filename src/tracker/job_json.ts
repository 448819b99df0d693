/**
 * `GET /v1/jobs/:id` (`fabric status JOB --json`): the whole job as JSON, made and sent in slices
 * (slices.ts). For a job of a million tasks the answer is hundreds of megabytes: built in one pass, as
 * one object and one string, it blocked the event loop for seconds (the leader lost its lease) and held
 * both in memory at once. The text is the same as JSON.stringify of getJob's answer (queries.ts), made
 * a slice at a time as the client reads it: memory holds a slice, and a slow reader holds up nothing.
 *
 * Safe to slice: each task's view is taken whole, from its record at one moment, so every task in the
 * answer is consistent in itself; tasks later in the answer are as they are when their slice is made
 * (the job's summary, first, is as it was when the answer began). An active job's entry holds its
 * tasks in an array that never changes length, so an index walks it whatever happens meanwhile (the
 * job ending and leaving memory included: its entries stay as they ended).
 */
import { FabricError, type JobSummary, type TaskView } from "../protocol/mod.ts";
import { agentNames, liveContext, storedContext } from "./queries.ts";
import { SLICE_MS, Slices, turn } from "./slices.ts";
import type { Tracker } from "./tracker.ts";
import { jobSummary, taskView } from "./views.ts";

/** The text of getJob's answer, as a stream; `sliceMs` is the work per slice (SLICE_MS; a test makes it 0). */
export async function jobDetailJson(
  tracker: Tracker,
  jobId: string,
  sliceMs = SLICE_MS,
): Promise<ReadableStream<Uint8Array>> {
  const names = agentNames(tracker);
  let summary: JobSummary;
  let count: number;
  let view: (i: number) => TaskView;
  const active = tracker.state.jobs.get(jobId);
  if (active) {
    summary = jobSummary(active.record);
    const tasks = active.tasks;
    count = tasks.length;
    view = (i) => taskView(tasks[i].record, names, liveContext(tasks[i]));
  } else {
    const record = await tracker.store.getJob(jobId);
    if (!record) throw new FabricError("not_found", `No job "${jobId}"`);
    const tasks = await tracker.store.listTasks(jobId);
    const context = storedContext(record.spec);
    summary = jobSummary(record);
    count = tasks.length;
    view = (i) => taskView(tasks[i], names, context(tasks[i]));
  }
  // `{...summary, "tasks":[` then the tasks, then `]}`: the keys in getJob's order.
  const head = JSON.stringify({ ...summary, tasks: [] });
  const encoder = new TextEncoder();
  let next = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const slices = new Slices(sliceMs);
      // Each task's text encoded into one buffer as it is made: no slice-sized string is joined or
      // copied again (measured: joining and encoding 15,000 tasks' text at once took up to 200 ms
      // more than making it, most of it the collector's).
      const chunk = new Chunk(controller, encoder);
      if (next === 0) chunk.put(head.slice(0, -2));
      while (next < count) {
        chunk.put((next === 0 ? "" : ",") + JSON.stringify(view(next)));
        next++;
        if (slices.due() || chunk.full) break;
      }
      if (next >= count) chunk.put("]}");
      chunk.send();
      if (next >= count) return controller.close();
      // A turn of the event loop before the next slice, whatever the reader's pace.
      await turn();
    },
  });
}

/** Bytes sent at most at once: a reader takes them as they come. */
const CHUNK_BYTES = 1 << 20;

/** One piece of the answer: texts encoded one after the other into a buffer of CHUNK_BYTES. */
class Chunk {
  #buffer = new Uint8Array(CHUNK_BYTES);
  #used = 0;
  constructor(
    private controller: ReadableStreamDefaultController<Uint8Array>,
    private encoder: TextEncoder,
  ) {}

  /** Near the end: no more tasks in this one (a task's text is far smaller than what is kept free). */
  get full(): boolean {
    return this.#used > CHUNK_BYTES - 64 * 1024;
  }

  put(text: string): void {
    // A UTF-16 unit is at most 3 bytes of UTF-8.
    if (this.#used + text.length * 3 > this.#buffer.length) {
      this.send();
      if (text.length * 3 > this.#buffer.length) return this.controller.enqueue(this.encoder.encode(text));
    }
    this.#used += this.encoder.encodeInto(text, this.#buffer.subarray(this.#used)).written;
  }

  send(): void {
    if (this.#used === 0) return;
    this.controller.enqueue(this.#buffer.subarray(0, this.#used));
    this.#buffer = new Uint8Array(CHUNK_BYTES);
    this.#used = 0;
  }
}
