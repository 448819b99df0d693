/**
 * The tracker's front door against a stranger (issue #15): bodies are refused before they are read
 * or as soon as they pass their route's limit, slow and idle connections are cut, connections are
 * capped below the descriptor limit, the listener recovers from running out of descriptors, and a
 * closed connection ends its long poll. Each against a real tracker process over TLS on loopback.
 */
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { join } from "node:path";
import { startTrackerServer } from "../../src/tracker/mod.ts";
import { MAIN, REPO, waitFor, WatchedChild } from "../../testing/process.ts";

const MB = 1024 * 1024;

/** `fabric tracker` under `ulimit -n LIMIT` (when given), with its output kept. */
class Tracker extends WatchedChild {
  output = "";
  port = 0;
  admin = "";
  ca = "";

  constructor(readonly dir: string, options: { fileLimit?: number; args?: string[] } = {}) {
    const fabric = [Deno.execPath(), "run", "-A", "--quiet", MAIN, "tracker", "--listen", "127.0.0.1:0"];
    fabric.push("--data-dir", join(dir, "tracker"), ...(options.args ?? []));
    const limit = options.fileLimit ? `ulimit -n ${options.fileLimit}; ` : "";
    super("tracker", "sh", ["-c", `${limit}exec "$@"`, "sh", ...fabric], { cwd: REPO });
  }

  static async start(options: { fileLimit?: number; args?: string[] } = {}): Promise<Tracker> {
    const dir = await Deno.makeTempDir({ prefix: "fabric-front-door-" });
    const tracker = new Tracker(dir, options);
    const match = await tracker.waitForOutput(/listening on https:\/\/127\.0\.0\.1:(\d+)/);
    tracker.port = Number(match[1]);
    tracker.admin = (await Deno.readTextFile(join(dir, "tracker", "admin.token"))).trim();
    tracker.ca = await Deno.readTextFile(join(dir, "tracker", "ca.pem"));
    return tracker;
  }

  protected received(text: string): void {
    this.output += text;
  }
  protected find(pattern: RegExp): RegExpMatchArray | null {
    return this.output.match(pattern);
  }
  describe(): string {
    return `--- tracker output ---\n${this.output.slice(-4000)}`;
  }

  /** Resident memory, in MB. */
  rss(): number {
    return Number(Deno.readTextFileSync(`/proc/${this.pid}/status`).match(/VmRSS:\s+(\d+)/)![1]) / 1024;
  }

  /** An authenticated call, on a new connection, that gives up after `timeoutMs`. */
  async listJobs(timeoutMs = 3000): Promise<number> {
    const client = Deno.createHttpClient({ caCerts: [this.ca], http2: false });
    try {
      const response = await fetch(`https://127.0.0.1:${this.port}/v1/jobs`, {
        client,
        headers: { authorization: `Bearer ${this.admin}` },
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body?.cancel();
      return response.status;
    } finally {
      client.close();
    }
  }

  async shutdown(): Promise<void> {
    await this.stop("SIGKILL");
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

interface Sent {
  /** The status line and body the tracker answered with ("" if none came). */
  answer: string;
  /** Body bytes the client managed to hand to its socket before the tracker closed the connection. */
  sent: number;
}

/**
 * A request over TLS whose body (`bodyMb` MB, declared or chunked) is pushed as fast as the socket
 * takes it, until the tracker closes the connection; the tracker's peak RSS is sampled meanwhile.
 */
async function pushBody(
  tracker: Tracker,
  head: string,
  bodyMb: number,
  chunked: boolean,
): Promise<Sent & { rssRise: number }> {
  const before = tracker.rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, tracker.rss())), 10);
  try {
    const sent = await new Promise<Sent>((resolve) => {
      let answer = "";
      let sent = 0;
      const socket = tls.connect({ host: "127.0.0.1", port: tracker.port, ca: tracker.ca, servername: "localhost" });
      socket.on("secureConnect", () => {
        const framing = chunked ? "transfer-encoding: chunked" : `content-length: ${bodyMb * MB}`;
        socket.write(`${head}\r\nhost: localhost\r\ncontent-type: application/json\r\n${framing}\r\n\r\n`);
        const chunk = new Uint8Array(MB).fill(0x20);
        const pump = () => {
          while (sent < bodyMb * MB && !socket.destroyed) {
            if (chunked) socket.write(`${MB.toString(16)}\r\n`);
            let room = socket.write(chunk);
            if (chunked) room = socket.write("\r\n");
            sent += MB;
            if (!room) return void socket.once("drain", pump);
          }
        };
        pump();
      });
      socket.on("data", (data) => (answer += data.toString()));
      socket.on("error", () => {});
      socket.on("close", () => resolve({ answer, sent }));
    });
    return { ...sent, rssRise: peak - before };
  } finally {
    clearInterval(sampler);
  }
}

/** Polls an authenticated call on new connections until one is answered; how long that took, in ms. */
async function servedWithin(tracker: Tracker, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await waitFor("an authenticated call to be answered", async () => (await tracker.listJobs(2000)) === 200, {
    timeoutMs,
    intervalMs: 200,
  });
  return Date.now() - started;
}

/** A few small requests first: the tracker's first ones compile code and grow its heap. */
async function warmUp(tracker: Tracker): Promise<void> {
  for (let i = 0; i < 20; i++) assert.equal(await tracker.listJobs(), 200);
}

/** `count` connections that never send a byte (`tlsToo`: half of them finish a TLS handshake first). */
async function idleConnections(tracker: Tracker, count: number, tlsToo: boolean): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = tlsToo && i % 2 === 0
      ? tls.connect({ host: "127.0.0.1", port: tracker.port, ca: tracker.ca, servername: "localhost" })
      : net.connect({ host: "127.0.0.1", port: tracker.port });
    socket.on("error", () => {});
    socket.resume(); // a paused socket that was answered (408) would never report its close
    sockets.push(socket);
  }
  await waitFor("the idle connections to be made", () => sockets.every((s) => !s.connecting), { timeoutMs: 10_000 });
  return sockets;
}

