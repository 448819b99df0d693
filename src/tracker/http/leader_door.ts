/**
 * The HTTPS layer's door and handler for a tracker that may lead or follow: while a Tracker leads here,
 * its own door (front_door.ts) and routes answer; while this tracker follows, only `GET /v1/ca` is
 * answered, and everything else is refused before its body is read with a 503 naming the tracker
 * that leads (forwarding to it is the next step of issue #17).
 */
import { FabricError } from "../../protocol/mod.ts";
import type { FetchHandler, FrontDoor } from "../https_server.ts";
import type { Leadership } from "../leadership.ts";
import { HttpMetrics } from "../metrics/mod.ts";
import { createRoutes, type RoutesOptions } from "../routes.ts";
import type { Tracker } from "../tracker.ts";
import { bodyLimit } from "./body_limits.ts";
import { errorResponse } from "./error_response.ts";
import { type Caller, trackerFrontDoor } from "./front_door.ts";

export interface LeaderDoorOptions extends RoutesOptions {
  log: (line: string) => void;
}

interface Served {
  door: FrontDoor<Caller>;
  app: ReturnType<typeof createRoutes>;
  http: HttpMetrics;
}

type HttpObserver = (method: string, path: string, status: number, seconds: number) => void;

export function leaderOrFollower(
  leadership: Leadership,
  options: LeaderDoorOptions,
): { door: FrontDoor<Caller>; handler: FetchHandler<Caller>; observe: HttpObserver } {
  const { caPem, log } = options;
  // One door and one set of routes per Tracker: a takeover loads a new one.
  const served = new WeakMap<Tracker, Served>();
  const serve = (tracker: Tracker) => {
    let entry = served.get(tracker);
    if (!entry) {
      const app = createRoutes(tracker, options);
      const http = new HttpMetrics(tracker.metrics.registry, app.routes);
      served.set(tracker, entry = { door: trackerFrontDoor(tracker, log), app, http });
    }
    return entry;
  };
  // Requests are counted in the metrics of the Tracker that leads here (a follower keeps none).
  const observe: HttpObserver = (method, path, status, seconds) => {
    const tracker = leadership.tracker;
    if (tracker) serve(tracker).http.observe(method, path, status, seconds);
  };
  const notLeading = () => {
    const holder = leadership.holder;
    return new FabricError(
      "unavailable",
      holder
        ? `This tracker does not place work now: tracker ${holder} does (its lease is in the store); try again, or ask it`
        : "No tracker places work now (none holds the lease); try again shortly",
    );
  };
  const door: FrontDoor<Caller> = {
    admit(method, path, authorization) {
      const tracker = leadership.tracker;
      if (tracker) return serve(tracker).door.admit(method, path, authorization);
      if (method === "GET" && path === "/v1/ca") return { maxBodyBytes: bodyLimit(method, path), context: null };
      throw notLeading();
    },
    fast(method, path, caller, body, signal) {
      const tracker = leadership.tracker;
      return tracker ? serve(tracker).door.fast!(method, path, caller, body, signal) : Promise.resolve(null);
    },
    errorResponse: (error, where) => errorResponse(error, where, log),
  };
  const handler: FetchHandler<Caller> = (request, caller) => {
    const tracker = leadership.tracker;
    if (tracker) return serve(tracker).app.fetch(request, { principal: caller });
    if (request.method === "GET" && new URL(request.url).pathname === "/v1/ca") {
      return new Response(caPem, { headers: { "content-type": "application/x-pem-file" } });
    }
    throw notLeading();
  };
  return { door, handler, observe };
}
