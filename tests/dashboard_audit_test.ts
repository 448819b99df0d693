/**
 * The dashboard's Audit and Trackers pages in a real browser (testing/browser.ts) against real
 * trackers: an admin sees the audit trail (a drain from the dashboard itself in it) and filters it,
 * anyone else gets a 403 page and no link; the Trackers page shows one tracker leading, and, on two
 * trackers sharing PostgreSQL, the leader and the follower, through either. A change asked for through
 * the follower is in the leader's trail, with the follower named in its address.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { AuditEntry } from "../src/protocol/mod.ts";
import { type Page, press, signIn, startBrowser, type TestBrowser, textOf } from "../testing/browser.ts";
import { Cluster } from "../testing/cluster.ts";
import { withHotCluster } from "../testing/hot_cluster.ts";
import { lacks } from "../testing/machine.ts";

const WAIT = { timeout: 30_000, polling: 100 };

/** Each row's cells, as text. */
async function rows(page: Page, selector: string): Promise<string[][]> {
  return await page.$$eval(
    `${selector} tbody tr`,
    (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => (td.textContent ?? "").trim())),
  );
}

async function navigation(page: Page): Promise<string[]> {
  return await page.$$eval("header nav a", (links) => links.map((a) => (a.textContent ?? "").trim()));
}

