/**
 * The dashboard's HTTP side without a browser (Hono's app.request on the tracker's real routes, a real
 * SQLite store): who gets in, what a form must carry, what every answer is sent with, and that a job
 * of 100,000 tasks is served a page at a time. The browser's side is tests/dashboard_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { registerAgentRequestSchema } from "../../protocol/mod.ts";
import { SqliteStore } from "../../store/mod.ts";
import { bodyLimit } from "../http/body_limits.ts";
import { createRoutes } from "../routes.ts";
import { Tracker } from "../tracker.ts";

const ORIGIN = "https://tracker.test:7443";

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "fabric-dashboard-test-" });
  const tracker = await Tracker.open({ store: SqliteStore.open(join(dir, "fabric.db")) });
  await tracker.setTokens({ admin: "admin-secret", join: "join-secret" });
  const app = createRoutes(tracker, { caPem: "PEM" });
  const request = (path: string, init: RequestInit = {}) => app.request(`${ORIGIN}${path}`, init);
  const cleanup = async () => {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { tracker, request, cleanup };
}

function form(fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields).toString(),
  };
}

/** Signs in through the form; the session cookie and the CSRF token of its pages. */
async function signIn(request: Awaited<ReturnType<typeof setup>>["request"], token = "admin-secret") {
  const answer = await request("/sign-in", form({ token, next: "/agents" }, { origin: ORIGIN }));
  assert.equal(answer.status, 303);
  assert.equal(answer.headers.get("location"), "/agents");
  const setCookie = answer.headers.get("set-cookie") ?? "";
  const cookie = setCookie.split(";")[0];
  const page = await (await request("/", { headers: { cookie } })).text();
  const csrf = page.match(/name="csrf" value="([^"]+)"/)?.[1];
  assert.ok(csrf, "a signed-in page carries the session's CSRF token");
  return { cookie, setCookie, csrf };
}

Deno.test("a browser signs in with the form and gets a session cookie, never the token", async () => {
  const { request, cleanup } = await setup();
  try {
    const away = await request("/jobs/x?state=failed");
    assert.equal(away.status, 303);
    assert.equal(away.headers.get("location"), "/sign-in?next=%2Fjobs%2Fx%3Fstate%3Dfailed");
    const { setCookie } = await signIn(request);
    assert.match(
      setCookie,
      /^__Host-fabric_session=fabric-session-[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
    );
    assert.ok(!setCookie.includes("admin-secret"));

    const wrong = await request("/sign-in", form({ token: "admin-secreT", next: "/" }));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get("set-cookie"), null);
    assert.match(await wrong.text(), /The token was not accepted by this tracker/);
    const join = await request("/sign-in", form({ token: "join-secret", next: "/" }));
    assert.equal(join.status, 403);
    assert.equal(join.headers.get("set-cookie"), null);
    assert.match(await join.text(), /Viewing the dashboard needs the read role; the join token only registers agents/);

    // Sign-in from another site's page (login CSRF) is refused; so is a `next` that leaves this site.
    const forged = await request(
      "/sign-in",
      form({ token: "admin-secret", next: "/" }, { origin: "https://evil.test" }),
    );
    assert.equal(forged.status, 403);
    assert.equal(forged.headers.get("set-cookie"), null);
    for (const next of ["//evil.test/", "https://evil.test/", "/\\evil.test", "javascript:alert(1)"]) {
      const away = await request("/sign-in", form({ token: "admin-secret", next }));
      assert.equal(away.headers.get("location"), "/", next);
    }
  } finally {
    await cleanup();
  }
});

