/**
 * A bounded fuzz of what outsiders send: random and mutated job files (parsed as the CLI does) and API
 * bodies (submit, register, hello, heartbeat, claim, report, drain, weight, cancel) against a real
 * tracker process. Every answer is a success or a 4xx with a message, never a 5xx; the tracker stays
 * up; a job submitted before the fuzz is not changed by it.
 *
 * Seeded and bounded in time: FABRIC_FUZZ_SEED replays a run (the seed is in every failure message),
 * FABRIC_FUZZ_SECONDS runs longer than the suite's few seconds.
 */
import assert from "node:assert/strict";
import { JobSpecError, parseJobFile } from "../../src/protocol/mod.ts";
import { Cluster } from "../../testing/cluster.ts";
import { type RawAnswer, RawApi, registration } from "../../testing/raw_api.ts";

const SEED = Number(Deno.env.get("FABRIC_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const SECONDS = Number(Deno.env.get("FABRIC_FUZZ_SECONDS") ?? 4);
const MAX_CASES = 5_000;

/** mulberry32: small, seeded, good enough to pick mutations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Fuzz {
  constructor(readonly random: () => number) {}

  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  /** A value of the kinds that broke parsers before: controls, NUL, lone surrogates, huge, deep, odd numbers. */
  value(depth = 0): unknown {
    switch (this.int(depth > 2 ? 8 : 11)) {
      case 0:
        return this.pick(["", "x", "30d", "7d", "0", "-1s", "1e309", "^(a+)+$", "(?=x)", "../../etc/shadow", "*"]);
      case 1:
        return this.pick(["\0", "a\0b", "\ud800", "\udfff x", "\x1b]0;t\x07", "\u202e", "é日😀", "\uffff"]);
      case 2:
        return "x".repeat(this.pick([64, 257, 4096, 140_000]));
      case 3:
        return this.pick([0, -1, 1, 0.5, 2 ** 31, 2 ** 53 + 2, 1e308, -1e308, 1_000_001, 604_801]);
      case 4:
        return this.pick([true, false, null]);
      case 5:
        return this.pick(["bash", "sh", "python", "{0}", "least_loaded", "all", "spread", "binpack", "HEAD"]);
      case 6:
        return `t${this.int(5)}`;
      case 7:
        return this.int(1000);
      case 8:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      case 9:
        return Object.fromEntries(Array.from({ length: this.int(4) }, () => [this.key(), this.value(depth + 1)]));
      default: {
        let deep: unknown = "x";
        for (let i = this.pick([10, 40, 70, 5000]); i > 0; i--) deep = this.chance(0.5) ? [deep] : { a: deep };
        return deep;
      }
    }
  }

  key(): string {
    return this.pick(["name", "run", "env", "tasks", "needs", "matrix", "count", "timeout", "x", "A", "a\0", "\ud800"]);
  }

  /** A copy of `value` with one node replaced, removed, or added. */
  mutate(value: unknown): unknown {
    let copy: unknown;
    try {
      copy = structuredClone(value);
    } catch {
      return this.value(); // grown too deep for the clone's recursion: start over
    }
    const nodes: Array<{ parent: Record<string | number, unknown>; key: string | number }> = [];
    const stack: unknown[] = [copy];
    while (stack.length > 0 && nodes.length < 2000) {
      const node = stack.pop();
      if (node === null || typeof node !== "object") continue;
      for (const [key, child] of Object.entries(node)) {
        nodes.push({ parent: node as Record<string, unknown>, key: Array.isArray(node) ? Number(key) : key });
        stack.push(child);
      }
    }
    if (nodes.length === 0) return this.value();
    const { parent, key } = this.pick(nodes);
    const action = this.int(4);
    if (action === 0) delete parent[key];
    else if (action === 1 && !Array.isArray(parent)) parent[this.key()] = this.value();
    else if (action === 2) parent[key] = structuredClone(this.pick(nodes).parent);
    else parent[key] = this.value();
    return copy;
  }

  /** JSON text, sometimes broken at the byte level (invalid UTF-8, NUL, cut short). */
  bytes(value: unknown): Uint8Array | string {
    let text: string;
    try {
      text = JSON.stringify(value) ?? "null";
    } catch {
      text = '"too deep for JSON.stringify"';
    }
    if (!this.chance(0.25)) return text;
    const bytes = new TextEncoder().encode(text);
    const at = this.int(bytes.length);
    switch (this.int(3)) {
      case 0:
        return Uint8Array.from([
          ...bytes.subarray(0, at),
          this.pick([0xff, 0xc0, 0xed, 0x80, 0x00]),
          ...bytes.subarray(at),
        ]);
      case 1:
        return bytes.subarray(0, at);
      default:
        bytes[at] ^= 1 << this.int(8);
        return bytes;
    }
  }
}

const SPECS: unknown[] = [
  { name: "a", tasks: [{ name: "t", run: "true" }] },
  {
    name: "b",
    env: { A: "1" },
    timeout: "1m",
    tasks: [
      { name: "t0", run: "echo $A", count: 3, matrix: { os: ["x", "y"] }, retries: 1, backoff: { delay: "1s" } },
      { name: "t1", code: "console.log(1)", needs: ["t0"], permissions: { net: false, read: ["/usr"] } },
      { name: "t2", git: { repo: "https://example.invalid/r.git", ref: "main" }, steps: ["make"], needs: ["t1"] },
      { name: "t3", run: "x", constraints: [{ label: "zone", matches: "^eu" }, { label: "gpu", exists: true }] },
    ],
  },
  // Secrets: refused until the fuzz has set FUZZ_SECRET, queued after (no agent can take it).
  {
    name: "c",
    secrets: ["FUZZ_SECRET"],
    tasks: [{ name: "t", run: "x", secrets: { B: "FUZZ_SECRET" }, constraints: [{ label: "no", exists: true }] }],
  },
];

const YAML_FILES = [
  "name: y\ntasks:\n  - name: a\n    run: echo hi\n    timeout: 5m\n    env: {A: b}\n",
  "name: z\nx: &x {run: echo, count: 2}\ntasks:\n  - {name: a, <<: *x}\n  - {name: b, run: x, needs: [a]}\n",
];

function mutateYaml(fuzz: Fuzz, text: string): string {
  const pieces = [
    "*x",
    "&y ",
    "[",
    "{",
    "]",
    "}",
    "\0",
    "\\0",
    '"\\ud800"',
    "\t",
    "\n  - ",
    ": ",
    "30d",
    "\x1b[2J",
    "---\n",
  ];
  let out = text;
  for (let n = 1 + fuzz.int(3); n > 0; n--) {
    const at = fuzz.int(out.length + 1);
    out = fuzz.chance(0.7)
      ? out.slice(0, at) + fuzz.pick(pieces) + out.slice(at)
      : out.slice(0, at) + out.slice(at + 1 + fuzz.int(5));
  }
  return out;
}

/** A job as it lasts: without why its tasks wait, which follows the agents that come and go. */
function lasting(job: unknown): unknown {
  const { tasks, ...rest } = job as { tasks: Array<Record<string, unknown>> };
  return { ...rest, tasks: tasks.map(({ reason: _, ...task }) => task) };
}

Deno.test(`fuzzed job files and API bodies get answers, never a 5xx, and change no job (seed ${SEED})`, async () => {
  const fuzz = new Fuzz(rng(SEED));
  const cluster = await Cluster.start();
  const api = await RawApi.of(cluster);
  const context = (what: string, answer?: RawAnswer) =>
    `seed ${SEED}: ${what}${answer ? ` -> ${answer.status} ${answer.text.slice(0, 300)}` : ""}`;
  let trackerExited = false;
  cluster.tracker.exited.then(() => trackerExited = true);
  try {
    // A job that no agent can take: nothing but the fuzz could change it.
    const baseline = await api.request("POST", "/v1/jobs", cluster.adminToken, {
      spec: {
        name: "baseline",
        tasks: [{ name: "t", run: "true", count: 3, constraints: [{ label: "no", exists: true }] }],
      },
    });
    assert.equal(baseline.status, 201, baseline.text);
    const jobId = (baseline.json as { jobId: string }).jobId;
    const before = await api.request("GET", `/v1/jobs/${jobId}`, cluster.adminToken);
    const agent = await api.request("POST", "/v1/agents/register", cluster.joinToken, registration("fuzz-agent"));
    assert.equal(agent.status, 200, agent.text);
    let credential = (agent.json as { credential: string }).credential;

    const deadline = performance.now() + SECONDS * 1000;
    const counts = { cases: 0, accepted: 0, refused: 0, files: 0 };
    while (performance.now() < deadline && counts.cases < MAX_CASES) {
      counts.cases++;
      if (fuzz.chance(0.15)) {
        // A job file, as the CLI parses it: a spec, or a JobSpecError with where and why; nothing else.
        counts.files++;
        const text = mutateYaml(fuzz, fuzz.pick(YAML_FILES));
        try {
          await parseJobFile(text, "fuzz.yaml");
        } catch (error) {
          assert.ok(error instanceof JobSpecError, context(`job file ${JSON.stringify(text)} threw ${error}`));
          assert.ok(error.problems.length > 0 && error.problems.every((p) => p.message.length > 0));
        }
        continue;
      }
      const route = fuzz.int(10);
      const tasks = [0, 1, 2].map((i) => `${jobId}.${i}`);
      let method = "POST", path: string, token: string, body: unknown;
      switch (route) {
        case 0:
          [path, token, body] = ["/v1/jobs", cluster.adminToken, { spec: fuzz.mutate(fuzz.pick(SPECS)) }];
          if (fuzz.chance(0.3)) body = fuzz.mutate(body);
          break;
        case 1:
          [path, token, body] = [
            "/v1/agents/register",
            cluster.joinToken,
            fuzz.mutate(registration(`f${fuzz.int(50)}`)),
          ];
          break;
        case 2:
          [path, token, body] = ["/v1/agent/hello", credential, fuzz.mutate({ ...registration("x"), holding: [] })];
          delete (body as Record<string, unknown>)?.name;
          break;
        case 3: {
          const load = { load1: 0, load5: 0, load15: 0, memFree: 1, memTotal: 2, running: 0, freeSlots: 1 };
          [path, token, body] = ["/v1/agent/heartbeat", credential, fuzz.mutate({ load })];
          break;
        }
        case 4:
          [path, token, body] = ["/v1/agent/claim", credential, fuzz.mutate({ holding: [], waitMs: 0 })];
          // A valid long poll would wait: the fuzz is about what is refused, not about waiting.
          if (body && typeof body === "object" && "waitMs" in body) (body as Record<string, unknown>).waitMs = 0;
          break;
        case 5: {
          // Reports about the baseline's tasks, which were never assigned: fenced off, whatever they say.
          const taskId = fuzz.pick(tasks);
          const attempt = 1 + fuzz.int(3);
          const events = [
            { type: "started", taskId, attempt, at: 1 },
            { type: "output", taskId, attempt, at: 1, chunks: [{ seq: 0, stream: "stdout", data: "x" }] },
            { type: "finished", taskId, attempt, at: 2, result: { kind: "exited", code: 0 }, durationMs: 1 },
            { type: "released", taskId, attempt, at: 2, reason: "x" },
          ];
          [path, token, body] = ["/v1/agent/report", credential, fuzz.mutate({ events: [fuzz.pick(events)] })];
          break;
        }
        case 6:
          [path, token, body] = [`/v1/agents/f${fuzz.int(50)}/drain`, cluster.adminToken, fuzz.mutate({ graceMs: 1 })];
          break;
        case 7:
          method = "PUT";
          [path, token, body] = [`/v1/agents/fuzz-agent/weight`, cluster.adminToken, fuzz.mutate({ weight: 1 })];
          break;
        case 8: {
          method = "PUT";
          // Well-formed first: a lone surrogate (a fuzzed value's, or one cut by the slice) cannot be URI-encoded.
          const name = fuzz.chance(0.8)
            ? "FUZZ_SECRET"
            : encodeURIComponent(String(fuzz.value()).slice(0, 200).toWellFormed());
          const secret = { value: "fuzz-secret-value", allow: ["operator", "token:ci"] };
          [path, token, body] = [`/v1/secrets/${name}`, cluster.adminToken, fuzz.mutate(secret)];
          break;
        }
        default: {
          method = "GET";
          const query = encodeURIComponent(String(fuzz.value()).slice(0, 200).toWellFormed());
          [path, token, body] = [
            fuzz.pick([
              `/v1/jobs?limit=${query}`,
              `/v1/jobs/${query}`,
              `/v1/tasks/${query}`,
              `/v1/jobs/${jobId}/watch?since=${query}&waitMs=0`,
            ]),
            cluster.adminToken,
            undefined,
          ];
        }
      }
      const payload = body === undefined ? undefined : fuzz.bytes(body);
      const answer = await api.request(method, path, token, payload, 15_000);
      const what = `${method} ${path} ${
        typeof payload === "string" ? payload.slice(0, 300) : `(${payload?.length} bytes)`
      }`;
      assert.ok(answer.status < 500, context(what, answer));
      if (answer.status >= 400) {
        counts.refused++;
        const error = (answer.json as { error?: { code?: string; message?: string } })?.error;
        assert.ok(typeof error?.code === "string" && (error.message ?? "").length > 0, context(what, answer));
      } else counts.accepted++;
      if (route === 1 && answer.status === 200 && (body as { name?: string }).name === "fuzz-agent") {
        credential = (answer.json as { credential: string }).credential;
      }
    }

    // The tracker is up and answers; the baseline job is as it was.
    assert.equal(trackerExited, false, context(`the tracker exited\n${cluster.tracker.describe()}`));
    assert.doesNotMatch(cluster.tracker.stderr, /internal error|\n\s+at /, context("the tracker logged a crash"));
    const after = await api.request("GET", `/v1/jobs/${jobId}`, cluster.adminToken);
    assert.equal(after.status, 200, context("the tracker answers after the fuzz", after));
    assert.deepEqual(lasting(after.json), lasting(before.json), context("the baseline job changed"));
    assert.ok(counts.cases > 50, context(`only ${counts.cases} cases ran`));
    console.log(`fuzz seed ${SEED}: ${JSON.stringify(counts)}`);
  } finally {
    api.close();
    await cluster.stop();
  }
});
