/**
 * The web dashboard in a real browser: Chromium (testing/browser.ts) against a real tracker and agents
 * over TLS on loopback. One cluster and one browser for the file; each step does one thing a user does.
 * The job page's screenshot for the README (docs/dashboard.png) is taken here, from a running job, when
 * FABRIC_SCREENSHOT=1.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Cluster } from "../testing/cluster.ts";
import { type Page, press, signIn, startBrowser, type TestBrowser, textOf } from "../testing/browser.ts";
import { lacks } from "../testing/machine.ts";
import { REPO } from "../testing/process.ts";

// Written only when asked (FABRIC_SCREENSHOT=1 deno test -A tests/dashboard_test.ts): a test run must not change
// the checkout.
const SCREENSHOT = Deno.env.get("FABRIC_SCREENSHOT") === "1" ? join(REPO, "docs", "dashboard.png") : null;
/** Text that is HTML if a page ever stops escaping it: it would set window.pwned. */
const HOSTILE_SCRIPT = "<script>window.pwned=1</script>";
const HOSTILE_IMG = "<img src=x onerror=window.pwned=1>";
const WAIT = { timeout: 30_000, polling: 100 };

/** The state the page's facts show (a job's or a task's). */
function factState(page: Page): Promise<string> {
  return textOf(page, "dl.facts .state");
}

/** Browser-side code is given as text: these files are type-checked without the DOM's types. */
async function waitForFactState(page: Page, pattern: RegExp): Promise<void> {
  const state = `document.querySelector("dl.facts .state")?.textContent ?? ""`;
  await page.waitForFunction(`new RegExp(${JSON.stringify(pattern.source)}).test(${state})`, WAIT);
}

/** Marks the page's window: still marked later means the page was never reloaded in between. */
async function mark(page: Page): Promise<void> {
  await page.evaluate("window.stayed = 1");
}

async function stayed(page: Page): Promise<boolean> {
  return await page.evaluate("window.stayed === 1") as boolean;
}