Deno.test("pages take a bearer token too; a wrong one is a 401, and the script's asks are never redirected", async () => {
  const { request, cleanup } = await setup();
  try {
    const page = await request("/agents", { headers: { authorization: "Bearer admin-secret" } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<h1>Agents<\/h1>/);
    assert.equal((await request("/agents", { headers: { authorization: "Bearer nope" } })).status, 401);
    assert.equal((await request("/agents", { headers: { authorization: "Bearer join-secret" } })).status, 403);
    assert.equal((await request("/agents?fragment=1")).status, 401);
    assert.equal((await request("/tasks/x/log")).status, 401);
  } finally {
    await cleanup();
  }
});

Deno.test("a session ends when its token stops being accepted, and at sign-out", async () => {
  const { tracker, request, cleanup } = await setup();
  try {
    const reader = await tracker.createToken({ name: "reader", role: "read" });
    const first = await signIn(request, reader.token);
    assert.equal((await request("/", { headers: { cookie: first.cookie } })).status, 200);
    // The token revoked: the session dies with it.
    await tracker.revokeToken("reader");
    const after = await request("/", { headers: { cookie: first.cookie } });
    assert.equal(after.status, 303);
    assert.match(after.headers.get("location")!, /^\/sign-in/);

    // A long poll that began signed in answers 401 if the token went while it waited.
    const watcher = await tracker.createToken({ name: "watcher", role: "read" });
    const again = await signIn(request, watcher.token);
    const { jobId, version } = await tracker.submitJob({ name: "j", tasks: [{ name: "t", run: "x" }] });
    const polling = request(`/jobs/${jobId}?fragment=1&since=${version}`, { headers: { cookie: again.cookie } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await tracker.revokeToken("watcher");
    await tracker.cancelJob(jobId);
    assert.equal((await polling).status, 401);

    const second = await signIn(request);
    const out = await request("/sign-out", form({ csrf: second.csrf }, { cookie: second.cookie, origin: ORIGIN }));
    assert.equal(out.status, 303);
    assert.match(out.headers.get("set-cookie")!, /__Host-fabric_session=; Max-Age=0/);
    assert.equal((await request("/", { headers: { cookie: second.cookie } })).status, 303);
  } finally {
    await cleanup();
  }
});

Deno.test("a form that changes something needs its session's CSRF token and this site's origin", async () => {
  const { tracker, request, cleanup } = await setup();
  try {
    const { jobId } = await tracker.submitJob({ name: "j", tasks: [{ name: "t", run: "x" }] });
    const { cookie, csrf } = await signIn(request);
    const cancel = (fields: Record<string, string>, headers: Record<string, string>) =>
      request(`/jobs/${jobId}/cancel`, form(fields, { cookie, ...headers }));
    const state = async () => (await tracker.store.getJob(jobId))?.state;

    const noToken = await cancel({}, { origin: ORIGIN });
    assert.equal(noToken.status, 403);
    assert.match(await noToken.text(), /CSRF token is missing or stale/);
    assert.equal((await cancel({ csrf: "fabric-csrf-guess" }, { origin: ORIGIN })).status, 403);
    const otherSite = await cancel({ csrf }, { origin: "https://evil.test" });
    assert.equal(otherSite.status, 403);
    assert.match(await otherSite.text(), /posted from another site \(&quot;https:\/\/evil.test&quot;\)/);
    assert.equal(await state(), "queued", "nothing was cancelled");
    // A GET never changes anything.
    assert.equal((await request(`/jobs/${jobId}/cancel`, { headers: { cookie } })).status, 404);

    const done = await cancel({ csrf }, { origin: ORIGIN });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get("location"), `/jobs/${jobId}`);
    assert.equal(await state(), "cancelled");

    // A script's bearer token is no browser's ambient credential: no CSRF token needed.
    const { jobId: other } = await tracker.submitJob({ name: "k", tasks: [{ name: "t", run: "x" }] });
    const bearer = await request(`/jobs/${other}/cancel`, {
      method: "POST",
      headers: { authorization: "Bearer admin-secret" },
    });
    assert.equal(bearer.status, 303);
    // A form is small, and refused from its headers when it says it is not.
    assert.equal(bodyLimit("POST", "/sign-in"), 16 * 1024);
    assert.equal(bodyLimit("POST", "/v1/jobs"), 32 * 1024 * 1024);
  } finally {
    await cleanup();
  }
});

Deno.test("what a token may do from the dashboard is what its role may do through the API", async () => {
  const { tracker, request, cleanup } = await setup();
  try {
    const ci = await tracker.createToken({ name: "ci", role: "submit" });
    const own = await tracker.submitJob({ name: "own", tasks: [{ name: "t", run: "x" }] }, {
      submitter: { name: "ci", role: "submit" },
    });
    const others = await tracker.submitJob({ name: "others", tasks: [{ name: "t", run: "x" }] });
    await tracker.registerAgent(
      registerAgentRequestSchema.parse({ name: "a1", slots: 1, version: "1", os: "linux", arch: "x" }),
    );
    const { cookie, csrf } = await signIn(request, ci.token);
    const page = async (path: string) => await (await request(path, { headers: { cookie } })).text();
    assert.match(await page(`/jobs/${own.jobId}`), /Cancel job/, "its own job");
    assert.doesNotMatch(await page(`/jobs/${others.jobId}`), /Cancel job/, "another token's job");
    assert.doesNotMatch(await page("/agents"), /Drain/);

    const post = (path: string) => request(path, form({ csrf }, { cookie, origin: ORIGIN }));
    const refused = await post(`/jobs/${others.jobId}/cancel`);
    assert.equal(refused.status, 403);
    assert.match(
      await refused.text(),
      /Cancelling another token&#39;s job needs the operator role; this token \(&quot;ci&quot;\) has the submit role/,
    );
    assert.equal((await post("/agents/a1/drain")).status, 403);
    assert.equal((await tracker.store.getJob(others.jobId))?.state, "queued", "nothing was cancelled");
    assert.equal((await post(`/jobs/${own.jobId}/cancel`)).status, 303);
    assert.equal((await tracker.store.getJob(own.jobId))?.state, "cancelled");
  } finally {
    await cleanup();
  }
});

Deno.test("every answer carries the CSP and friends, and what jobs and agents wrote is escaped", async () => {
  const { tracker, request, cleanup } = await setup();
  try {
    const hostile = "<script>alert(1)</script>";
    const { jobId } = await tracker.submitJob({
      name: "j",
      tasks: [{ name: "t", run: "x", matrix: { v: [hostile, `"'><img src=x onerror=alert(1)>`] } }],
    });
    const bearer = { headers: { authorization: "Bearer admin-secret" } };
    const pages = [`/jobs/${jobId}`, `/tasks/${jobId}.0`, `/tasks/${jobId}.1`, "/", "/?name=%3Cscript%3E"];
    for (const path of [...pages, "/agents", "/sign-in", "/assets/live.js", "/jobs/nope"]) {
      const answer = await request(path, bearer);
      const csp = answer.headers.get("content-security-policy") ?? "";
      assert.match(csp, /^default-src 'self';/, path);
      assert.doesNotMatch(csp, /unsafe/, path);
      assert.equal(answer.headers.get("x-content-type-options"), "nosniff", path);
      assert.equal(answer.headers.get("x-frame-options"), "DENY", path);
      const text = await answer.text();
      if (!pages.includes(path)) continue;
      assert.equal(answer.status, 200, path);
      assert.ok(!text.includes("<script>alert") && !text.includes("<img"), `${path} holds raw HTML from a job`);
      assert.equal(text.match(/<script/g)?.length, 1, `${path}: the one script is the page's own file`);
      assert.match(text, /<script src="\/assets\/live.js" defer><\/script>/);
    }
    assert.match(
      await (await request(`/tasks/${jobId}.0`, bearer)).text(),
      /t\[v=&lt;script&gt;alert\(1\)&lt;\/script&gt;\]/,
    );
    const missing = await request("/jobs/nope", bearer);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /No job &quot;nope&quot;/);
    const bad = await request("/?state=%3Cb%3E", bearer);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /&quot;state&quot; must be one of queued, running/);
  } finally {
    await cleanup();
  }
});

