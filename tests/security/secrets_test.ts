/**
 * Secrets against real tracker and agent processes: a task gets its secret in its environment, and
 * the value is nowhere else one could read it: not in `fabric status`, the API, the tracker's log, the
 * database file, any process's command line, the standby's file, the agent's journal or directories,
 * nor in the stored output (`***`, also when the task writes it in two pieces).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { childPids, findExecutable } from "../../src/exec/mod.ts";
import type { JobDetail } from "../../src/protocol/mod.ts";
import { Cluster } from "../../testing/cluster.ts";
import { lacks } from "../../testing/machine.ts";
import { MAIN, waitFor } from "../../testing/process.ts";
import { RawApi } from "../../testing/raw_api.ts";
import { standbyInbox } from "../../testing/standby.ts";

/** The files under `dir` (links not followed), each read whole. */
async function filesUnder(dir: string): Promise<Array<{ path: string; bytes: Uint8Array }>> {
  const out: Array<{ path: string; bytes: Uint8Array }> = [];
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop()!;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(current));
    } catch {
      continue; // gone meanwhile
    }
    for (const entry of entries) {
      const path = join(current, entry.name);
      if (entry.isDirectory) stack.push(path);
      else if (entry.isFile) out.push({ path, bytes: await Deno.readFile(path).catch(() => new Uint8Array()) });
    }
  }
  return out;
}

function holds(bytes: Uint8Array, value: string): boolean {
  return new TextDecoder("latin1").decode(bytes).includes(value);
}

/** A process's standby file, "" if it has none (yet) or is gone. */
function inboxOf(pid: number): string {
  try {
    return standbyInbox(pid);
  } catch {
    return "";
  }
}

/** Every process's command line on the machine that holds `value`: pid and line. */
async function commandLinesHolding(value: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const line = await Deno.readFile(`/proc/${entry.name}/cmdline`).catch(() => new Uint8Array());
    if (holds(line, value)) found.push(`${entry.name}: ${new TextDecoder().decode(line).replaceAll("\0", " ")}`);
  }
  return found;
}

