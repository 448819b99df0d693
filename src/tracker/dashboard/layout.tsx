/** The frame of every page: one stylesheet and one script, both files of ours (no inline code), the navigation, and sign-out. */
import { html } from "hono/html";
import type { Child } from "hono/jsx";
import type { Caller } from "./caller.ts";
import { may } from "./permissions.ts";
import { PostButton } from "./widgets.tsx";

export interface LayoutProps {
  title: string;
  /** Null on the sign-in page. */
  caller: Caller | null;
  children?: Child;
}

export function Layout(props: LayoutProps) {
  const page = (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · fabric</title>
        <link rel="icon" href="/assets/icon.svg" />
        <link rel="stylesheet" href="/assets/style.css" />
        <script src="/assets/live.js" defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">fabric</a>
          {props.caller && (
            <nav>
              <a href="/">Jobs</a>
              <a href="/agents">Agents</a>
              <a href="/periodic">Periodic</a>
              <a href="/trackers">Trackers</a>
              {may(props.caller.principal, "audit") && <a href="/audit">Audit</a>}
            </nav>
          )}
          {props.caller?.session && (
            <PostButton action="/sign-out" csrf={props.caller.session.csrf} label="Sign out" class="sign-out" />
          )}
        </header>
        <main>{props.children}</main>
      </body>
    </html>
  );
  return html`<!DOCTYPE html>${page}`;
}