Deno.test("a job's live region answers when the job changes, and 204 when it has not", async () => {
  const { tracker, request, cleanup } = await setup();
  try {
    const { jobId, version } = await tracker.submitJob({ name: "j", tasks: [{ name: "t", run: "x" }] });
    const bearer = { headers: { authorization: "Bearer admin-secret" } };
    const page = await (await request(`/jobs/${jobId}`, bearer)).text();
    assert.match(page, new RegExp(`data-live="/jobs/${jobId}\\?fragment=1" data-since="${version}"`));
    const started = Date.now();
    const waiting = request(`/jobs/${jobId}?fragment=1&since=${version}`, bearer);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await tracker.cancelJob(jobId);
    const answer = await waiting;
    assert.equal(answer.status, 200);
    const region = await answer.text();
    assert.match(region, /^<div id="live"/, "the region alone, not the page");
    assert.match(region, /data-ended="1"/);
    assert.match(region, /state-cancelled/);
    assert.ok(Date.now() - started < 5000, "answered on the change, not at the wait's end");
    const since = region.match(/data-since="(\d+)"/)![1];
    assert.equal((await request(`/jobs/${jobId}?fragment=1&since=${since}`, bearer)).status, 204);
    // A list's version is its content's hash.
    const list = await (await request("/?fragment=1", bearer)).text();
    const hash = list.match(/data-since="([\w-]+)"/)![1];
    assert.equal((await request(`/?fragment=1&since=${hash}`, bearer)).status, 204);
  } finally {
    await cleanup();
  }
});

