/**
 * Metrics and health on a real tracker and agent: /metrics in the Prometheus text format (promtool
 * checks it), counters and histograms that move as a job runs, the token /metrics needs on the API's
 * port and does not on --metrics-listen, and /healthz and /readyz without one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";
import { fabric } from "../testing/process.ts";
import { RawApi } from "../testing/raw_api.ts";

/** Each sample of a scrape by its series, as printed: `name{label="value",...}`. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

function value(scrape: Map<string, number>, series: string): number {
  const found = scrape.get(series);
  assert.ok(found !== undefined, `no series ${series} in the scrape`);
  return found;
}

async function scrape(url: string): Promise<{ text: string; values: Map<string, number>; type: string }> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  return { text, values: samples(text), type: response.headers.get("content-type") ?? "" };
}

const JOB = `name: metered
sandbox: false
tasks:
  - name: ok
    count: 2
    run: echo hello
  - name: bad
    retries: 1
    backoff: 100ms
    run: exit 3
`;

Deno.test("the tracker's metrics move as a job runs, and /metrics needs a token on the API's port only", async (t) => {
  const cluster = await Cluster.start({
    agents: [{ name: "m1", extraArgs: ["--allow-unsandboxed"] }],
    trackerArgs: ["--metrics-listen", "127.0.0.1:0"],
  });
  const api = await RawApi.of(cluster);
  try {
    const metricsUrl = (await cluster.tracker.waitForOutput(/metrics at (http:\/\/127\.0\.0\.1:\d+)\/metrics/))[1];
    const before = await scrape(metricsUrl);
    assert.match(before.type, /^text\/plain; version=0\.0\.4/);

    const jobId = await cluster.submit(JOB);
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "failed");
    const after = await scrape(metricsUrl);
    const moved = (series: string) => value(after.values, series) - value(before.values, series);

    await t.step("counters and histograms count the job", () => {
      assert.equal(moved("fabric_jobs_submitted_total"), 1);
      assert.equal(moved("fabric_tasks_submitted_total"), 3);
      assert.equal(moved('fabric_jobs_finished_total{outcome="failed"}'), 1);
      assert.equal(moved('fabric_jobs_finished_total{outcome="succeeded"}'), 0);
      assert.equal(moved('fabric_tasks_finished_total{outcome="succeeded"}'), 2);
      assert.equal(moved('fabric_tasks_finished_total{outcome="failed"}'), 1);
      assert.equal(moved("fabric_tasks_retried_total"), 1);
      // Each task's first attempt waited once; every attempt that finished ran once (the failed one twice).
      assert.equal(moved("fabric_task_wait_seconds_count"), 3);
      assert.equal(moved("fabric_task_run_seconds_count"), 4);
      assert.equal(
        value(after.values, 'fabric_task_run_seconds_bucket{le="+Inf"}'),
        value(after.values, "fabric_task_run_seconds_count"),
      );
      assert.ok(moved("fabric_log_bytes_stored_total") >= 2 * "hello\n".length);
      assert.ok(moved("fabric_store_commit_duration_seconds_count") > 0);
      assert.ok(value(after.values, 'fabric_http_requests_total{method="POST",route="/v1/jobs",code="201"}') >= 1);
      assert.ok(
        value(after.values, 'fabric_http_requests_total{method="POST",route="/v1/agent/report",code="200"}') >= 1,
      );
      assert.ok(
        value(after.values, 'fabric_http_request_duration_seconds_count{method="GET",route="/v1/jobs/:id"}') >= 1,
      );
    });

    await t.step("gauges follow the tracker's state, and no series names a task or an agent by id", () => {
      assert.equal(value(after.values, 'fabric_agents{state="ready"}'), 1);
      assert.equal(value(after.values, "fabric_agent_slots"), 2);
      assert.equal(value(after.values, "fabric_agent_slots_busy"), 0);
      assert.equal(value(after.values, 'fabric_tasks{state="queued"}'), 0);
      assert.equal(value(after.values, "fabric_task_queue_oldest_age_seconds"), 0);
      assert.equal(value(after.values, "fabric_tracker_leader"), 1);
      assert.ok(value(after.values, "fabric_store_size_bytes") > 0);
      assert.ok([...after.values.keys()].some((s) => s.startsWith("fabric_build_info{version=")));
      for (const id of [jobId, ...job.tasks.map((task) => task.id)]) assert.ok(!after.text.includes(id), id);
      assert.ok(!/agent_id|task_id/.test(after.text));
    });

    await t.step({
      name: "promtool check metrics passes on the output",
      ignore: lacks("promtool"),
      fn: async () => {
        const check = new Deno.Command("promtool", {
          args: ["check", "metrics"],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const writer = check.stdin.getWriter();
        await writer.write(new TextEncoder().encode(after.text));
        await writer.close();
        const result = await check.output();
        const said = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
        assert.equal(result.code, 0, said);
        assert.equal(said.trim(), "");
      },
    });

    await t.step({
      name: "the alert examples of docs/operating.md are valid rules for these metrics",
      ignore: lacks("promtool"),
      fn: async () => {
        const doc = await Deno.readTextFile(new URL("../docs/operating.md", import.meta.url));
        const rules = doc.slice(doc.indexOf("## Alert examples")).match(/```yaml\n([\s\S]*?)```/)![1];
        for (const name of rules.matchAll(/\b(fabric_[a-z_]+)/g)) {
          const series = name[1].replace(/_(bucket|sum|count)$/, "");
          assert.ok(after.text.includes(`# TYPE ${series} `), `the rules name ${name[1]}, which the tracker has not`);
        }
        const file = await Deno.makeTempFile({ dir: cluster.root, suffix: ".yaml" });
        await Deno.writeTextFile(file, rules);
        const result = await new Deno.Command("promtool", { args: ["check", "rules", file] }).output();
        const said = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
        assert.equal(result.code, 0, said);
      },
    });

    await t.step(
      "on the API's port, /metrics needs a client token (read is enough); /healthz and /readyz need none",
      async () => {
        const none = await api.request("GET", "/metrics", "");
        assert.equal(none.status, 401);
        assert.equal((none.json as { error: { code: string } }).error.code, "unauthorized");
        const join = await api.request("GET", "/metrics", cluster.joinToken);
        assert.equal(join.status, 403);
        assert.match(join.text, /Reading the metrics needs the read role/);
        const created = await cluster.cli(["token", "create", "--role", "read", "--name", "scraper"]);
        assert.equal(created.code, 0, created.stderr);
        const reader = await api.request("GET", "/metrics", created.stdout.trim());
        assert.equal(reader.status, 200);
        assert.match(reader.text, /^fabric_jobs_submitted_total 1$/m);

        // Long polls held open on the same port (watches of a job no agent can run) do not hold the
        // probes up: they answer while the polls wait.
        const idle = await cluster.submit(
          "name: idle\ntasks:\n  - name: t\n    run: 'true'\n    constraints: [{ label: nowhere, exists: true }]\n",
        );
        const { version } = (await api.request("GET", `/v1/jobs/${idle}`, cluster.adminToken)).json as {
          version: number;
        };
        const waiting = new AbortController();
        let polled = 0;
        const watch = `/v1/jobs/${idle}/watch?since=${version}&waitMs=60000`;
        const polls = [1, 2, 3].map(() =>
          api.request("GET", watch, cluster.adminToken, undefined, 70_000, waiting.signal).then(
            () => polled++,
            () => {},
          )
        );
        try {
          for (const path of ["/healthz", "/readyz"]) {
            const answer = await api.request("GET", path, "");
            assert.equal(answer.status, 200, `${path}: ${answer.text}`);
            assert.equal(answer.text, "ok\n");
          }
          assert.equal(polled, 0, "the long polls were still waiting");
        } finally {
          waiting.abort();
          await Promise.all(polls);
        }
      },
    );

    await t.step("the metrics listener serves only its three paths, to GET", async () => {
      for (const path of ["/healthz", "/readyz"]) {
        const response = await fetch(metricsUrl + path);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), "ok\n");
      }
      const other = await fetch(`${metricsUrl}/v1/jobs`);
      assert.equal(other.status, 404);
      await other.body?.cancel();
      const post = await fetch(`${metricsUrl}/metrics`, { method: "POST", body: "x" });
      assert.equal(post.status, 405);
      await post.body?.cancel();
    });
  } finally {
    api.close();
    await cluster.stop();
  }
});

Deno.test("a --metrics-listen address that cannot be had is said plainly, with exit code 1", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  const dir = await Deno.makeTempDir({ prefix: "fabric-test-" });
  try {
    const result = await fabric([
      "tracker",
      ...["--listen", "127.0.0.1:0", "--data-dir", join(dir, "tracker")],
      ...["--metrics-listen", `127.0.0.1:${port}`],
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stderr.trim(),
      `fabric tracker: Cannot listen on 127.0.0.1:${port} (--metrics-listen): the port is in use`,
    );
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});
