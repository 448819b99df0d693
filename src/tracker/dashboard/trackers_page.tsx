/**
 * `/trackers`: the trackers sharing the store (what `fabric trackers` shows): each one's name, address,
 * role (leader: it places work; follower: it passes requests on to the leader), version and last
 * heartbeat. One tracker on SQLite, itself the leader.
 */
import type { Context } from "hono";
import { raw } from "hono/html";
import type { TrackersResponse, TrackerView } from "../../protocol/mod.ts";
import type { PageContext } from "./context.ts";
import { ago } from "./format.ts";
import { Layout } from "./layout.tsx";
import { liveAnswer, liveRegion, wantsFragment } from "./live.tsx";
import { href } from "./params.ts";
import { Head, State } from "./widgets.tsx";

/** Trackers heartbeat every few seconds. */
const TRACKERS_EVERY_MS = 3000;

export async function trackersPage(
  c: Context,
  { tracker, caller }: PageContext,
  list: (() => Promise<TrackersResponse>) | undefined,
): Promise<Response> {
  const answer = list ? await list() : null;
  const region = await liveRegion(
    answer
      ? <TrackersTable trackers={answer.trackers} answeredBy={answer.answeredBy} now={tracker.clock.now()} />
      : <p class="empty">This tracker keeps no list of trackers.</p>,
    { url: href("/trackers", { fragment: 1 }), everyMs: TRACKERS_EVERY_MS },
  );
  if (wantsFragment(c)) return liveAnswer(c, region);
  return await c.html(
    <Layout title="Trackers" caller={caller}>
      <h1>Trackers</h1>
      {raw(region.html)}
    </Layout>,
  );
}

function TrackersTable(props: { trackers: TrackerView[]; answeredBy: string; now: number }) {
  return (
    <table class="trackers">
      <Head columns={["Tracker", "Address", "Role", "Version", "Started", "Last seen"]} />
      <tbody>
        {props.trackers.map((t) => (
          <tr data-tracker={t.id}>
            <td>
              {t.id} {t.id === props.answeredBy && <span class="id">this one</span>}
            </td>
            <td>{t.url}</td>
            <td>
              <State state={t.role} />
            </td>
            <td>{t.version}</td>
            <td>
              <time datetime={t.startedAt} title={t.startedAt}>{ago(t.startedAt, props.now)}</time>
            </td>
            <td>
              <time datetime={t.lastSeen} title={t.lastSeen}>{ago(t.lastSeen, props.now)}</time>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
