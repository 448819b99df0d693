/** `/agents`: every agent with its state, slots, load, memory, capabilities (add-ons among them), labels and last heartbeat; drain and resume. */
import type { Context } from "hono";
import { raw } from "hono/html";
import { addonKey, type AgentView } from "../../protocol/mod.ts";
import { listAgents } from "../queries.ts";
import type { Caller } from "./caller.ts";
import type { PageContext } from "./context.ts";
import { ago, bytes } from "./format.ts";
import { Layout } from "./layout.tsx";
import { liveAnswer, liveRegion, wantsFragment } from "./live.tsx";
import { href, PAGE_SIZE, pageParam } from "./params.ts";
import { may } from "./permissions.ts";
import { Head, Pager, PostButton, State } from "./widgets.tsx";

/** An agent heartbeats every few seconds: the list is asked for again this often. */
const AGENTS_EVERY_MS = 2000;

/** What `drain` gives running tasks before they are handed back (as `fabric agents drain` by default). */
export const DRAIN_GRACE_MS = 30_000;

export async function agentsPage(c: Context, { tracker, caller }: PageContext): Promise<Response> {
  const { page, offset } = pageParam(c);
  const all = listAgents(tracker);
  const agents = all.slice(offset, offset + PAGE_SIZE);
  const region = await liveRegion(
    <>
      <AgentsTable agents={agents} caller={caller} now={tracker.clock.now()} />
      <Pager page={page} hasNext={all.length > offset + PAGE_SIZE} href={(n) => href("/agents", { page: n })} />
    </>,
    { url: href("/agents", { page: page > 1 ? page : undefined, fragment: 1 }), everyMs: AGENTS_EVERY_MS },
  );
  if (wantsFragment(c)) return liveAnswer(c, region);
  return await c.html(
    <Layout title="Agents" caller={caller}>
      <h1>Agents</h1>
      {raw(region.html)}
    </Layout>,
  );
}

function AgentsTable(props: { agents: AgentView[]; caller: Caller; now: number }) {
  if (props.agents.length === 0) {
    return (
      <p class="empty">
        No agent has joined yet: <code>fabric agent --join HOST:PORT</code> on a worker adds one.
      </p>
    );
  }
  const canDrain = may(props.caller.principal, "drain");
  const csrf = props.caller.session?.csrf ?? null;
  return (
    <table class="agents">
      <Head
        columns={[
          "Agent",
          "State",
          "Slots",
          "Load",
          "Memory free",
          "Can run",
          "Labels",
          "Heartbeat",
          ...(canDrain ? [""] : []),
        ]}
      />
      <tbody>
        {props.agents.map((agent) => {
          const action = `/agents/${encodeURIComponent(agent.name)}`;
          return (
            <tr data-agent={agent.name}>
              <td>
                {agent.name}{" "}
                <span class="id" title={`${agent.os}/${agent.arch}, fabric ${agent.version}`}>{agent.id}</span>
              </td>
              <td>
                <State state={agent.state} />
              </td>
              <td>{agent.running} / {agent.slots}</td>
              <td>{agent.load ? agent.load.load1.toFixed(2) : "-"}</td>
              <td>{agent.load ? `${bytes(agent.load.memFree)} of ${bytes(agent.load.memTotal)}` : "-"}</td>
              <td>
                <Capabilities agent={agent} />
              </td>
              <td>
                {Object.entries(agent.labels).map(([k, v]) => <span class="label">{k}={v}</span>)}
              </td>
              <td>
                <time datetime={agent.lastHeartbeat ?? ""}>{ago(agent.lastHeartbeat, props.now)}</time>
              </td>
              {canDrain && (
                <td>
                  {agent.state === "ready" && (
                    <PostButton
                      action={`${action}/drain`}
                      csrf={csrf}
                      label="Drain"
                      confirm={`Drain ${agent.name}? It takes no new work; its running tasks get ${
                        DRAIN_GRACE_MS / 1000
                      }s to finish, then run elsewhere.`}
                    />
                  )}
                  {agent.state === "draining" && <PostButton action={`${action}/resume`} csrf={csrf} label="Resume" />}
                </td>
              )}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Capabilities(props: { agent: AgentView }) {
  const c = props.agent.capabilities;
  const has = [
    c.sandbox && "sandbox",
    c.unsandboxed && "unsandboxed",
    c.cgroup && `memory limits (cgroup ${c.cgroup})`,
    c.deno && "deno",
    c.git && "git",
    c.verifyKeys && `signed jobs only (${c.verifyKeys.length} key${c.verifyKeys.length === 1 ? "" : "s"})`,
    ...(c.addons ?? []).map((addon) => `add-on ${addonKey(addon)}`),
  ].filter((x): x is string => typeof x === "string");
  return <>{has.map((x) => <span class="cap">{x}</span>)}</>;
}
