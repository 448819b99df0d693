import assert from "node:assert/strict";
import { HttpMetrics } from "./http_metrics.ts";
import { Registry } from "./registry.ts";

Deno.test("the registry renders counters, gauges and cumulative histograms in the Prometheus text format", () => {
  const registry = new Registry();
  const requests = registry.counter("x_requests_total", "Requests.\nSecond line \\ here.", ["path"]);
  requests.labels('/a"b\\c\nd').inc(2);
  requests.labels("/plain").inc();
  registry.gauge("x_up", "Up.", [], () => [{ labels: [], metric: 1 }]);
  const seconds = registry.histogram("x_seconds", "Durations.", [0.1, 1]).labels();
  for (const value of [0.05, 0.1, 0.5, 3]) seconds.observe(value);
  assert.equal(
    registry.render(),
    [
      "# HELP x_requests_total Requests.\\nSecond line \\\\ here.",
      "# TYPE x_requests_total counter",
      'x_requests_total{path="/a\\"b\\\\c\\nd"} 2',
      'x_requests_total{path="/plain"} 1',
      "# HELP x_up Up.",
      "# TYPE x_up gauge",
      "x_up 1",
      "# HELP x_seconds Durations.",
      "# TYPE x_seconds histogram",
      'x_seconds_bucket{le="0.1"} 2',
      'x_seconds_bucket{le="1"} 3',
      'x_seconds_bucket{le="+Inf"} 4',
      "x_seconds_sum 3.65",
      "x_seconds_count 4",
      "",
    ].join("\n"),
  );
});

Deno.test("a metric name is registered once, and a series takes as many label values as its family names", () => {
  const registry = new Registry();
  const family = registry.counter("x_total", "X.", ["a", "b"]);
  assert.throws(() => registry.counter("x_total", "Again."), /registered already/);
  assert.throws(() => family.labels("only one"), /takes 2 label values, got 1/);
  assert.equal(family.labels("1", "2"), family.labels("1", "2"));
});

Deno.test("HTTP requests are counted by route pattern, never by path: unknown paths, methods and a route's unserved methods fall into 'other'", () => {
  const registry = new Registry();
  const http = new HttpMetrics(registry, [
    { method: "ALL", path: "/v1/*" },
    { method: "GET", path: "/v1/jobs" },
    { method: "GET", path: "/v1/jobs/:id" },
    { method: "POST", path: "/v1/jobs/:id/cancel" },
  ]);
  http.observe("GET", "/v1/jobs", 200, 0.002);
  http.observe("GET", "/v1/jobs/abc", 200, 0.002);
  http.observe("GET", "/v1/jobs/def", 404, 0.002);
  http.observe("POST", "/v1/jobs/abc/cancel", 200, 0.002);
  http.observe("GET", "/v1/jobs/", 404, 0.002); // an empty segment is no id
  http.observe("GET", "/v1/jobs/abc/cancel/more", 404, 0.002);
  http.observe("BREW", "/../../etc/passwd", 400, 0.002);
  http.observe("DELETE", "/v1/jobs/abc", 404, 0.002); // a method the route does not serve
  http.observe("HEAD", "/v1/jobs", 200, 0.002); // a GET route serves HEAD
  const text = registry.render();
  const counts = text.split("\n").filter((line) => line.startsWith("fabric_http_requests_total{"));
  assert.deepEqual(counts, [
    'fabric_http_requests_total{method="GET",route="/v1/jobs",code="200"} 1',
    'fabric_http_requests_total{method="GET",route="/v1/jobs/:id",code="200"} 1',
    'fabric_http_requests_total{method="GET",route="/v1/jobs/:id",code="404"} 1',
    'fabric_http_requests_total{method="POST",route="/v1/jobs/:id/cancel",code="200"} 1',
    'fabric_http_requests_total{method="GET",route="other",code="404"} 2',
    'fabric_http_requests_total{method="other",route="other",code="400"} 1',
    'fabric_http_requests_total{method="DELETE",route="other",code="404"} 1',
    'fabric_http_requests_total{method="HEAD",route="/v1/jobs",code="200"} 1',
  ]);
  assert.match(text, /^fabric_http_request_duration_seconds_count\{method="GET",route="\/v1\/jobs\/:id"\} 2$/m);
  assert.doesNotMatch(text, /abc|def|passwd|BREW/);
});
