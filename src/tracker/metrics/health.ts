/**
 * Health for probes and load balancers. Live: the process answers (nothing is checked, nothing
 * waited for). Ready: the store answers a trivial query within a second and its last write did not
 * fail. Neither waits for a commit or a long poll. Both answer without a token, so their bodies name
 * the kind of trouble only; what the store said goes to the tracker's log.
 */

/** How long the store has to answer a readiness check. */
export const READY_TIMEOUT_MS = 1000;

export interface ReadinessSources {
  /** A trivial query to the store. */
  ping: () => Promise<void>;
  /** Why writes fail now, or null while they succeed. */
  writeProblem: () => string | null;
}

export interface NotReady {
  /** For a probe's body: the kind of trouble, nothing the store said (a path, a host, a row). */
  said: string;
  /** For the tracker's log. */
  detail: string;
}

/** Null when ready. */
export async function notReadyBecause(sources: ReadinessSources): Promise<NotReady | null> {
  const write = sources.writeProblem();
  if (write !== null) return { said: "the store's writes fail", detail: `the store's writes fail: ${write}` };
  try {
    await sources.ping();
    return null;
  } catch (error) {
    return {
      said: "the store does not answer",
      detail: `the store does not answer: ${(error as Error)?.message ?? error}`,
    };
  }
}

/** `promise`, or a rejection once `ms` have passed without its answer. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The plain-text answers of /healthz and /readyz. */
export function healthAnswer(problem: string | null): { status: number; body: string } {
  return problem === null ? { status: 200, body: "ok\n" } : { status: 503, body: `not ready: ${problem}\n` };
}
