/** `/sign-in`: a token typed once; the session it opens is kept in an HttpOnly cookie (sessions.ts). */
import type { Context } from "hono";
import { Layout } from "./layout.tsx";

export interface SignInProps {
  /** Where to go once signed in (a path of this dashboard). */
  next: string;
  error?: string;
  status?: 200 | 401 | 403;
}

export async function signInPage(c: Context, props: SignInProps): Promise<Response> {
  return await c.html(
    <Layout title="Sign in" caller={null}>
      <h1>Sign in</h1>
      <form class="sign-in" method="post" action="/sign-in">
        <input type="hidden" name="next" value={props.next} />
        <label>
          Token{" "}
          <input
            type="password"
            name="token"
            autocomplete="off"
            spellcheck={false}
            required
            autofocus
            placeholder="fabric-…"
          />
        </label>
        <button type="submit">Sign in</button>
        {props.error && <p class="error" role="alert">{props.error}</p>}
      </form>
      <p class="note">
        Any client token signs in (<code>fabric token create</code>); what it may do here is what its role may do. The
        admin token is in <code>admin.token</code>{" "}
        in the tracker's data directory. The browser keeps a session cookie, not the token; signing out (or the token
        being revoked, or the tracker restarting) ends the session.
      </p>
    </Layout>,
    props.status ?? 200,
  );
}

/** A path of this dashboard to go back to after sign-in; anything else (another site) is "/". */
export function safeNext(value: unknown): string {
  if (typeof value !== "string" || value.length > 2000) return "/";
  // deno-lint-ignore no-control-regex -- a control character in a path is refused on purpose
  return /^\/(?![/\\])/.test(value) && !/[\x00-\x1f\\]/.test(value) ? value : "/";
}
