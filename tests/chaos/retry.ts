/** API calls that outlast a tracker restart: retried while the tracker cannot be reached. */
import { TrackerUnreachableError } from "../../src/client/mod.ts";
import { FabricError } from "../../src/protocol/mod.ts";

export function isTransient(error: unknown): boolean {
  return error instanceof TrackerUnreachableError || (error instanceof FabricError && error.code === "unavailable");
}

/** `call` until it succeeds; transient failures are retried until `timeoutMs`, others thrown. */
export async function retrying<T>(what: string, call: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!isTransient(error) || Date.now() > deadline) {
        throw new Error(`Cannot ${what}: ${(error as Error).message}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Runs `work` over `items`, at most `limit` at once. */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  });
  await Promise.all(workers);
  return results;
}