Deno.test("an unauthenticated 200 MB body is refused with 401 and never held (tracker RSS rises < 40 MB)", async () => {
  const tracker = await Tracker.start();
  try {
    await warmUp(tracker);
    for (const chunked of [false, true]) {
      const result = await pushBody(tracker, "POST /v1/jobs HTTP/1.1", 200, chunked);
      assert.match(result.answer, /^HTTP\/1\.1 401 /, `chunked: ${chunked}\n${tracker.describe()}`);
      assert.ok(result.rssRise < 40, `the tracker's RSS rose by ${result.rssRise.toFixed(1)} MB (chunked: ${chunked})`);
      assert.match(result.answer, /"code":"unauthorized","message":"A token is required/);
      assert.ok(result.sent < 100 * MB, `the connection was cut early, not after ${result.sent} bytes`);
    }
    assert.equal(await tracker.listJobs(), 200, "and it serves on");
  } finally {
    await tracker.shutdown();
  }
});

Deno.test("an authenticated body over its route's limit gets 413, before it is read or as soon as it passes", async () => {
  const tracker = await Tracker.start();
  try {
    await warmUp(tracker);
    const auth = `authorization: Bearer ${tracker.admin}`;
    const declared = await pushBody(tracker, `POST /v1/jobs HTTP/1.1\r\n${auth}`, 200, false);
    assert.match(declared.answer, /^HTTP\/1\.1 413 /, tracker.describe());
    assert.match(
      declared.answer,
      /The request body \(209715200 bytes\) is larger than the 33554432 bytes this route takes/,
    );
    assert.ok(declared.rssRise < 40, `RSS rose by ${declared.rssRise.toFixed(1)} MB`);

    // Chunked, no length to refuse it by: cut once past the limit (1 MB for a drain), nothing kept.
    const chunked = await pushBody(tracker, `POST /v1/agents/a/drain HTTP/1.1\r\n${auth}`, 200, true);
    assert.match(chunked.answer, /^HTTP\/1\.1 413 /, tracker.describe());
    assert.match(chunked.answer, /larger than the 1048576 bytes this route takes/);
    assert.ok(chunked.sent < 100 * MB, `the connection was cut early, not after ${chunked.sent} bytes`);
    assert.ok(chunked.rssRise < 40, `RSS rose by ${chunked.rssRise.toFixed(1)} MB`);
    assert.equal(await tracker.listJobs(), 200);
  } finally {
    await tracker.shutdown();
  }
});

Deno.test("500 idle connections do not stop an authenticated client, and are closed after the headers deadline", async () => {
  // 256 descriptors: 500 connections would take them all, and the tracker would never accept again.
  const tracker = await Tracker.start({ fileLimit: 256 });
  let sockets: net.Socket[] = [];
  try {
    sockets = await idleConnections(tracker, 500, true);
    const ms = await servedWithin(tracker, 30_000);
    assert.ok(ms < 20_000, `served after ${ms} ms`);
    await waitFor("every idle connection to be closed by the tracker", () => sockets.every((s) => s.closed), {
      timeoutMs: 20_000,
    });
    assert.equal(await tracker.listJobs(), 200);
    assert.doesNotMatch(tracker.output, /\n\s+at /, "no stack trace in the log");
  } finally {
    for (const socket of sockets) socket.destroy();
    await tracker.shutdown();
  }
});

Deno.test("a slowloris (headers trickled a line a second) is cut off after the headers deadline", async () => {
  const tracker = await Tracker.start();
  try {
    const started = Date.now();
    const result = await new Promise<{ answer: string; ms: number }>((resolve) => {
      let answer = "";
      const socket = tls.connect({ host: "127.0.0.1", port: tracker.port, ca: tracker.ca, servername: "localhost" });
      let line = 0;
      const trickle = setInterval(() => {
        socket.write(line++ === 0 ? "GET /v1/jobs HTTP/1.1\r\nhost: localhost\r\n" : `x-slow-${line}: 1\r\n`);
      }, 1000);
      socket.on("data", (data) => (answer += data.toString()));
      socket.on("error", () => {});
      socket.on("close", () => {
        clearInterval(trickle);
        resolve({ answer, ms: Date.now() - started });
      });
      setTimeout(() => socket.destroy(), 25_000);
    });
    assert.ok(result.ms < 15_000, `cut after ${result.ms} ms`);
    assert.match(result.answer, /^HTTP\/1\.1 408 /);
    assert.equal(await tracker.listJobs(), 200);
  } finally {
    await tracker.shutdown();
  }
});

Deno.test("after running out of descriptors the tracker accepts again once connections close", async () => {
  // A connection cap above the descriptor limit, so that connections do exhaust them.
  const tracker = await Tracker.start({ fileLimit: 256, args: ["--max-connections", "100000"] });
  let sockets: net.Socket[] = [];
  try {
    sockets = await idleConnections(tracker, 400, false);
    await assert.rejects(tracker.listJobs(1500), "no descriptor is left to accept with");
    for (const socket of sockets) socket.destroy();
    sockets = [];
    await servedWithin(tracker, 20_000);
    assert.match(tracker.output, /stopped taking connections .*; listening again/);
  } finally {
    for (const socket of sockets) socket.destroy();
    await tracker.shutdown();
  }
});

Deno.test("a client that goes away mid-request is one line in the log, without a stack trace", async () => {
  const tracker = await Tracker.start();
  try {
    await new Promise<void>((resolve) => {
      const socket = tls.connect({ host: "127.0.0.1", port: tracker.port, ca: tracker.ca, servername: "localhost" });
      socket.on("secureConnect", () => {
        socket.write(
          `POST /v1/jobs HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${tracker.admin}\r\n` +
            `content-length: 1000\r\n\r\n{"spec": `,
        );
        setTimeout(() => socket.destroy(), 200);
      });
      socket.on("error", () => {});
      socket.on("close", () => resolve());
    });
    const line = await tracker.waitForOutput(/.*went away.*/);
    assert.match(line[0], /POST \/v1\/jobs: the client went away mid-request, after 9 bytes of body/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.doesNotMatch(tracker.output, /\n\s+at /, "no stack trace");
  } finally {
    await tracker.shutdown();
  }
});

Deno.test("a closed connection ends its long poll: claim and watch waiters go back down", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-front-door-" });
  const server = await startTrackerServer({ dataDir: join(dir, "tracker"), hostname: "127.0.0.1", port: 0 });
  const client = Deno.createHttpClient({ caCerts: [server.caPem], http2: false });
  const call = (path: string, token: string, body?: unknown, signal?: AbortSignal) =>
    fetch(`${server.url}${path}`, {
      client,
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  try {
    const tokens = server.newTokens!;
    const registered = await (await call("/v1/agents/register", tokens.join, {
      name: "a",
      slots: 1,
      version: "1",
      os: "linux",
      arch: "x",
    })).json();
    const job = await (await call("/v1/jobs", tokens.admin, {
      spec: { name: "wait", tasks: [{ name: "t", run: "true", constraints: [{ label: "never", equals: "x" }] }] },
    })).json();
    const agent = server.tracker!.state.agents.get(registered.agentId)!;
    const watched = server.tracker!.state.jobs.get(job.jobId)!;

    // Claim goes through the agents' fast path, watch through Hono: both must see the close.
    const claim = new AbortController();
    const watch = new AbortController();
    const polls = [
      call("/v1/agent/claim", registered.credential, { holding: [], waitMs: 30_000 }, claim.signal),
      call(`/v1/jobs/${job.jobId}/watch?since=${job.version}&waitMs=30000`, tokens.admin, undefined, watch.signal),
    ].map((p) => p.catch(() => null));
    await waitFor("both long polls to wait", () => agent.claim.waiting === 1 && watched.changed.waiting === 1);
    claim.abort();
    watch.abort();
    await Promise.all(polls);
    await waitFor("their waiters to be released", () => agent.claim.waiting === 0 && watched.changed.waiting === 0, {
      timeoutMs: 5000,
    });
  } finally {
    client.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
