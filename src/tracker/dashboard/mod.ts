/**
 * The web dashboard, served by the tracker on its own port and certificate: jobs, a job, a task and
 * agents, rendered on the server with Hono's JSX, kept current by one small script of ours
 * (assets/live.js); no build step, nothing from elsewhere. A browser signs in with a token (a
 * session cookie, see caller.ts and sessions.ts); a script sends `Authorization: Bearer TOKEN`.
 * Every page is sent with a Content-Security-Policy that allows only this origin's files: no inline
 * script, no inline style, and everything a job or an agent wrote is escaped by the JSX renderer.
 */
import { type Context, Hono } from "hono";
import { FabricError, type LogLine, type TrackersResponse } from "../../protocol/mod.ts";
import { authenticate } from "../http/authenticate.ts";
import { PEER_HEADER } from "../http/client_address.ts";
import { errorResponse } from "../http/error_response.ts";
import { ndjsonResponse } from "../http/ndjson.ts";
import { getJobSummary, readLogs } from "../queries.ts";
import { submitterOf } from "../secret_policy.ts";
import type { Tracker } from "../tracker.ts";
import { agentsPage, DRAIN_GRACE_MS } from "./agents_page.tsx";
import { artifactDownload } from "./artifact_download.ts";
import { auditPage } from "./audit_page.tsx";
import { trackersPage } from "./trackers_page.tsx";
import { serveAsset } from "./assets.ts";
import {
  type Caller,
  checkForm,
  checkOrigin,
  clearSessionCookie,
  findCaller,
  sessionIdOf,
  setSessionCookie,
} from "./caller.ts";
import type { PageContext } from "./context.ts";
import { errorPage } from "./error_page.tsx";
import { jobPage } from "./job_page.tsx";
import { jobsPage } from "./jobs_page.tsx";
import { wantsFragment } from "./live.tsx";
import { href, wholeNumber } from "./params.ts";
import { periodicPage } from "./periodic_page.tsx";
import { type DashboardAction, describePrincipal, mustBeAllowed } from "./permissions.ts";
import { Sessions } from "./sessions.ts";
import { safeNext, signInPage } from "./sign_in_page.tsx";
import { taskPage } from "./task_page.tsx";
import { WaitingNotes } from "./waiting_notes.ts";

export { type DashboardAction, may } from "./permissions.ts";

export interface DashboardOptions {
  log: (line: string) => void;
  /** The trackers sharing the store (routes.ts's list); none for a Tracker served alone, as in tests. */
  trackers?: () => Promise<TrackersResponse>;
}

/** Sent with every answer of the dashboard. */
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  // Not no-referrer: with it, a browser sends `Origin: null` on a form's POST, and checkOrigin needs the origin.
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

type Page = (c: Context, context: PageContext) => Promise<Response>;