Deno.test({
  name: "a task gets its secret; the value is in no status, API answer, log, database, command line or agent file",
  ignore: lacks("bwrap", "cgroup"),
  fn: async () => {
    const cluster = await Cluster.start({ agents: [{ name: "a", slots: 2, extraArgs: ["--allow-unsandboxed"] }] });
    const value = `s3cr3t-${crypto.randomUUID()}`;
    const api = await RawApi.of(cluster);
    try {
      const agent = cluster.agents.get("a")!;
      // The standby an idle agent starts for its next task: its file is the owner's alone.
      // (A child is its standby once it has exec'd: until then its command line is the agent's.)
      const standby = await waitFor(
        "the agent's standby",
        () => childPids(agent.pid).find((pid) => inboxOf(pid) !== ""),
      );
      const inbox = standbyInbox(standby);
      assert.match(inbox, /^\/dev\/shm\/fabric-standby-/);
      assert.equal(Deno.statSync(inbox).mode! & 0o777, 0o600);

      const set = await cluster.cli(["secret", "set", "DEPLOY_TOKEN"], { stdin: `${value}\n` });
      assert.equal(set.code, 0, set.stderr);
      assert.equal(set.stdout, "secret DEPLOY_TOKEN created (allowed: operator)\n");
      assert.equal(Deno.statSync(join(cluster.trackerDir, "secrets.key")).mode! & 0o777, 0o600);

      // Each task checks it has the value (by its hash), prints it whole and in two writes far apart,
      // and waits while the test looks around.
      const sha = createHash("sha256").update(value).digest("hex");
      const run = [
        `echo -n "$DEPLOY_TOKEN" | sha256sum | grep -q ${sha}`,
        `echo "token=$DEPLOY_TOKEN"`,
        `printf 'split=%s' "\${DEPLOY_TOKEN:0:9}"; sleep 0.3; printf '%s.\\n' "\${DEPLOY_TOKEN:9}"`,
        "echo ready",
        "sleep 4",
      ].join("\n");
      const jobId = await cluster.submit(
        `name: uses-secret\nsecrets: [DEPLOY_TOKEN]\ntasks:\n` +
          `  - {name: boxed, run: ${JSON.stringify(run)}}\n` +
          `  - {name: host, sandbox: false, run: ${JSON.stringify(run)}}\n`,
      );
      for (const task of ["0", "1"]) {
        await waitFor(`task ${task} to be ready`, async () => {
          const logs = await cluster.cli(["logs", `${jobId}.${task}`]);
          return logs.stdout.includes("ready");
        }, { timeoutMs: 30_000, intervalMs: 100 });
      }
      // While both run: one of them started in the standby (which execs the task: its arguments are the
      // task's now), and the standby's file went at once.
      const became = await Deno.readTextFile(`/proc/${standby}/cmdline`).catch(() => "(its task ended)");
      assert.ok(!became.includes(inbox), `the standby took a task: ${became.replaceAll("\0", " ")}`);
      assert.ok(!(await Deno.lstat(inbox).then(() => true, () => false)), `${inbox} is removed`);
      assert.deepEqual(await commandLinesHolding(value), []);
      for (const file of await filesUnder("/dev/shm")) assert.ok(!holds(file.bytes, value), file.path);
      for (const file of await filesUnder(cluster.agentDir("a"))) assert.ok(!holds(file.bytes, value), file.path);

      const job = await cluster.waitForJob(jobId);
      assert.deepEqual(job.tasks.map((t) => t.state), ["succeeded", "succeeded"], cluster.describe());
      for (const task of ["0", "1"]) {
        const logs = await cluster.cli(["logs", `${jobId}.${task}`]);
        assert.equal(logs.stdout, "token=***\nsplit=***.\nready\n");
      }

      const answers = [
        (await cluster.cli(["status", "--json"])).stdout,
        (await cluster.cli(["status", jobId, "--json"])).stdout,
        (await cluster.cli(["status", `${jobId}.0`, "--json"])).stdout,
        (await cluster.cli(["secret", "list", "--json"])).stdout,
        (await cluster.cli(["secret", "list"])).stdout,
        (await api.request("GET", `/v1/jobs/${jobId}`, cluster.adminToken)).text,
        (await api.request("GET", `/v1/tasks/${jobId}.1`, cluster.adminToken)).text,
        (await api.request("GET", `/v1/tasks/${jobId}.1/logs`, cluster.adminToken)).text,
        (await api.request("GET", "/v1/secrets", cluster.adminToken)).text,
      ];
      for (const answer of answers) assert.ok(!answer.includes(value) && answer.length > 10, answer);
      const [listed] = JSON.parse(answers[3]);
      assert.equal(listed.name, "DEPLOY_TOKEN");
      assert.deepEqual(listed.allow, ["role:operator"]);

      const tracker = cluster.tracker;
      assert.ok(!(tracker.stdout + tracker.stderr).includes(value), "the tracker's log");
      assert.match(tracker.stdout + tracker.stderr, /secret DEPLOY_TOKEN created/);
      for (const file of await filesUnder(cluster.trackerDir)) {
        assert.ok(!holds(file.bytes, value), `${file.path} holds the value`);
      }
      // The agent's journal keeps what it sent (its current segment): the output, masked.
      const agentFiles = await filesUnder(cluster.agentDir("a"));
      assert.ok(agentFiles.some((f) => f.path.includes("journal") && holds(f.bytes, "token=***")), "journal read");
      for (const file of agentFiles) assert.ok(!holds(file.bytes, value), file.path);
      assert.ok(!(agent.stdout + agent.stderr).includes(value), "the agent's log");
    } finally {
      api.close();
      await cluster.stop();
    }
  },
});