Deno.test({
  name: "the Audit page shows an admin who changed what, the dashboard's own drain too, with filters; others get 403",
  ignore: lacks("chromium"),
  fn: async (t) => {
    const cluster = await Cluster.start({ agents: [{ name: "worker" }] });
    let browser: TestBrowser | null = null;
    try {
      const certificate = await Deno.readTextFile(join(cluster.trackerDir, "tracker.pem"));
      browser = await startBrowser({ trust: [certificate] });
      const page = await browser.newPage();
      const url = cluster.url;
      const viewer = (await cluster.cli(["token", "create", "--role", "read", "--name", "viewer"])).stdout.trim();

      await t.step("an admin drains an agent from the dashboard, and finds it in the Audit page", async () => {
        await signIn(page, url, cluster.adminToken);
        assert.deepEqual(await navigation(page), ["Jobs", "Agents", "Periodic", "Trackers", "Audit"]);
        await page.goto(`${url}/agents`, { waitUntil: "domcontentloaded" });
        await press(page, "tr[data-agent=worker] button");
        await page.goto(`${url}/audit`, { waitUntil: "domcontentloaded" });
        const [drain, ...older] = await rows(page, "table.audit");
        assert.deepEqual(drain.slice(1, 7), [
          "admin admin",
          "agent.drain",
          "worker",
          "ok",
          drain[5],
          "from the dashboard",
        ]);
        assert.match(drain[5], /^(::ffff:)?127\.0\.0\.1$/);
        assert.deepEqual(older.map((row) => `${row[2]} ${row[3]}`), ["token.create viewer", "agent.register worker"]);
        assert.equal(older[1][1], "join token", "an agent's registration, by the join token");
      });

      await t.step("its filters narrow the list", async () => {
        await page.goto(`${url}/audit`, { waitUntil: "domcontentloaded" });
        await page.type("input[name=action]", "token.");
        await Promise.all([page.waitForNavigation(), page.click("form.filter button")]);
        assert.equal(new URL(page.url()).search, "?from=&actor=&action=token.");
        assert.deepEqual((await rows(page, "table.audit")).map((row) => row[2]), ["token.create"]);
        await page.goto(`${url}/audit?actor=nobody`, { waitUntil: "domcontentloaded" });
        assert.equal(await textOf(page, "p.empty"), "No entry matches.");
        const bad = await page.goto(`${url}/audit?from=soon`, { waitUntil: "domcontentloaded" });
        assert.equal(bad?.status(), 400);
        assert.match(await textOf(page, ".error"), /"from" takes a duration/);
      });

      await t.step("a read token sees no Audit link, and the page answers 403 saying why", async () => {
        await Promise.all([page.waitForNavigation(), page.click("form.sign-out button")]);
        await signIn(page, url, viewer);
        assert.deepEqual(await navigation(page), ["Jobs", "Agents", "Periodic", "Trackers"]);
        const refused = await page.goto(`${url}/audit`, { waitUntil: "domcontentloaded" });
        assert.equal(refused?.status(), 403);
        assert.equal(await textOf(page, "h1"), "Not allowed");
        assert.equal(
          await textOf(page, ".error"),
          'Reading the audit trail needs the admin role; this token ("viewer") has the read role',
        );
      });

      await t.step("the Trackers page shows the one tracker, leading", async () => {
        await page.goto(`${url}/trackers`, { waitUntil: "domcontentloaded" });
        const [only, ...none] = await rows(page, "table.trackers");
        assert.deepEqual(none, []);
        assert.match(only[0], /this one$/);
        assert.equal(only[1], url);
        assert.equal(only[2], "leader");
      });
      // The answers refused on purpose above (400, 403) are the only errors the pages had.
      assert.deepEqual(browser.errors.filter((e) => !/status of 40[03] /.test(e)), []);
    } finally {
      await browser?.close();
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "on two trackers the Trackers page shows the leader and the follower; changes through the follower are in the trail",
  ignore: lacks("chromium", "postgres"),
  fn: async () => {
    await withHotCluster({ trackers: 2 }, async (cluster) => {
      await cluster.leads(0);
      const certificates = await Promise.all(
        cluster.trackers.map((t) => Deno.readTextFile(join(t.dir, "tracker.pem"))),
      );
      assert.equal((await cluster.cli(0, ["token", "create", "--role", "read", "--name", "viewer"])).code, 0);
      // Through the follower: a change, in the leader's trail with the follower's address last. (A refusal
      // the follower answers itself is not: it writes nothing.)
      assert.equal((await cluster.cli(1, ["token", "create", "--role", "read", "--name", "via-1"])).code, 0);
      const entries = await cluster.json<AuditEntry[]>(0, ["audit"]);
      const seen = entries.map((e) => `${e.actor} ${e.action} ${e.target} ${e.outcome} ${e.address}`);
      assert.match(seen[0], /^admin token\.create via-1 ok \S+ via \S+$/, seen.join("\n"));
      assert.match(seen[1], /^admin token\.create viewer ok \S+$/, seen.join("\n"));

      const browser = await startBrowser({ trust: certificates });
      try {
        const page = await browser.newPage();
        // Signed in on the leader: the session's cookie is the host's, so the follower's pages (passed on
        // to the leader) have it too.
        await signIn(page, cluster.trackers[0].url, cluster.adminToken);
        for (const via of [1, 0]) {
          const url = cluster.trackers[via].url;
          await page.goto(`${url}/trackers`, { waitUntil: "domcontentloaded" });
          await page.waitForFunction(`document.querySelectorAll("table.trackers tbody tr").length === 2`, WAIT)
            .catch((error) => {
              throw new Error(`${error.message}: ${page.url()}\n${cluster.output(0)}\n${cluster.output(1)}`);
            });
          const listed = (await rows(page, "table.trackers")).map((row) => `${row[1]} ${row[2]}`).sort();
          assert.deepEqual(listed, [`${cluster.trackers[0].url} leader`, `${cluster.trackers[1].url} follower`].sort());
        }
        // Signing in through the follower: the form is the follower's page, posted to the leader through it.
        const viaFollower = await browser.newPage();
        await signIn(viaFollower, cluster.trackers[1].url, cluster.adminToken);
        const landed = new URL(viaFollower.url());
        assert.equal(`${landed.protocol}//${landed.host}${landed.pathname}`, `${cluster.trackers[1].url}/`);
        assert.doesNotMatch(await textOf(viaFollower, "body"), /posted from another site/);
        assert.deepEqual(browser.errors, []);
      } finally {
        await browser.close();
      }
    });
  },
});
