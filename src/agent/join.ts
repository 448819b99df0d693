/**
 * Getting in: the pinned CA, then a first registration with the join token, or a hello with the
 * saved credential. A tracker that cannot be reached yet is waited for (an agent may well start
 * first), trying each tracker of the list in turn; a refused token or a CA that does not match the
 * pin ends the agent at once.
 */
import { type FabricClient, TrackerUnreachableError } from "../client/mod.ts";
import {
  type AttemptRef,
  type Clock,
  FabricError,
  type HelloRequest,
  retry,
  type RetryPolicy,
} from "../protocol/mod.ts";
import { CaFetchError, caHash, fetchPinnedCa } from "../tls/mod.ts";
import { type AgentIdentity, loadSavedCa, rejoinHint, saveCa, saveIdentity, trackersOf } from "./credential.ts";

/** Waits between tries while the tracker cannot be reached (an agent may well start first). */
const JOIN_RETRY: RetryPolicy = { initialMs: 200, maxMs: 5000 };

/** How to wait for the tracker. */
export interface Waiting {
  log: (message: string) => void;
  /** Stop waiting for the tracker. */
  signal: AbortSignal;
  clock: Clock;
  /** For the jitter of the retries (Math.random by default). */
  random?: () => number;
}

export interface JoinOptions extends Waiting {
  client: FabricClient;
  dataDir: string;
  /** `host:port` of each tracker, as given (--join) or saved. */
  trackers: string[];
  saved: AgentIdentity | null;
  name?: string;
  token?: string;
  advertised: HelloRequest;
  /** Attempts this agent still has to report (from its journal). */
  holding: AttemptRef[];
  /** The last run drained itself to stop and never left: the tracker ends that drain (own_drain.ts). */
  endOwnDrain?: boolean;
}

export async function join(
  options: JoinOptions,
): Promise<{ identity: AgentIdentity; heartbeatMs: number; pending: boolean }> {
  const { client, saved, trackers } = options;
  const sameFabric = saved !== null && sameTrackers(saved, trackers) && (!options.name || options.name === saved.name);
  return await untilReachable(options, async () => {
    if (sameFabric) {
      client.setToken(saved.credential);
      const ownDrain = options.endOwnDrain ? { endOwnDrain: true } : {};
      const hello = await client.hello({ ...options.advertised, holding: options.holding, ...ownDrain }).catch(
        (error) => {
          if (!(error instanceof FabricError) || error.code !== "unauthorized") throw error;
          throw new FabricError(
            "unauthorized",
            `The tracker refused this agent's saved credential (${error.message}). ${rejoinHint(options.dataDir)}`,
          );
        },
      );
      return { identity: saved, heartbeatMs: hello.heartbeatMs, pending: hello.pending === true };
    }
    if (!options.token) {
      throw new FabricError(
        "bad_request",
        `To join ${trackers.join(",")} this agent needs the join token (--token-file FILE or FABRIC_JOIN_TOKEN)`,
      );
    }
    client.setToken(options.token);
    const name = options.name ?? saved?.name ?? Deno.hostname();
    const registered = await client.register({ name, ...options.advertised });
    const identity: AgentIdentity = {
      tracker: hostPort(client.url),
      trackers,
      agentId: registered.agentId,
      name: registered.name,
      credential: registered.credential,
    };
    await saveIdentity(options.dataDir, identity);
    client.setToken(identity.credential);
    return { identity, heartbeatMs: registered.heartbeatMs, pending: registered.pending === true };
  });
}

/** The trackers' CA: given, saved from an earlier pinned fetch, or fetched now and checked against the pin. */
export async function resolveCa(
  options: { dataDir: string; caPem?: string; caHash?: string; saved: AgentIdentity | null; trackers: string[] },
  wait: Waiting,
): Promise<string> {
  if (options.caPem) return options.caPem;
  const savedCa = await loadSavedCa(options.dataDir);
  if (options.caHash) {
    const saved = options.saved;
    if (
      savedCa && saved && sameTrackers(saved, options.trackers) &&
      (await caHash(savedCa)) === options.caHash.toLowerCase()
    ) {
      return savedCa;
    }
    // Every tracker of a store has the same CA: the first that answers (each tried in turn) will do.
    let turn = 0;
    const next = () => options.trackers[turn++ % options.trackers.length];
    const pem = await untilReachable(wait, () => fetchPinnedCa(next(), options.caHash!));
    await saveCa(options.dataDir, pem);
    return pem;
  }
  if (savedCa) return savedCa;
  throw new FabricError(
    "bad_request",
    "Give the tracker's CA: --ca-hash sha256:HEX (printed by the tracker) or --ca FILE",
  );
}

/** The saved identity is of these trackers' fabric: they share an address with those it knew. */
function sameTrackers(saved: AgentIdentity, trackers: readonly string[]): boolean {
  const known = trackersOf(saved);
  return trackers.some((tracker) => known.includes(tracker));
}

/** `host:port` of an `https://host:port` URL. */
export function hostPort(url: string): string {
  return url.replace(/^https:\/\//, "").replace(/\/+$/, "");
}

function untilReachable<T>(wait: Waiting, attempt: () => Promise<T>): Promise<T> {
  return retry(attempt, {
    policy: JOIN_RETRY,
    clock: wait.clock,
    random: wait.random,
    signal: wait.signal,
    retryable: (error) =>
      error instanceof TrackerUnreachableError || error instanceof CaFetchError ||
      (error instanceof FabricError && error.code === "unavailable"),
    onRetry: (error, failures) => {
      if (failures === 1) wait.log(`waiting for the tracker: ${(error as Error).message}`);
    },
  });
}
