/**
 * A task's artifacts on the dashboard, in Chromium (testing/browser.ts) against a real tracker and agent:
 * the task page lists them (path, size, short hash), its links download through a read token's session
 * the same bytes the task made (compared by hash, across chunks), and a name written to break the page or
 * the header (quotes, `;`, markup, non-ASCII) does neither. The job page counts what its tasks kept.
 * Who may: a session of any client role (read is the least); no session, no file; the join token, 403.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ArtifactRef, JobDetail } from "../src/protocol/mod.ts";
import { signIn, startBrowser, type TestBrowser, textOf } from "../testing/browser.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";
import { waitFor } from "../testing/process.ts";

/** A file's name that is markup, breaks a quoted header value and is not ASCII. */
const ODD = `we"ird; x=1 <img src=x onerror=window.pwned=1> é.bin`;

Deno.test({
  name: "the task page lists its artifacts and its links download the same bytes through a read token's session",
  ignore: lacks("chromium") || lacks("bwrap"),
  fn: async (t) => {
    const cluster = await Cluster.start({ agents: [{ name: "builder" }] });
    let browser: TestBrowser | null = null;
    const downloads = await Deno.makeTempDir({ prefix: "fabric-downloads-" });
    try {
      // 5 MiB and some: more than one chunk (4 MiB) of the store.
      const yaml = `name: art
tasks:
  - name: build
    run: |
      mkdir -p dist
      head -c 5300000 /dev/urandom > dist/big.bin
      echo odd > 'dist/${ODD}'
    artifacts: [dist/]
`;
      const file = await cluster.writeFile("job.yaml", yaml);
      const result = await cluster.cli(["submit", file, "--wait", "--json"], { timeoutMs: 60_000 });
      assert.equal(result.code, 0, result.stderr);
      const job = JSON.parse(result.stdout) as JobDetail;
      const task = job.tasks[0].id;
      const listed = await cluster.json<ArtifactRef[]>(["artifacts", task]);
      assert.deepEqual(listed.map((a) => a.path), ["dist/big.bin", `dist/${ODD}`]);
      const [big, odd] = listed;
      const reader = (await cluster.cli(["token", "create", "--role", "read", "--name", "reader"])).stdout.trim();

      const certificate = await Deno.readTextFile(join(cluster.trackerDir, "tracker.pem"));
      browser = await startBrowser({ trust: [certificate] });
      const page = await browser.newPage();
      const url = cluster.url;
      await signIn(page, url, reader);

      await t.step("the job page counts the artifacts its tasks kept", async () => {
        await page.goto(`${url}/jobs/${job.id}`, { waitUntil: "domcontentloaded" });
        assert.match(await textOf(page, "#job-artifacts"), /^2 kept by its tasks \(5\.1 MiB\)/);
      });

      await t.step("the task page lists each with its size and short hash, the odd name as text", async () => {
        await page.goto(`${url}/tasks/${task}`, { waitUntil: "domcontentloaded" });
        const rows = await page.$$eval(
          "table.artifacts tbody tr",
          (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => (td.textContent ?? "").trim())),
        );
        assert.deepEqual(rows, [
          ["dist/big.bin", "5.1 MiB", big.sha256.slice(0, 12)],
          [`dist/${ODD}`, "4 B", odd.sha256.slice(0, 12)],
        ]);
        assert.equal(await page.evaluate("window.pwned"), undefined, "the name stayed text");
        assert.deepEqual(browser!.errors, []);
      });

      await t.step("each link downloads the same bytes, under a safe name", async () => {
        const cdp = await page.createCDPSession();
        await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads });
        for (const row of [1, 2]) await page.click(`table.artifacts tbody tr:nth-child(${row}) a`);
        // Both files whole (Chromium names a file from the header's filename*, with its own rules for
        // characters a file system may not like: found here by size).
        const files = await waitFor("both downloads", async () => {
          const present: string[] = [];
          for await (const entry of Deno.readDir(downloads)) present.push(entry.name);
          if (present.length !== 2 || present.some((name) => name.endsWith(".crdownload"))) return undefined;
          const sized = await Promise.all(
            present.map(async (name) => [name, (await Deno.stat(join(downloads, name))).size] as const),
          );
          const of = (size: number) => sized.find(([, s]) => s === size)?.[0];
          const names = [of(big.size), of(odd.size)];
          return names.every((name) => name !== undefined) ? names as string[] : undefined;
        }, { timeoutMs: 30_000 });
        assert.equal(files[0], "big.bin");
        for (const [i, artifact] of [big, odd].entries()) {
          const bytes = await Deno.readFile(join(downloads, files[i]));
          assert.equal(createHash("sha256").update(bytes).digest("hex"), artifact.sha256, artifact.path);
        }
        await cdp.detach();
      });

      await t.step("the header: attachment, a safe ASCII name and the UTF-8 one; no session, no file", async () => {
        const http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(join(cluster.trackerDir, "ca.pem"))] });
        try {
          const link = `${url}/tasks/${task}/artifact?path=${encodeURIComponent(odd.path)}`;
          const get = (headers: Record<string, string>) => fetch(link, { headers, client: http, redirect: "manual" });
          const answer = await get({ authorization: `Bearer ${reader}` });
          assert.equal(answer.status, 200);
          assert.equal(
            answer.headers.get("content-disposition"),
            `attachment; filename="we_ird__x_1__img_src_x_onerror_window.pwned_1___.bin"; filename*=UTF-8''${
              encodeURIComponent(ODD)
            }`,
          );
          assert.equal(answer.headers.get("content-type"), "application/octet-stream");
          assert.equal(await answer.text(), "odd\n");
          const anonymous = await get({});
          await anonymous.body?.cancel();
          assert.equal(anonymous.status, 303, "a browser not signed in is sent to sign in");
          assert.match(anonymous.headers.get("location") ?? "", /^\/sign-in\?/);
          const join = await get({ authorization: `Bearer ${cluster.joinToken}` });
          assert.equal(join.status, 403);
          assert.match(await join.text(), /Downloading an artifact needs the read role/);
          const none = await fetch(`${url}/tasks/${task}/artifact?path=dist/nothing`, {
            headers: { authorization: `Bearer ${reader}` },
            client: http,
          });
          assert.equal(none.status, 404);
          await none.body?.cancel();
        } finally {
          http.close();
        }
      });
    } finally {
      await browser?.close();
      await cluster.stop();
      await Deno.remove(downloads, { recursive: true });
    }
  },
});