/** The dashboard's routes, to mount at `/` beside the API (which keeps `/v1/`). */
export function createDashboard(tracker: Tracker, options: DashboardOptions): Hono {
  const app = new Hono();
  const sessions = new Sessions(() => tracker.clock.now());
  const waiting = new WaitingNotes(tracker);

  // Only this app's routes: Hono runs a mounted app's error handler for its own routes alone.
  app.onError(async (error, c) => {
    const answer = errorResponse(error, `${c.req.method} ${c.req.path}`, options.log);
    let caller: Caller | null = null;
    try {
      caller = findCaller(c, { tracker, sessions });
    } catch { /* the error may be about the caller itself */ }
    if (answer.status === 401 && !c.req.header("authorization")) clearSessionCookie(c);
    return secured(await errorPage(c, { answer, caller }));
  });

  /** A page for a signed-in caller allowed `action`; a browser not signed in is sent to sign in first. */
  const page = (action: DashboardAction, handler: Page) => async (c: Context) => {
    const caller = findCaller(c, { tracker, sessions });
    if (!caller) {
      // The script's asks (fragment=1, a log) are told 401, and say so on the page; a page load signs in.
      if (c.req.method === "GET" && !wantsFragment(c) && !c.req.path.endsWith("/log")) {
        const next = new URL(c.req.url);
        return secured(c.redirect(href("/sign-in", { next: next.pathname + next.search }), 303));
      }
      throw new FabricError("unauthorized", "Not signed in (or the session ended): sign in again");
    }
    mustBeAllowed(caller.principal, action);
    const answer = await handler(c, { tracker, caller, waiting });
    // A live region's long poll: its caller may have signed out (or lost its token) while it waited.
    if (wantsFragment(c) && !caller.stillAccepted()) {
      throw new FabricError("unauthorized", "Not signed in (or the session ended): sign in again");
    }
    return secured(answer);
  };

  /**
   * A form's action: from this dashboard's own page (caller.ts), then back to where `act` says. Recorded
   * in the audit trail as the API's route that does the same (`audited`), refused or not, by the caller
   * signed in (a browser not signed in is only sent to sign in).
   */
  const action = (
    name: DashboardAction,
    audited: string,
    act: (c: Context, caller: Caller) => Promise<{ to: string; detail?: string }>,
  ) => {
    return async (c: Context) => {
      let detail: string | undefined;
      const handler = page(name, async (c, { caller }) => {
        checkForm(c, { caller, form: await formOf(c) });
        const done = await act(c, caller);
        detail = done.detail;
        return c.redirect(done.to, 303);
      });
      const record = (outcome: "ok" | { error: unknown }) => {
        let caller: Caller | null = null;
        try {
          caller = findCaller(c, { tracker, sessions });
        } catch { /* a token refused: not recorded (audit.ts) */ }
        if (!caller) return;
        tracker.audit.record({
          principal: caller.principal,
          action: audited,
          target: c.req.param("id") ?? c.req.param("name") ?? null,
          detail: detail === undefined ? "from the dashboard" : `from the dashboard; ${detail}`,
          address: c.req.header(PEER_HEADER) ?? null,
          outcome,
        });
      };
      try {
        const answer = await handler(c);
        record("ok");
        return answer;
      } catch (error) {
        record({ error });
        throw error;
      }
    };
  };

  app.get("/assets/:name", (c) => secured(serveAsset(c, c.req.param("name"))));

  app.get("/sign-in", async (c) => secured(await signInPage(c, { next: safeNext(c.req.query("next")) })));
  app.post("/sign-in", async (c) => {
    checkOrigin(c);
    const form = await formOf(c);
    const next = safeNext(form.next);
    const token = typeof form.token === "string" ? form.token.trim() : "";
    if (!token) return secured(await signInPage(c, { next, error: "Type a token.", status: 401 }));
    let principal;
    try {
      principal = authenticate(tracker, `Bearer ${token}`);
    } catch (error) {
      if (!(error instanceof FabricError) || error.code !== "unauthorized") throw error;
      return secured(await signInPage(c, { next, error: error.message, status: 401 }));
    }
    try {
      mustBeAllowed(principal, "view");
    } catch (error) {
      if (!(error instanceof FabricError) || error.code !== "forbidden") throw error;
      return secured(await signInPage(c, { next, error: error.message, status: 403 }));
    }
    // A new id at every sign-in: a session id planted before it is worth nothing after it.
    const old = sessionIdOf(c);
    if (old) sessions.close(old);
    setSessionCookie(c, sessions.open(token).id);
    options.log(`dashboard: ${describePrincipal(principal)} signed in`);
    return secured(c.redirect(next, 303));
  });
  app.post("/sign-out", async (c) => {
    const caller = findCaller(c, { tracker, sessions });
    if (caller?.session) {
      checkForm(c, { caller, form: await formOf(c) });
      sessions.close(caller.sessionId!);
    }
    clearSessionCookie(c);
    return secured(c.redirect("/sign-in", 303));
  });

  app.get("/", page("view", jobsPage));
  app.get("/jobs/:id", page("view", jobPage));
  app.get("/tasks/:id", page("view", taskPage));
  app.get("/tasks/:id/artifact", page("download", artifactDownload));
  app.get("/agents", page("view", agentsPage));
  app.get("/trackers", page("view", (c, context) => trackersPage(c, context, options.trackers)));
  app.get("/audit", page("audit", auditPage));
  app.get("/periodic", page("view", periodicPage));
  // The live log of a task page: the API's NDJSON stream, for a session's cookie as well.
  app.get(
    "/tasks/:id/log",
    page("view", (c, { caller }) => {
      const attempt = wholeNumber(c, "attempt", 1, 1_000_000) ?? undefined;
      const afterSeq = wholeNumber(c, "after", 0, Number.MAX_SAFE_INTEGER) ?? -1;
      const follow = c.req.query("follow") === "1";
      const signal = c.req.raw.signal;
      const lines = readLogs(tracker, c.req.param("id")!, { attempt, afterSeq, follow, signal });
      return ndjsonResponse(whileAccepted(lines, caller, () => tracker.clock.now()));
    }),
  );

  app.post(
    "/jobs/:id/cancel",
    action("cancel", "job.cancel", async (c, caller) => {
      const id = c.req.param("id")!;
      mustBeAllowed(caller.principal, "cancel", (await getJobSummary(tracker, id)).submittedBy);
      await tracker.cancelJob(id);
      return { to: `/jobs/${encodeURIComponent(id)}` };
    }),
  );
  // A rerun of what did not succeed when the job has some, else of all of it; the page of the new job.
  app.post(
    "/jobs/:id/rerun",
    action("rerun", "job.rerun", async (c, caller) => {
      const id = c.req.param("id")!;
      const job = await getJobSummary(tracker, id);
      mustBeAllowed(caller.principal, "rerun", job.submittedBy);
      const failedOnly = c.req.query("failed") === "1";
      // The job's secrets are checked against the token that signed in, as for the API's rerun.
      const submitter = submitterOf(caller.principal);
      if (submitter === null) throw new FabricError("forbidden", "Only a client's token reruns jobs");
      const rerun = await tracker.rerunJob(id, { failedOnly, submitter });
      const detail = `new job ${rerun.jobId}${failedOnly ? " (failed tasks only)" : ""}`;
      return { to: `/jobs/${encodeURIComponent(rerun.jobId)}`, detail };
    }),
  );
  app.post(
    "/agents/:name/drain",
    action("drain", "agent.drain", async (c) => {
      await tracker.drain(c.req.param("name")!, DRAIN_GRACE_MS);
      return { to: "/agents" };
    }),
  );
  app.post(
    "/agents/:name/resume",
    action("drain", "agent.resume", async (c) => {
      await tracker.resume(c.req.param("name")!);
      return { to: "/agents" };
    }),
  );

  return app;
}

/** A followed log ends once its caller is signed out: asked again at most once a second, before a line is sent. */
async function* whileAccepted(lines: AsyncGenerator<LogLine>, caller: Caller, now: () => number) {
  let checkedAt = now();
  for await (const line of lines) {
    if (now() - checkedAt >= 1000) {
      if (!caller.stillAccepted()) return;
      checkedAt = now();
    }
    yield line;
  }
}

function secured(response: Response): Response {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    if (!response.headers.has(name)) response.headers.set(name, value);
  }
  return response;
}

/** A posted form's fields (the front door has limited its size already). */
async function formOf(c: Context): Promise<Record<string, unknown>> {
  try {
    return await c.req.parseBody();
  } catch {
    throw new FabricError("bad_request", "The form could not be read");
  }
}