Deno.test("a job of 100,000 tasks is served a page at a time, running and ended", async () => {
  const { tracker, request, cleanup } = await setup();
  try {
    const { jobId } = await tracker.submitJob({ name: "big", tasks: [{ name: "t", run: "x", count: 100_000 }] });
    const bearer = { headers: { authorization: "Bearer admin-secret" } };
    const timed = async (path: string) => {
      const started = performance.now();
      const answer = await request(path, bearer);
      const text = await answer.text();
      assert.equal(answer.status, 200, path);
      return { text, ms: performance.now() - started };
    };
    const rows = (text: string) => text.match(/<tr><td><a href="\/tasks\//g)?.length ?? 0;
    const running = await timed(`/jobs/${jobId}`);
    assert.equal(rows(running.text), 50);
    assert.match(running.text, /href="\/jobs\/\w+\?page=2" rel="next"/);
    const last = await timed(`/jobs/${jobId}?page=2000`);
    assert.equal(rows(last.text), 50);
    assert.match(last.text, /t\[99999\]/);
    assert.doesNotMatch(last.text, /rel="next"/);

    await tracker.cancelJob(jobId);
    const ended = await timed(`/jobs/${jobId}?state=cancelled&page=1000`);
    assert.equal(rows(ended.text), 50);
    assert.match(ended.text, /t\[49950\]/);
    const list = await timed("/?state=cancelled&name=bi");
    assert.match(list.text, />big<\/a>/);
    assert.doesNotMatch((await timed("/?name=b_g")).text, />big<\/a>/, "'_' is itself, not a wildcard");
    for (const [what, ms] of [["running", running.ms], ["last page", last.ms], ["ended", ended.ms]] as const) {
      // Measured ~10 ms; the bound leaves room for a loaded machine, and fails a page that reads every task.
      assert.ok(ms < 1500, `the ${what} job's page took ${ms.toFixed(0)} ms`);
    }
  } finally {
    await cleanup();
  }
});

Deno.test("the Periodic page lists each periodic job with its schedule, last run and its state, for a signed-in caller", async () => {
  const { tracker, request, cleanup } = await setup();
  try {
    const { cookie } = await signIn(request);
    const empty = await (await request("/periodic", { headers: { cookie } })).text();
    assert.match(empty, /No periodic job yet/);
    await tracker.registerPeriodic({
      name: "nightly",
      schedule: "0 3 * * *",
      timezone: "Europe/Paris",
      tasks: [{ name: "t", run: "true", constraints: [{ label: "nowhere", exists: true }] }],
    });
    const run = await tracker.periodic.run("nightly");
    const skipped = await tracker.periodic.run("nightly");
    assert.match(skipped.skipped!, /had not ended/);
    const page = await request("/periodic", { headers: { cookie } });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<a href="\/periodic">Periodic<\/a>/);
    assert.match(html, /<tr data-periodic="nightly">/);
    assert.match(html, /<code>0 3 \* \* \*<\/code> Europe\/Paris, overlap skip/);
    assert.match(html, new RegExp(`<a href="/jobs/${run.launched!.jobId}">nightly@`));
    assert.match(html, /queued/);
    const signedOut = await request("/periodic");
    assert.equal(signedOut.status, 303);
  } finally {
    await cleanup();
  }
});

Deno.test("the agents page shows each agent's add-ons", async () => {
  const { tracker, request, cleanup } = await setup();
  try {
    await tracker.registerAgent(registerAgentRequestSchema.parse({
      name: "a1",
      slots: 1,
      version: "test",
      os: "linux",
      arch: "x86_64",
      capabilities: {
        sandbox: true,
        unsandboxed: false,
        cgroup: null,
        deno: true,
        git: false,
        addons: [{ name: "http-check", version: "1.0.0", parameters: { type: "object" } }],
      },
    }));
    const page = await request("/agents", { headers: { authorization: "Bearer admin-secret" } });
    assert.match(await page.text(), /<span class="cap">add-on http-check@1\.0\.0<\/span>/);
  } finally {
    await cleanup();
  }
});
