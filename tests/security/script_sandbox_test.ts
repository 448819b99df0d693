/**
 * Script tasks run in the same bubblewrap sandbox as shell tasks, with Deno's flags as a second layer:
 * Deno does not hold `import` of local files to `--allow-read`, so only the sandbox keeps the agent's
 * data directory out of reach; and the Deno cache a script fills is its own, not the next job's.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { JobDetail } from "../../src/protocol/mod.ts";
import { Cluster } from "../../testing/cluster.ts";
import { lacks } from "../../testing/machine.ts";

Deno.test({
  name:
    "a script task is sandboxed: no import reaches the agent's data directory, and it cannot poison another job's Deno cache",
  ignore: lacks("bwrap"),
}, async (t) => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 8 }] });
  try {
    const agentDir = cluster.agentDir("a1");
    const credential = JSON.parse(await Deno.readTextFile(join(agentDir, "agent.json"))).credential as string;
    const moduleSecret = crypto.randomUUID();
    // A module of the agent's (any file of its data directory), for a script to try to import.
    await Deno.writeTextFile(join(agentDir, "module.ts"), `export const secret = "${moduleSecret}";\n`);
    const agentJson = join(agentDir, "agent.json");
    const agentModule = join(agentDir, "module.ts");

    await t.step("no import of the agent's files: static, dynamic, JSON or module", async () => {
      const job = await submitAndWait(
        cluster,
        `name: imports
tasks:
  - name: static-json
    code: |
      import identity from "${agentJson}" with { type: "json" };
      console.log(JSON.stringify(identity));
  - name: dynamic-json
    code: |
      const identity = await import("${agentJson}", { with: { type: "json" } });
      console.log(JSON.stringify(identity.default));
  - name: static-module
    code: |
      import { secret } from "${agentModule}";
      console.log(secret);
  - name: dynamic-module
    code: |
      const { secret } = await import("file://${agentModule}");
      console.log(secret);
  - name: read
    code: |
      console.log(await Deno.readTextFile("${agentJson}"));
  - name: own-files
    code: |
      await Deno.writeTextFile("out.txt", "mine");
      console.log(await Deno.readTextFile("out.txt"), Deno.env.get("FABRIC_TASK_NAME"));
`,
      );
      const seen: string[] = [];
      for (const task of job.tasks) {
        const log = await cluster.cli(["logs", task.id]);
        seen.push(log.stdout, log.stderr);
        if (task.name === "own-files") {
          assert.equal(task.state, "succeeded", log.stderr);
          assert.equal(log.stdout, "mine own-files\n");
        } else assert.equal(task.state, "failed", task.name);
      }
      const everything = seen.join("\n");
      assert.ok(!everything.includes(credential.slice(-16)), "the credential was shown");
      assert.ok(!everything.includes(moduleSecret), "the agent's module was imported");
    });

    await t.step("a job's script cannot change what another job's script imports", async () => {
      const marker = `POISONED-${crypto.randomUUID()}`;
      const url = "https://deno.land/std@0.224.0/fmt/colors.ts";
      // The cache entry Deno would have written for `url` (its content, then its metadata), written
      // into the DENO_DIR the script was given, by a shell it may start.
      const poisoner = await submitAndWait(
        cluster,
        `name: poisoner
tasks:
  - name: write-cache
    permissions: {run: [sh]}
    code: |
      const url = new URL("${url}");
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(url.pathname));
      const hash = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
      const dir = Deno.env.get("DENO_DIR") + "/remote/https/deno.land";
      const metadata = { headers: { "content-type": "application/typescript" }, url: url.href, time: 1 };
      const content = 'console.log("${marker}");\\nexport const red = (s: string) => s;\\n\\n// denoCacheMetadata=' +
        JSON.stringify(metadata);
      const sh = new Deno.Command("sh", {
        args: ["-c", 'mkdir -p "$0" && cat > "$0/$1"', dir, hash],
        stdin: "piped",
      }).spawn();
      const writer = sh.stdin.getWriter();
      await writer.write(new TextEncoder().encode(content));
      await writer.close();
      console.log("wrote", (await sh.status).success);
`,
      );
      const wrote = await cluster.cli(["logs", poisoner.tasks[0].id]);
      assert.equal(poisoner.tasks[0].state, "succeeded", wrote.stderr);
      assert.equal(wrote.stdout, "wrote true\n");

      const victim = await submitAndWait(
        cluster,
        `name: victim
tasks:
  - name: import
    code: |
      import { red } from "${url}";
      console.log(red("imported"));
`,
      );
      const log = await cluster.cli(["logs", victim.tasks[0].id]);
      assert.ok(!(log.stdout + log.stderr).includes(marker), `the other job's code ran:\n${log.stdout}`);
      // Without network the module cannot be fetched, and the victim's own cache does not hold it.
      assert.equal(victim.tasks[0].state, "failed");
      assert.match(log.stderr, /not found in cache/);
    });
  } finally {
    await cluster.stop();
  }
});

async function submitAndWait(cluster: Cluster, yaml: string): Promise<JobDetail> {
  const jobId = await cluster.submit(yaml, `${crypto.randomUUID()}.yaml`);
  return await cluster.waitForJob(jobId, { timeoutMs: 60_000 });
}
