/**
 * Zero-configuration discovery in two network namespaces the test makes (a veth pair between them,
 * so no broadcast leaves the machine): a tracker announces itself, an impostor announces another CA,
 * and an agent given only a join token ignores the impostor and joins the tracker.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { joinTokenCaHash } from "../src/protocol/mod.ts";
import { lacks } from "../testing/machine.ts";
import { makeNamespacePair } from "../testing/netns.ts";
import { PostgresServer } from "../testing/postgres.ts";
import { Daemon, MAIN, waitFor } from "../testing/process.ts";

Deno.test({
  name: "an agent with only a join token finds the tracker by its announcement, and ignores an impostor's",
  ignore: lacks("netns"),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "fabric-discovery-" });
  const pair = await makeNamespacePair();
  const started: Daemon[] = [];
  let impostor: Deno.ChildProcess | null = null;
  try {
    // The impostor first: the agent hears it before the tracker, and must not follow it.
    const fake = `sha256:${"ab".repeat(32)}`;
    const broadcast = pair.addressA.replace(/\.1$/, ".255");
    const code = `import dgram from "node:dgram";
      const s = dgram.createSocket({ type: "udp4", reuseAddr: true });
      const m = JSON.stringify({ fabric: "tracker", caHash: "${fake}", trackers: ["https://${pair.addressA}:9"] });
      s.bind(0, () => { s.setBroadcast(true); setInterval(() => s.send(m, 7444, "${broadcast}"), 200); });`;
    impostor = new Deno.Command("ip", {
      args: [...pair.exec(pair.a).slice(1), Deno.execPath(), "eval", code],
      stdout: "null",
      stderr: "null",
    }).spawn();

    const trackerDir = join(root, "tracker");
    const tracker = new Daemon(
      "tracker",
      [
        "tracker",
        "--listen",
        `${pair.addressA}:7443`,
        "--advertise",
        pair.addressA,
        "--data-dir",
        trackerDir,
      ],
      undefined,
      pair.exec(pair.a),
    );
    started.push(tracker);
    await tracker.waitForOutput(/listening on https:/, 60_000);
    await tracker.waitForOutput(/announcing this tracker on UDP 7444 to /);
    const tokenFile = join(trackerDir, "join.token");
    const token = (await Deno.readTextFile(tokenFile)).trim();
    assert.match(joinTokenCaHash(token) ?? "", /^sha256:[0-9a-f]{64}$/, "a new join token names its CA");

    const agent = new Daemon(
      "agent",
      [
        "agent",
        "--token-file",
        tokenFile,
        "--name",
        "found",
        "--data-dir",
        join(root, "agent"),
      ],
      undefined,
      pair.exec(pair.b),
    );
    started.push(agent);
    await agent.waitForOutput(/joined/, 60_000);
    assert.match(
      agent.stderr + agent.stdout,
      /ignoring an announcement from [\d.]+: its CA \(sha256:(ab)+\) is not the one/,
    );
    assert.match(
      agent.stderr + agent.stdout,
      new RegExp(`found the tracker ${pair.addressA.replaceAll(".", "\\.")}:7443`),
    );

    // The tracker lists it (asked on the tracker's machine: its own namespace, no flags).
    await waitFor("the tracker to list the agent", async () => {
      const out = await new Deno.Command("ip", {
        args: [...pair.exec(pair.a).slice(1), Deno.execPath(), "run", "-A", "--quiet", MAIN, "agents", "--json"],
        env: { FABRIC_DATA_DIR: trackerDir },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      return out.code === 0 && (JSON.parse(text) as { name: string; state: string }[])
        .some((a) => a.name === "found" && a.state === "ready");
    }, { timeoutMs: 30_000 });
  } finally {
    impostor?.kill("SIGKILL");
    await impostor?.status;
    for (const daemon of started.reverse()) await daemon.stop("SIGTERM", 5000);
    await pair.remove();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "with two trackers on one PostgreSQL, each announcement names both",
  ignore: lacks("netns") || lacks("postgres"),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "fabric-discovery-" });
  await Deno.chmod(root, 0o711);
  const pair = await makeNamespacePair();
  const started: Daemon[] = [];
  let listener: Deno.ChildProcess | null = null;
  let postgres: PostgresServer | null = null;
  try {
    // PostgreSQL in the trackers' namespace, on its loopback: nothing leaves the namespaces.
    postgres = await PostgresServer.start({ netns: pair.a });
    const store = await postgres.createDatabase();
    const urls = [`https://${pair.addressA}:7443`, `https://${pair.addressA}:7445`];
    for (const [i, url] of urls.entries()) {
      const tracker = new Daemon(
        `tracker${i}`,
        ["tracker", "--listen", url.slice(8), "--advertise", pair.addressA, "--data-dir", join(root, `t${i}`)],
        { FABRIC_STORE: store },
        pair.exec(pair.a),
      );
      started.push(tracker);
      await tracker.waitForOutput(/listening on https:/, 60_000);
    }
    // What an agent on the other side hears: each announcement, one JSON line.
    const code = `import dgram from "node:dgram";
      const s = dgram.createSocket({ type: "udp4", reuseAddr: true });
      s.on("message", (m) => console.log(m.toString()));
      s.bind(7444);`;
    listener = new Deno.Command("ip", {
      args: [...pair.exec(pair.b).slice(1), Deno.execPath(), "eval", code],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = listener.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let heard = "";
    const both = (line: string) => {
      try {
        const message = JSON.parse(line) as { trackers?: string[] };
        return urls.every((url) => message.trackers?.includes(url));
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 60_000;
    while (!heard.split("\n").some(both)) {
      assert.ok(Date.now() < deadline, `no announcement named both trackers; heard:\n${heard.slice(-2000)}`);
      const { value, done } = await reader.read();
      if (done) break;
      heard += value;
    }
    const senders = new Set(
      heard.split("\n").filter(both).map((line) => (JSON.parse(line) as { trackers: string[] }).trackers[0]),
    );
    assert.ok(senders.size >= 1, "an announcement names every tracker, its sender's own URL first");
    reader.releaseLock();
  } finally {
    listener?.kill("SIGKILL");
    await listener?.status;
    await listener?.stdout.cancel().catch(() => {});
    for (const daemon of started.reverse()) await daemon.stop("SIGTERM", 5000);
    await postgres?.stop();
    await pair.remove();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
