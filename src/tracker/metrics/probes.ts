/**
 * What /metrics and /readyz answer, on the API's port and on --metrics-listen alike: the metrics with
 * the store's size read at the scrape (within a second, else left out), and readiness. The store is
 * asked at most once at a time and once a second however many ask (recent_answer.ts).
 */
import type { Store, StoreSpace } from "../../store/mod.ts";
import { notReadyBecause, READY_TIMEOUT_MS, within } from "./health.ts";
import type { MetricsEndpoints } from "./metrics_server.ts";
import { RecentAnswer } from "./recent_answer.ts";
import type { TrackerMetrics } from "./tracker_metrics.ts";

/** How long the store's answer to a probe or a scrape is given again. */
const FRESH_MS = 1000;

export interface ProbeSources {
  store: Store;
  metrics: TrackerMetrics;
  /** Why the store's last write failed, or null. */
  writeFailure: () => string | null;
  /** Where a readiness problem's detail goes, once each time it changes. */
  log?: (line: string) => void;
}

export class Probes implements MetricsEndpoints {
  #sources: ProbeSources;
  #space: StoreSpace | null = null;
  #spaceAnswer: RecentAnswer<StoreSpace | null>;
  #pingAnswer: RecentAnswer<void>;
  #lastDetail: string | null = null;

  constructor(sources: ProbeSources) {
    this.#sources = sources;
    this.#spaceAnswer = new RecentAnswer(() => within(sources.store.space(), 1000).catch(() => null), FRESH_MS);
    this.#pingAnswer = new RecentAnswer(() => within(sources.store.ping(), READY_TIMEOUT_MS), FRESH_MS);
  }

  /** The store's size as the last scrape read it (for its gauges). */
  get space(): StoreSpace | null {
    return this.#space;
  }

  async metrics(): Promise<string> {
    this.#space = await this.#spaceAnswer.get();
    return this.#sources.metrics.registry.render();
  }

  /** Null when ready, else the kind of trouble (what the store said is logged). */
  async readiness(): Promise<string | null> {
    const problem = await notReadyBecause({
      ping: () => this.#pingAnswer.get(),
      writeProblem: this.#sources.writeFailure,
    });
    const detail = problem?.detail ?? null;
    if (detail !== this.#lastDetail) {
      this.#lastDetail = detail;
      this.#sources.log?.(detail === null ? "ready again" : `not ready: ${detail}`);
    }
    return problem?.said ?? null;
  }
}
