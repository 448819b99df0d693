/**
 * HTTP requests by route and status, with their durations. The route label is the route's pattern
 * (`/v1/jobs/:id`), never the path, and a path no route has, or a method the route does not serve, is
 * `other`: what a client sends cannot add series (at most a route's own methods, and the few of
 * `other`, by the tracker's few status codes). Each route's metrics are found without allocating (a map for plain paths, a segment
 * walk for patterns) and made once per method and status.
 */
import type { Counter, Family, Histogram, Registry } from "./registry.ts";

/** Long polls are held up to a minute: buckets reach it. */
const HTTP_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);
const OTHER = "other";

interface ByMethod {
  duration: Histogram;
  /** Per status code. */
  codes: Map<number, Counter>;
}

interface Route {
  pattern: string;
  /** The methods the route serves ("ALL": any); a GET serves HEAD too. */
  serves: Set<string>;
  methods: Map<string, ByMethod>;
}

export interface RouteRef {
  method: string;
  path: string;
}

export class HttpMetrics {
  #requests: Family<Counter>;
  #durations: Family<Histogram>;
  #plain = new Map<string, Route>();
  #patterns: Array<{ segments: string[]; route: Route }> = [];
  #other: Route = { pattern: OTHER, serves: new Set(["ALL"]), methods: new Map() };

  /** `routes`: the server's routes, by pattern (Hono's syntax: `:name` is one segment). */
  constructor(registry: Registry, routes: Iterable<RouteRef>) {
    this.#requests = registry.counter(
      "fabric_http_requests_total",
      "HTTP requests answered, by method, route (its pattern) and status code.",
      ["method", "route", "code"],
    );
    this.#durations = registry.histogram(
      "fabric_http_request_duration_seconds",
      "From a request's headers to the end of its answer (a long poll's wait included), by method and route.",
      HTTP_SECONDS,
      ["method", "route"],
    );
    for (const { method, path } of routes) {
      if (path.includes("*")) continue;
      let route = this.#plain.get(path) ?? this.#patterns.find((p) => p.route.pattern === path)?.route;
      if (!route) {
        route = { pattern: path, serves: new Set(), methods: new Map() };
        if (path.includes("/:")) this.#patterns.push({ segments: path.split("/"), route });
        else this.#plain.set(path, route);
      }
      route.serves.add(method);
      if (method === "GET") route.serves.add("HEAD");
    }
  }

  /** A request to `path` (no query) was answered with `status` after `seconds`. */
  observe(method: string, path: string, status: number, seconds: number): void {
    const verb = METHODS.has(method) ? method : OTHER;
    let route = this.#route(path);
    if (!route.serves.has(verb) && !route.serves.has("ALL")) route = this.#other;
    let byMethod = route.methods.get(verb);
    if (!byMethod) {
      byMethod = { duration: this.#durations.labels(verb, route.pattern), codes: new Map() };
      route.methods.set(verb, byMethod);
    }
    let counter = byMethod.codes.get(status);
    if (!counter) {
      counter = this.#requests.labels(verb, route.pattern, String(status));
      byMethod.codes.set(status, counter);
    }
    counter.inc();
    byMethod.duration.observe(seconds);
  }

  #route(path: string): Route {
    const plain = this.#plain.get(path);
    if (plain) return plain;
    for (const { segments, route } of this.#patterns) if (matches(path, segments)) return route;
    return this.#other;
  }
}

/** Whether `path` fits a pattern's segments (`["", "v1", "jobs", ":id"]`), without splitting the path. */
function matches(path: string, segments: readonly string[]): boolean {
  let at = 0;
  for (let i = 1; i < segments.length; i++) {
    if (path.charCodeAt(at) !== 47 /* "/" */) return false;
    const start = at + 1;
    let end = path.indexOf("/", start);
    if (end < 0) end = path.length;
    const segment = segments[i];
    if (segment.startsWith(":")) {
      if (end === start) return false;
    } else if (end - start !== segment.length || !path.startsWith(segment, start)) {
      return false;
    }
    at = end;
  }
  return at === path.length;
}