Deno.test({
  name: "the dashboard in Chromium: sign-in, live job and log, cancel, drain, hostile text, sign-out",
  ignore: lacks("chromium"),
  fn: async (t) => {
    const cluster = await Cluster.start({
      agents: [
        { name: "worker", slots: 4, extraArgs: ["--allow-unsandboxed"] },
        { name: "spare", slots: 1, extraArgs: ["--allow-unsandboxed"], labels: `note=${HOSTILE_IMG}` },
      ],
    });
    let browser: TestBrowser | null = null;
    try {
      const certificate = await Deno.readTextFile(join(cluster.trackerDir, "tracker.pem"));
      browser = await startBrowser({ trust: [certificate] });
      const page = await browser.newPage();
      const url = cluster.url;

      await t.step("a wrong token is refused, and so is the join token", async () => {
        const first = await page.goto(`${url}/agents`, { waitUntil: "domcontentloaded" });
        assert.equal(new URL(page.url()).pathname, "/sign-in", "a page needs signing in first");
        assert.equal(first?.status(), 200);
        await signIn(page, url, "fabric-admin-not-the-token");
        assert.match(await textOf(page, ".error"), /not accepted/);
        await signIn(page, url, cluster.joinToken);
        assert.match(
          await textOf(page, ".error"),
          /Viewing the dashboard needs the read role; the join token only registers agents/,
        );
        assert.deepEqual(await page.cookies(), [], "no session was opened");
      });

      await t.step("signing in keeps a session in an HttpOnly, Secure, SameSite=Strict cookie", async () => {
        await page.goto(`${url}/sign-in?next=/agents`, { waitUntil: "domcontentloaded" });
        await page.type("input[name=token]", cluster.adminToken);
        await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
        assert.equal(new URL(page.url()).pathname, "/agents", "back where it was going");
        const [cookie] = await page.cookies();
        assert.equal(cookie.name, "__Host-fabric_session");
        assert.ok(cookie.httpOnly && cookie.secure && cookie.sameSite === "Strict", JSON.stringify(cookie));
        assert.ok(!cookie.value.includes(cluster.adminToken), "the cookie holds a session id, not the token");
        assert.equal(await page.evaluate("document.cookie"), "", "no script can read it");
      });

      await t.step("a running job is followed to its end without a reload", async () => {
        const jobId = await cluster.submit(`
name: build-and-test
sandbox: false
tasks:
  - name: checkout
    run: sleep 0.3
  - name: build
    needs: [checkout]
    matrix: { os: [linux, macos, windows] }
    run: sleep 1.2; echo built
  - name: test
    needs: [build]
    count: 2
    run: sleep 1
  - name: package
    needs: [test]
    run: sleep 0.3
`);
        await page.goto(`${url}/jobs/${jobId}`, { waitUntil: "domcontentloaded" });
        assert.match(await factState(page), /queued|running/);
        await mark(page);
        // The README's picture: some tasks done, some running, the graph coloured as they stand.
        await page.waitForFunction(
          `document.querySelector(".node-succeeded") && document.querySelector("table.tasks .state-running")`,
          WAIT,
        );
        const picture = await page.screenshot(SCREENSHOT ? { path: SCREENSHOT } : {});
        assert.ok(picture.length > 1000, "the job page renders to a picture");
        await waitForFactState(page, /^succeeded$/);
        assert.ok(await stayed(page), "the page was never reloaded");
        assert.match(await textOf(page, "dl.facts"), /7 succeeded of 7/);
        assert.equal((await page.$$("table.tasks tbody tr")).length, 7);
      });

      await t.step("a task's output is followed live as it is written", async () => {
        const jobId = await cluster.submit(`
name: chatty
sandbox: false
tasks:
  - name: talk
    run: for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.3; done; echo "done talking" >&2
`);
        await page.goto(`${url}/tasks/${jobId}.0`, { waitUntil: "domcontentloaded" });
        const before = await textOf(page, "#log");
        await mark(page);
        await page.waitForFunction(`document.getElementById("log")?.dataset.ended === "succeeded"`, WAIT);
        const log = await textOf(page, "#log");
        assert.ok(!before.includes("line 6"), `the page opened before the task's end (it had: ${before})`);
        assert.match(log, /line 1\nline 2\nline 3\nline 4\nline 5\nline 6\ndone talking/);
        assert.equal(await textOf(page, "#log .stderr"), "done talking\n", "stderr is marked");
        assert.ok(await stayed(page));
        await waitForFactState(page, /^succeeded$/);
      });

      await t.step("cancel a job from its page", async () => {
        const jobId = await cluster.submit(`
name: long
sandbox: false
tasks:
  - name: wait
    count: 2
    run: sleep 60
`);
        await page.goto(`${url}/jobs/${jobId}`, { waitUntil: "domcontentloaded" });
        await waitForFactState(page, /^running$/);
        // Found and pressed in one step in the page: a live update may redraw the actions meanwhile.
        await press(page, "form[action$='/cancel'] button");
        await waitForFactState(page, /^cancelled$/);
        const job = await cluster.json<{ state: string }>(["status", jobId]);
        assert.equal(job.state, "cancelled");
      });

      await t.step("drain an agent, then resume it", async () => {
        await page.goto(`${url}/agents`, { waitUntil: "domcontentloaded" });
        const row = "tr[data-agent=spare]";
        assert.match(await textOf(page, `${row} .state`), /ready/);
        await press(page, `${row} form[action$='/drain'] button`);
        assert.match(await textOf(page, `${row} .state`), /draining/);
        await cluster.waitForAgents(["spare"], "draining", 5000);
        await press(page, `${row} form[action$='/resume'] button`);
        assert.match(await textOf(page, `${row} .state`), /ready/);
        await cluster.waitForAgents(["spare"], "ready", 5000);
      });

      await t.step("names, labels and output that hold HTML are shown as text", async () => {
        // A job's own name cannot hold '<' (its schema refuses it); matrix values, which make task
        // names, output, JSON output and agent labels can.
        const jobId = await cluster.submit(`
name: hostile
sandbox: false
tasks:
  - name: x
    matrix: { v: ["${HOSTILE_SCRIPT}"] }
    run: |
      echo '${HOSTILE_IMG}'
      echo '${HOSTILE_SCRIPT}' >&2
      printf '%s' '{"html": "</pre>${HOSTILE_SCRIPT}"}' > "$FABRIC_OUTPUT"
`);
        await cluster.waitForJob(jobId);
        for (const path of [`/jobs/${jobId}`, `/tasks/${jobId}.0`, "/agents", "/"]) {
          await page.goto(`${url}${path}`, { waitUntil: "load" });
          assert.equal(await page.evaluate(`"pwned" in window`), false, `${path} ran a script it was sent`);
          assert.equal(await page.$$eval("main script, main img", (found) => found.length), 0, path);
        }
        await page.goto(`${url}/tasks/${jobId}.0`, { waitUntil: "load" });
        assert.ok((await textOf(page, "h1")).includes(`x[v=${HOSTILE_SCRIPT}]`));
        assert.ok((await textOf(page, "#log")).includes(`${HOSTILE_IMG}\n${HOSTILE_SCRIPT}`));
        assert.ok((await textOf(page, "pre.json")).includes(`"</pre>${HOSTILE_SCRIPT}"`));
        await page.goto(`${url}/agents`, { waitUntil: "load" });
        assert.ok((await textOf(page, "tr[data-agent=spare]")).includes(`note=${HOSTILE_IMG}`));
      });

      await t.step("signing out ends the session on the tracker, not just in the browser", async () => {
        const [cookie] = await page.cookies();
        await Promise.all([page.waitForNavigation(), page.click("form[action='/sign-out'] button")]);
        assert.equal(new URL(page.url()).pathname, "/sign-in");
        assert.deepEqual(await page.cookies(), []);
        await page.setCookie(cookie); // the old session id, replayed
        await page.goto(`${url}/`, { waitUntil: "domcontentloaded" });
        assert.equal(new URL(page.url()).pathname, "/sign-in");
      });

      const violations = browser.errors.filter((e) => /Content Security Policy/i.test(e));
      assert.deepEqual(violations, [], "the pages keep to their own Content-Security-Policy");
    } catch (error) {
      console.error(cluster.describe());
      throw error;
    } finally {
      await browser?.close();
      await cluster.stop();
    }
  },
});
