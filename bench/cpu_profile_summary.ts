/**
 * Where a process's CPU went, from a V8 `.cpuprofile` (`deno run --cpu-prof`): the samples taken within a
 * window, each put in the first category found walking up from its leaf (TLS, HTTP parsing, auth, ...),
 * and the functions that took the most samples themselves. For bench/heartbeat_profile.ts.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Categories, tried from the sample's own frame up to the root: the first that matches names it. */
const CATEGORIES: Array<[string, (frame: ProfileNode["callFrame"]) => boolean]> = [
  ["gc", (f) => f.functionName === "(garbage collector)"],
  ["idle", (f) => f.functionName === "(idle)"],
  ["program (native, outside JS)", (f) => f.functionName === "(program)"],
  ["zod (validation)", (f) => f.url.includes("/zod/")],
  ["store", (f) => f.url.includes("/src/store/") || f.url.includes("/postgres/")],
  ["heartbeat relay (follower)", (f) => f.url.includes("heartbeat_relay.ts")],
  ["claims", (f) => /claim_relay|claim_pools|claims\.ts/.test(f.url)],
  ["auth (token hash, admission)", (f) => /authenticate|credentials|follower_auth|audited_admission/.test(f.url)],
  ["tracker logic (agents, state)", (f) => /src\/tracker\/(agent_|state|liveness|tracker)/.test(f.url)],
  ["JSON", (f) => /^JSON|parseJsonBody|stringify|parse$/.test(f.functionName) && !f.url.includes("node")],
  ["fabric's door (https_server, read_body)", (f) => /https_server|read_body|front_door|leader_door/.test(f.url)],
  ["TLS", (f) => /tls|TLS|_tls_|crypto/i.test(f.url) || /tls|TLS|handshake|secure/i.test(f.functionName)],
  ["HTTP (node:http parsing, responses)", (f) => /_http_|http_parser|HTTPParser/.test(f.url + f.functionName)],
  ["streams, sockets, net", (f) => /stream|net\.ts|_net|socket|tcp_wrap|stream_wrap/i.test(f.url + f.functionName)],
  ["timers", (f) => /timers/.test(f.url)],
  ["fabric, other", (f) => f.url.includes("/src/")],
];

export interface Summary {
  /** Milliseconds of samples in the window. */
  sampledMs: number;
  categories: Array<{ name: string; ms: number; share: number }>;
  top: Array<{ name: string; ms: number; share: number }>;
}

/** Samples between `fromUs` and `toUs` (the profile's own clock, µs; whole profile if absent). */
export function summarize(profile: CpuProfile, fromUs = -Infinity, toUs = Infinity, topN = 25): Summary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const category = new Map<number, string>();
  const categoryOf = (id: number): string => {
    const known = category.get(id);
    if (known) return known;
    // Iterative walk up; the tree is finite and acyclic, bounded by its size.
    let at: number | undefined = id;
    let found = "other (node/deno internals)";
    for (let hops = 0; at !== undefined && hops < profile.nodes.length; hops++) {
      const frame = nodes.get(at)!.callFrame;
      const match = CATEGORIES.find(([, test]) => test(frame));
      if (match) {
        found = match[0];
        break;
      }
      at = parent.get(at);
    }
    category.set(id, found);
    return found;
  };
  const byCategory = new Map<string, number>();
  const bySelf = new Map<string, number>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < fromUs || t > toUs) continue;
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i];
    total += us;
    const name = categoryOf(id);
    byCategory.set(name, (byCategory.get(name) ?? 0) + us);
    const frame = nodes.get(id)!.callFrame;
    const file = frame.url.split("/").slice(-2).join("/");
    const self = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    bySelf.set(self, (bySelf.get(self) ?? 0) + us);
  }
  const rows = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
  return { sampledMs: total / 1000, categories: rows(byCategory), top: rows(bySelf).slice(0, topN) };
}

export function formatSummary(title: string, summary: Summary): string {
  const pct = (share: number) => `${(share * 100).toFixed(1)}%`.padStart(6);
  return [
    `${title}: ${summary.sampledMs.toFixed(0)} ms sampled`,
    "  by category (first match from the leaf up):",
    ...summary.categories.map((c) => `    ${pct(c.share)} ${c.ms.toFixed(0).padStart(7)} ms  ${c.name}`),
    "  top functions (self):",
    ...summary.top.map((c) => `    ${pct(c.share)} ${c.ms.toFixed(0).padStart(7)} ms  ${c.name}`),
  ].join("\n");
}