Deno.test({
  name: "a deleted secret: new submissions naming it are refused, naming the field; an unknown one too",
  ignore: lacks("bwrap"),
  fn: async () => {
    const cluster = await Cluster.start();
    try {
      const set = await cluster.cli(["secret", "set", "API_KEY", "--allow", "submit,token:ci"], { stdin: "k3y-value" });
      assert.equal(set.code, 0, set.stderr);
      const job = await cluster.writeFile(
        "job.yaml",
        "name: j\ntasks:\n  - {name: t, run: 'true', secrets: [API_KEY]}\n",
      );
      const before = await cluster.cli(["submit", job]);
      assert.equal(before.code, 0, before.stderr);
      const list = await cluster.cli(["secret", "list"]);
      assert.match(list.stdout, /^NAME\s+ALLOWED\s+CREATED\s+UPDATED\s+STATE\nAPI_KEY\s+submit,token:ci\s.*\sok$/m);

      const deleted = await cluster.cli(["secret", "delete", "API_KEY"]);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(deleted.stdout, "secret API_KEY deleted\n");
      const after = await cluster.cli(["submit", job]);
      assert.equal(after.code, 2);
      assert.equal(
        after.stderr,
        'fabric submit: The job is invalid: "tasks[0].secrets" names the secret "API_KEY", which does not exist ' +
          "(see fabric secret list)\n",
      );
      const again = await cluster.cli(["secret", "delete", "API_KEY"]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /No secret "API_KEY"/);
      assert.equal((await cluster.json<JobDetail[]>(["status"])).length, 1, "nothing more was submitted");
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test({
  name: "a token uses only the secrets whose rule names its role or its name; any other is refused and nothing stored",
  ignore: lacks("bwrap"),
  fn: async () => {
    const cluster = await Cluster.start({ agents: [{ name: "a" }] });
    const api = await RawApi.of(cluster);
    try {
      const prod = `prod-${crypto.randomUUID()}`;
      const ciValue = `ci-${crypto.randomUUID()}`;
      assert.equal((await cluster.cli(["secret", "set", "PROD_TOKEN"], { stdin: prod })).code, 0);
      assert.equal((await cluster.cli(["secret", "set", "CI_TOKEN", "--allow", "ci"], { stdin: ciValue })).code, 0);
      const token = async (role: string, name: string) => {
        const created = await cluster.cli(["token", "create", "--role", role, "--name", name]);
        assert.equal(created.code, 0, created.stderr);
        return { env: { FABRIC_TOKEN: created.stdout.trim() } };
      };
      const [dev, ci, ops] = [
        await token("submit", "dev"),
        await token("submit", "ci"),
        await token("operator", "ops"),
      ];
      // What a submit token would send to read a secret past the mask: its base64.
      const job = (secret: string) =>
        cluster.writeFile(
          `${secret}.yaml`,
          `name: exfiltrate\nsecrets: [${secret}]\ntasks:\n  - {name: t, run: 'printf %s "$${secret}" | base64'}\n`,
        );

      const refused = await cluster.cli(["submit", await job("PROD_TOKEN")], dev);
      assert.equal(refused.code, 6, refused.stderr);
      assert.equal(
        refused.stderr,
        'fabric submit: The job may not use the secret "PROD_TOKEN" ("secrets"): it is for jobs submitted with the ' +
          'operator role (or above); this one is submitted with the token "dev" (submit role)\n',
      );
      const notNamed = await cluster.cli(["submit", await job("CI_TOKEN")], dev);
      assert.equal(notNamed.code, 6, notNamed.stderr);
      assert.match(
        notNamed.stderr,
        /is for jobs submitted with the token "ci"; this one is submitted with the token "dev"/,
      );
      // The join token cannot submit at all (the route needs a client token), with or without secrets.
      const spec = { name: "j", secrets: ["PROD_TOKEN"], tasks: [{ name: "t", run: "true" }] };
      const byJoin = await api.request("POST", "/v1/jobs", cluster.joinToken, { spec });
      assert.equal(byJoin.status, 403, byJoin.text);
      assert.deepEqual(await cluster.json<unknown[]>(["status"]), [], "nothing was stored");
      assert.doesNotMatch(cluster.tracker.stdout + cluster.tracker.stderr, /submitted with/);

      // The token the rule names, and a role the rule allows, get their values (masked, as plain and as base64).
      const ran: Record<string, string> = {};
      for (const [secret, caller] of [["CI_TOKEN", ci], ["PROD_TOKEN", ops]] as const) {
        const submitted = await cluster.cli(["submit", await job(secret), "--wait", "--json"], caller);
        assert.equal(submitted.code, 0, submitted.stderr);
        const { id } = JSON.parse(submitted.stdout) as JobDetail;
        assert.equal((await cluster.cli(["logs", `${id}.0`])).stdout, "***\n", secret);
        ran[secret] = id;
      }

      // An operator may rerun any job, but a rerun is a submission by the operator: the secret the
      // rule gives the token "ci" alone is not the operator's to use.
      const rerun = await cluster.cli(["rerun", ran.CI_TOKEN], ops);
      assert.equal(rerun.code, 6, rerun.stderr);
      assert.match(
        rerun.stderr,
        /may not use the secret "CI_TOKEN" .* submitted with the token "ops" \(operator role\)/,
      );
      assert.equal((await cluster.json<unknown[]>(["status"])).length, 2, "nothing more was stored");
      const own = await cluster.cli(["rerun", ran.CI_TOKEN], ci);
      assert.equal(own.code, 0, own.stderr);
    } finally {
      api.close();
      await cluster.stop();
    }
  },
});

Deno.test("fabric secret set takes the value from standard input only, and says what is wrong with a bad one", async () => {
  const cluster = await Cluster.start();
  try {
    const onArgv = await cluster.cli(["secret", "set", "TOKEN", "the-value"], { stdin: "" });
    assert.equal(onArgv.code, 2);
    assert.match(onArgv.stderr, /takes one NAME \(the value comes from standard input\)/);
    const short = await cluster.cli(["secret", "set", "TOKEN"], { stdin: "abc\n" });
    assert.equal(short.code, 2);
    assert.match(short.stderr, /at least 4 characters/);
    const badName = await cluster.cli(["secret", "set", "no-dashes"], { stdin: "abcd" });
    assert.equal(badName.code, 2);
    const badAllow = await cluster.cli(["secret", "set", "TOKEN", "--allow", "role:root"], { stdin: "abcd" });
    assert.equal(badAllow.code, 2);
    assert.match(badAllow.stderr, /"allow\.0": must be a role \(read, submit, operator, admin\) or a token's name/);
    assert.equal((await cluster.json<unknown[]>(["secret", "list"])).length, 0, "nothing was set");
  } finally {
    await cluster.stop();
  }
});

/** util-linux's `script`: runs a command on a terminal of its own (a pty), as a person would type into it. */
const SCRIPT = findExecutable("script", "/usr/bin:/bin");

Deno.test({
  name: "a value typed at a terminal is not echoed, and is set",
  // Without `script` there is no terminal to type at in a test; the piped path is tested above.
  ignore: SCRIPT === null || lacks("bwrap"),
  fn: async () => {
    const cluster = await Cluster.start({ agents: [{ name: "a" }] });
    try {
      const value = `typed-${crypto.randomUUID()}`;
      const command = [Deno.execPath(), "run", "-A", "--quiet", MAIN, "secret", "set", "TYPED"].join(" ");
      const child = new Deno.Command(SCRIPT!, {
        args: ["-qfec", command, "/dev/null"],
        env: cluster.clientEnv,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let seen = "";
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const writer = child.stdin.getWriter();
      const read = (async () => {
        for (;;) {
          const { value: text, done } = await reader.read();
          if (done) return;
          seen += text;
        }
      })();
      await waitFor("the prompt", () => seen.includes("(not shown; Enter ends it): "), { timeoutMs: 30_000 });
      await writer.write(new TextEncoder().encode(`${value}\r`));
      const status = await child.status;
      await read;
      await writer.close().catch(() => {});
      assert.equal(status.code, 0, seen);
      assert.ok(!seen.includes(value), `the terminal showed the value: ${JSON.stringify(seen)}`);
      assert.match(seen, /secret TYPED created/);
      const job = await cluster.submit(
        "name: typed\nsecrets: [TYPED]\ntasks:\n  - {name: t, run: 'echo \"$TYPED\"'}\n",
      );
      await cluster.waitForJob(job);
      assert.equal((await cluster.cli(["logs", `${job}.0`])).stdout, "***\n");
    } finally {
      await cluster.stop();
    }
  },
});
