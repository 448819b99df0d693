/**
 * What /metrics and /readyz answer, on the API's port and on --metrics-listen alike: the metrics with
 * the store's size read at the scrape (within a second, else left out), and readiness.
 */
import type { Store, StoreSpace } from "../../store/mod.ts";
import { notReadyBecause, within } from "./health.ts";
import type { MetricsEndpoints } from "./metrics_server.ts";
import type { TrackerMetrics } from "./tracker_metrics.ts";

export interface ProbeSources {
  store: Store;
  metrics: TrackerMetrics;
  /** Why the store's last write failed, or null. */
  writeFailure: () => string | null;
}

export class Probes implements MetricsEndpoints {
  #sources: ProbeSources;
  #space: StoreSpace | null = null;

  constructor(sources: ProbeSources) {
    this.#sources = sources;
  }

  /** The store's size as the last scrape read it (for its gauges). */
  get space(): StoreSpace | null {
    return this.#space;
  }

  async metrics(): Promise<string> {
    this.#space = await within(this.#sources.store.space(), 1000).catch(() => null);
    return this.#sources.metrics.registry.render();
  }

  readiness(): Promise<string | null> {
    return notReadyBecause({ ping: () => this.#sources.store.ping(), writeProblem: this.#sources.writeFailure });
  }
}
