/**
 * The trackers this agent may talk to: those given with --join, then those it learns from whichever
 * tracker it reaches (GET /v1/trackers: the trackers sharing its store), at its start and every
 * LEARN_EVERY_MS, kept in agent.json so that a restart knows them. When the tracker it talks to stops
 * answering, its client moves on to the next of them by itself (client/tracker_urls.ts), at the pace
 * of the caller's jittered retries.
 */
import type { FabricClient } from "../client/mod.ts";
import type { Clock, TimerId } from "../protocol/mod.ts";
import { type AgentIdentity, saveIdentity } from "./credential.ts";
import { hostPort } from "./join.ts";

/** How often the list is asked for again (a tracker added or gone). */
export const LEARN_EVERY_MS = 60_000;

export interface TrackerListOptions {
  client: Pick<FabricClient, "learnTrackers" | "url">;
  dataDir: string;
  identity: AgentIdentity;
  /** `host:port` of the trackers given with --join: kept whatever the trackers say (none: learnt only). */
  given: string[];
  clock: Clock;
  log: (message: string) => void;
}

export class TrackerList {
  #options: TrackerListOptions;
  #identity: AgentIdentity;
  #timer: TimerId | undefined;
  #stopped = false;

  constructor(options: TrackerListOptions) {
    this.#options = options;
    this.#identity = options.identity;
  }

  get identity(): AgentIdentity {
    return this.#identity;
  }

  /** Ask the tracker reached now; the list, if it changed, is saved. A failure changes nothing (asked again later). */
  async learn(): Promise<void> {
    const { client, given, dataDir, log } = this.#options;
    let urls: readonly string[];
    try {
      urls = await client.learnTrackers(given.map((tracker) => `https://${tracker}`));
    } catch {
      return;
    }
    const trackers = urls.map(hostPort);
    const before = this.#identity.trackers ?? [this.#identity.tracker];
    if (trackers.join(",") === before.join(",")) return;
    this.#identity = { ...this.#identity, tracker: hostPort(client.url), trackers };
    await saveIdentity(dataDir, this.#identity).catch((error) => log(`could not save agent.json: ${error.message}`));
    if (trackers.length > 1 || before.length > 1) log(`trackers: ${trackers.join(", ")}`);
  }

  /** Learn again every LEARN_EVERY_MS until stopped. */
  start(): void {
    const again = () => {
      this.#timer = this.#options.clock.setTimeout(async () => {
        await this.learn();
        if (!this.#stopped) again();
      }, LEARN_EVERY_MS);
    };
    again();
  }

  stop(): void {
    this.#stopped = true;
    this.#options.clock.clearTimeout(this.#timer);
  }
}
