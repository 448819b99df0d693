/**
 * Hostile input, sent as an attacker would: job files through the CLI, bodies straight to the API,
 * labels chosen by a rogue agent. Each was found on dd1371b; each test fails there and passes now.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Cluster } from "../../testing/cluster.ts";
import { RawApi, registration } from "../../testing/raw_api.ts";
import { lacks } from "../../testing/machine.ts";

// deno-lint-ignore no-control-regex -- the point is to find control characters in terminal output
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f\x9b]/;

async function withCluster(test: (cluster: Cluster, api: RawApi) => Promise<void>): Promise<void> {
  const cluster = await Cluster.start();
  const api = await RawApi.of(cluster);
  try {
    await test(cluster, api);
  } finally {
    api.close();
    await cluster.stop();
  }
}

async function jobCount(cluster: Cluster): Promise<number> {
  return (await cluster.json<unknown[]>(["status"])).length;
}

Deno.test("a constraint pattern over a rogue agent's label cannot freeze the tracker (ReDoS)", async () => {
  await withCluster(async (cluster, api) => {
    // Anyone with the join token chooses an agent's labels; JavaScript's RegExp needs 2^32 steps here.
    const agent = await api.request("POST", "/v1/agents/register", cluster.joinToken, {
      ...registration("rogue", { labels: { pool: "a".repeat(32) + "b" } }),
    });
    assert.equal(agent.status, 200, agent.text);
    const spec = {
      name: "redos",
      tasks: [{ name: "t", run: "true", constraints: [{ label: "pool", matches: "^(a+)+$" }] }],
    };
    const submitted = await api.request("POST", "/v1/jobs", cluster.adminToken, { spec }, 5000);
    assert.equal(submitted.status, 201, submitted.text);
    // The tracker places the task (matching the pattern against the label) and keeps answering.
    for (let i = 0; i < 3; i++) {
      const agents = await api.request("GET", "/v1/agents", cluster.adminToken, undefined, 3000);
      assert.equal(agents.status, 200);
      assert.ok(agents.ms < 2000, `the tracker took ${agents.ms} ms to answer`);
    }
    const job = await cluster.json<{ tasks: Array<{ state: string }> }>(["status", (submitted.json as any).jobId]);
    assert.equal(job.tasks[0].state, "queued", "the pattern does not match the label");

    // Patterns outside RE2 are refused at submit, with the field named.
    const lookahead = await api.request("POST", "/v1/jobs", cluster.adminToken, {
      spec: { ...spec, tasks: [{ ...spec.tasks[0], constraints: [{ label: "pool", matches: "^(?=a)" }] }] },
    });
    assert.equal(lookahead.status, 400);
    assert.match(lookahead.text, /tasks\[0\]\.constraints\[0\]\.matches\\" must be an RE2 regular expression/);
  });
});

Deno.test("hostile job files are refused with the field named and exit 2, and nothing is submitted", async () => {
  await withCluster(async (cluster) => {
    const submit = async (name: string, text: string | Uint8Array) => {
      const path = join(cluster.root, "jobs", name);
      await Deno.mkdir(join(cluster.root, "jobs"), { recursive: true });
      if (typeof text === "string") await Deno.writeTextFile(path, text);
      else await Deno.writeFile(path, text);
      const result = await cluster.cli(["submit", path]);
      assert.equal(result.code, 2, `${name}: ${result.stdout}${result.stderr}`);
      assert.doesNotMatch(result.stderr, /a bug in fabric|at .*\.ts:\d+/, "a mistake, not a crash");
      return result.stderr;
    };
    const script = (path: string) => `name: s\ntasks:\n  - name: a\n    script: ${path}\n`;

    // script: ships only files inside the job file's folder, links resolved.
    assert.match(
      await submit("up.yaml", script("../../../etc/shadow")),
      /"tasks\[0\]\.script" must be a path relative/,
    );
    await Deno.symlink("/etc/shadow", join(cluster.root, "jobs", "shadow.ts"));
    assert.match(
      await submit("link.yaml", script("shadow.ts")),
      /"tasks\[0\]\.script" resolves to "\/etc\/shadow", outside the job file's folder/,
    );
    // A 30-day timeout overflowed the agent's timer and killed the task at once.
    assert.match(
      await submit("long.yaml", "name: l\ntasks:\n  - {name: a, run: sleep 1, timeout: 30d}\n"),
      /line 3, column 38: "tasks\[0\]\.timeout" may be at most 7d, got "30d"/,
    );
    // The alias bomb was "an unexpected error (a bug in fabric)".
    const rows = ["x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (let i = 1; i < 9; i++) {
      rows.push(`x${i}: &${"a".repeat(i + 1)} [${new Array(9).fill(`*${"a".repeat(i)}`).join(", ")}]`);
    }
    assert.match(
      await submit("bomb.yaml", `name: b\ntasks: [{name: a, run: x}]\n${rows.join("\n")}\n`),
      /aliases.*expand too far/,
    );
    // NUL bytes (a YAML escape) and invalid UTF-8 were accepted.
    assert.match(
      await submit("nul.yaml", 'name: n\ntasks:\n  - {name: a, run: "echo \\0 hi"}\n'),
      /"tasks\[0\]\.run" must not hold a NUL byte/,
    );
    const latin1 = new Uint8Array([
      ...new TextEncoder().encode("name: u\ntasks:\n  - {name: a, run: echo "),
      0xe9,
      0x7d,
      0x0a,
    ]);
    assert.match(await submit("latin1.yaml", latin1), /line 3, column 25: not valid UTF-8 \(at byte 40\)\n/);

    assert.equal(await jobCount(cluster), 0);
  });
});

Deno.test({
  name: "the longest duration allowed (7d) is a timeout that waits, not one that fires at once",
  ignore: lacks("bwrap"),
}, async () => {
  // 30d overflowed the agent's timer (over 2^31-1 ms) and killed the task as it started: 7d must hold.
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 1 }] });
  try {
    const jobId = await cluster.submit(
      "name: long\ntimeout: 7d\ngrace: 7d\ntasks:\n  - {name: t, run: sleep 0.5, backoff: {delay: 7d, max: 7d}}\n",
    );
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "succeeded", JSON.stringify(job.tasks[0]));
    assert.ok((job.tasks[0].durationMs ?? 0) >= 400);
  } finally {
    await cluster.stop();
  }
});

Deno.test("API bodies with NUL, invalid UTF-8, long durations or deep nesting get 400 naming the field", async () => {
  await withCluster(async (cluster, api) => {
    const submit = async (body: unknown) => {
      const answer = await api.request("POST", "/v1/jobs", cluster.adminToken, body);
      assert.equal(answer.status, 400, answer.text);
      return (answer.json as { error: { message: string } }).error.message;
    };
    const spec = (task: Record<string, unknown>) => ({
      spec: { name: "j", tasks: [{ name: "t", run: "x", ...task }] },
    });
    assert.match(await submit(spec({ env: { A: "a\0b" } })), /"tasks\[0\]\.env\.A" must not hold a NUL byte/);
    assert.match(await submit(spec({ run: "echo \ud800" })), /"tasks\[0\]\.run" must not hold invalid Unicode/);
    assert.match(await submit(spec({ timeout: "30d" })), /"tasks\[0\]\.timeout" may be at most 7d/);
    assert.match(
      await submit(spec({ backoff: { delay: "1s", max: 3_000_000 } })),
      /"tasks\[0\]\.backoff\.max" may be at most 7d/,
    );
    const bytes = new TextEncoder().encode(JSON.stringify(spec({ run: "echo Z" })));
    bytes[bytes.indexOf(0x5a)] = 0xff; // the Z
    assert.match(await submit(bytes), /The request body is not valid UTF-8: byte \d+/);
    let deep: unknown = "x";
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.match(await submit(spec({ env: deep })), /nests deeper than 64 levels/);
    assert.match(await submit(spec({ count: 1_000_001 })), /"tasks\[0\]\.count" must be at most 1000000/);
    assert.match(
      await submit({ ...spec({}), files: { "a.ts": "x\0" } }),
      /"files\.a\.ts": must not hold a NUL byte/,
    );

    const register = await api.request("POST", "/v1/agents/register", cluster.joinToken, {
      ...registration("nul", { labels: { zone: "eu\0" } }),
    });
    assert.equal(register.status, 400, register.text);
    assert.match(register.text, /labels\.zone\\": must not hold a NUL byte/);
    assert.equal(await jobCount(cluster), 0);
    assert.deepEqual(await cluster.json<unknown[]>(["agents"]), []);
  });
});

Deno.test("matrix values, labels, reasons and error messages reach the terminal escaped", async () => {
  await withCluster(async (cluster, api) => {
    const evil = "\x1b]0;pwned\x07\x1b[2J\x9b31m";
    const agent = await api.request("POST", "/v1/agents/register", cluster.joinToken, {
      ...registration("labelled", { labels: { note: evil } }),
    });
    assert.equal(agent.status, 200, agent.text);
    const agents = await cluster.cli(["agents"]);
    assert.equal(agents.code, 0, agents.stderr);
    assert.match(agents.stdout, /note=\\x1b\]0;pwned\\x07\\x1b\[2J\\x9b31m/);
    assert.doesNotMatch(agents.stdout, CONTROL);

    const jobId = await cluster.submit(
      'name: esc\ntasks:\n  - {name: t, run: "true", matrix: {v: ["\\e]0;pwned\\a"]}, constraints: [{label: none, exists: true}]}\n',
    );
    for (const args of [["status", jobId], ["status", `${jobId}.0`], ["status"]]) {
      const status = await cluster.cli(args);
      assert.equal(status.code, 0, status.stderr);
      assert.doesNotMatch(status.stdout, CONTROL, args.join(" "));
    }
    assert.match((await cluster.cli(["status", jobId])).stdout, /t\[v=\\x1b\]0;pwned\\x07\]/);

    // An error quoting what the job file chose (an unknown key) is escaped too.
    const bad = await cluster.writeFile("bad.yaml", 'name: b\ntasks:\n  - {name: t, run: "true", "\\e[2Jx": 1}\n');
    const refused = await cluster.cli(["submit", bad]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /has unknown field "\\x1b\[2Jx"/);
    assert.doesNotMatch(refused.stderr, CONTROL);
  });
});
