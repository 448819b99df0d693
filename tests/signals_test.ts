/**
 * A supervisor (systemd, a container runtime, a test) may stop a daemon the moment it says it is up:
 * the tracker and the agent listen for SIGTERM before they announce themselves, so that stop is
 * clean (exit 0, the store closed, the agent drained) and never the default death by signal (143).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Cluster } from "../testing/cluster.ts";
import { Daemon } from "../testing/process.ts";

// Before the fix about half of these stops ended in 143: the window is the tracker's awaits between
// its first line and its signal listener.
const ROUNDS = 6;

Deno.test("a tracker stopped as soon as it says it listens closes cleanly, every time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-signals-" });
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const tracker = new Daemon(`tracker ${round}`, [
        "tracker",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        join(dir, `t${round}`),
      ]);
      try {
        await tracker.waitForOutput(/listening on/);
        const status = await tracker.stop();
        assert.equal(status.code, 0, tracker.describe());
        assert.match(tracker.stderr, /SIGTERM: finishing requests and closing the store/);
      } finally {
        await tracker.stop("SIGKILL", 1000);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an agent stopped as soon as it says it joined drains and exits 0, every time", async () => {
  const cluster = await Cluster.start();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const agent = cluster.startAgent({ name: `a${round}` });
      await agent.waitForOutput(/joined/);
      const status = await agent.stop();
      assert.equal(status.code, 0, agent.describe());
      assert.match(agent.stderr, /SIGTERM: draining/);
    }
  } finally {
    await cluster.stop();
  }
});

Deno.test("an agent still waiting for its tracker stops at SIGTERM at once, exit 0, saying it never joined", async () => {
  const cluster = await Cluster.start();
  try {
    // Nothing listens on port 1: the agent waits for a tracker there, as it would for one that is down.
    const agent = cluster.startAgent({ name: "waiting", join: "127.0.0.1:1" });
    await agent.waitForOutput(/waiting for the tracker/);
    const status = await agent.stop("SIGTERM", 5000);
    assert.equal(status.code, 0, agent.describe());
    assert.match(agent.stderr, /SIGTERM: stopped before joining a tracker/);
  } finally {
    await cluster.stop();
  }
});
