/**
 * `--metrics-listen ADDR`: /metrics, /healthz and /readyz over plain HTTP, without a token, for a
 * Prometheus server or a probe on the same machine or a private network. Nothing else is served
 * there, and nothing there can change anything; it is not the API's port, so its connections do not
 * count against the API's cap (a probe gets through while long polls fill it). Its requests have
 * short deadlines, and its connections are few.
 */
import http from "node:http";
import { once } from "node:events";
import { healthAnswer } from "./health.ts";
import { TEXT_FORMAT } from "./registry.ts";

/** Connections held at once: a scraper or two and some probes. */
const MAX_CONNECTIONS = 64;
const DEADLINE_MS = 10_000;

export interface MetricsEndpoints {
  metrics(): Promise<string>;
  /** Null when ready, else why not. */
  readiness(): Promise<string | null>;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export async function serveMetrics(
  options: { hostname: string; port: number; log?: (line: string) => void },
  endpoints: MetricsEndpoints,
): Promise<MetricsServer> {
  const log = options.log ?? (() => {});
  const server = http.createServer({
    headersTimeout: DEADLINE_MS,
    requestTimeout: DEADLINE_MS,
    connectionsCheckingInterval: 1000,
  }, (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    answer(req.method ?? "GET", path, endpoints).then(
      ({ status, body, type }) => send(res, status, body, type),
      (error) => {
        log(`metrics listener: ${req.method} ${path} failed: ${(error as Error)?.message ?? error}`);
        send(res, 500, "the tracker could not answer; see its log\n");
      },
    );
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.keepAliveTimeout = 5000;
  server.listen(options.port, options.hostname);
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([error]) => Promise.reject(error)),
  ]);
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : options.port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

async function answer(
  method: string,
  path: string,
  endpoints: MetricsEndpoints,
): Promise<{ status: number; body: string; type?: string }> {
  if (path !== "/metrics" && path !== "/healthz" && path !== "/readyz") {
    return { status: 404, body: "only /metrics, /healthz and /readyz are served here\n" };
  }
  if (method !== "GET" && method !== "HEAD") return { status: 405, body: `${path} takes GET\n` };
  if (path === "/metrics") return { status: 200, body: await endpoints.metrics(), type: TEXT_FORMAT };
  return healthAnswer(path === "/healthz" ? null : await endpoints.readiness());
}

function send(res: http.ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8"): void {
  const bytes = new TextEncoder().encode(body);
  res.writeHead(status, { "content-type": type, "content-length": String(bytes.byteLength) });
  res.end(res.req?.method === "HEAD" ? undefined : bytes);
}
