/** Log lines as an NDJSON stream (the API's task and job logs, and the dashboard's live log alike). */
import type { JobLogLine, LogLine } from "../../protocol/mod.ts";

type Line = LogLine | JobLogLine;

/**
 * One JSON line per log line, `first` (read before answering, so that an unknown task is a 404 and
 * not a broken stream) then the rest. A client that goes away cancels the stream, which ends `rest`.
 */
export function ndjson<T extends Line>(
  first: IteratorResult<T>,
  rest: AsyncGenerator<T>,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let pending: IteratorResult<T> | null = first;
  return new ReadableStream({
    async pull(controller) {
      const next = pending ?? (await rest.next().catch((error) => {
        controller.error(error);
        return { done: true, value: undefined } as IteratorResult<T>;
      }));
      pending = null;
      if (next.done) {
        controller.close();
        return;
      }
      controller.enqueue(encoder.encode(JSON.stringify(next.value) + "\n"));
    },
    async cancel() {
      await rest.return(undefined);
    },
  });
}

/** The response for a stream of log lines: the HTTPS layer passes it on as it comes (application/x-ndjson). */
export async function ndjsonResponse<T extends Line>(lines: AsyncGenerator<T>): Promise<Response> {
  const first = await lines.next();
  return new Response(ndjson(first, lines), { headers: { "content-type": "application/x-ndjson" } });
}
