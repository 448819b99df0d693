/**
 * `deno task demo`: a tracker and two agents as separate processes on loopback, in a temporary
 * directory; submits jobs/hello.yaml, waits for it, prints its status and one task's log, then
 * stops everything and removes the directory (also on Ctrl-C: it holds a CA key and tokens).
 * Exits 0 when the job succeeded.
 *
 * It needs Deno only. Where bubblewrap is missing (or does not work), the agents say so and the
 * demo runs the job's tasks unsandboxed on its two loopback agents, saying that too. Every step has
 * a deadline: the demo never waits without saying why, and ends with a clear outcome.
 */
import { join } from "node:path";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const JOB = new URL("../jobs/hello.yaml", import.meta.url).pathname;
/** How long a daemon may take to start, a client command to answer, and the job to run. */
const START_MS = 30_000;
const CLIENT_MS = 30_000;
const JOB_TIMEOUT = "60s";

interface Daemon {
  child: Deno.ChildProcess;
  output: () => string;
}

const running = new Set<Deno.ChildProcess>();

function spawn(args: string[]): Daemon {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  running.add(child);
  child.status.then(() => running.delete(child));
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const part of stream.pipeThrough(new TextDecoderStream())) text += part;
  };
  pump(child.stdout);
  pump(child.stderr);
  return { child, output: () => text };
}

async function waitForText(daemon: Daemon, pattern: RegExp, what: string): Promise<RegExpMatchArray> {
  const deadline = Date.now() + START_MS;
  let exited = false;
  daemon.child.status.then(() => exited = true);
  while (Date.now() < deadline && !exited) {
    const match = daemon.output().match(pattern);
    if (match) return match;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const why = exited ? "exited" : `did not start within ${START_MS / 1000}s`;
  throw new Error(`${what} ${why}:\n${daemon.output()}`);
}

/** A client command, its output shown as it comes; killed if it outlasts `timeoutMs`. */
async function client(args: string[], env: Record<string, string>, timeoutMs = CLIENT_MS): Promise<number> {
  console.log(`\n$ fabric ${args.join(" ")}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  running.add(child);
  const timer = setTimeout(() => {
    console.error(`(fabric ${args[0]} did not end within ${timeoutMs / 1000}s: stopped)`);
    child.kill("SIGKILL");
  }, timeoutMs);
  const { code } = await child.status;
  clearTimeout(timer);
  running.delete(child);
  return code;
}

async function clientJson<T>(args: string[], env: Record<string, string>): Promise<T> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args, "--json"],
    env,
    stdin: "null",
    signal: AbortSignal.timeout(CLIENT_MS),
  }).output();
  if (!output.success) throw new Error(`fabric ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  return JSON.parse(new TextDecoder().decode(output.stdout)) as T;
}

const root = await Deno.makeTempDir({ prefix: "fabric-demo-" });
// Passable by the task user of an agent running as root (tasks on the host reach their directory by path).
await Deno.chmod(root, 0o711);
let cleaned: Promise<void> | null = null;

/** Stops every process the demo started and removes its directory; once, whoever asks first. */
function cleanUp(): Promise<void> {
  cleaned ??= (async () => {
    for (const child of [...running].reverse()) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child.status;
      clearTimeout(killer);
    }
    await Deno.remove(root, { recursive: true }).catch(() => {});
  })();
  return cleaned;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    console.error(`\ndemo interrupted (${signal}): stopping everything`);
    await cleanUp();
    console.error(`everything stopped and ${root} removed`);
    Deno.exit(130);
  });
}

let exitCode = 1;
try {
  console.log(`fabric demo in ${root}`);
  const tracker = spawn(["tracker", "--listen", "127.0.0.1:0", "--data-dir", join(root, "tracker")]);
  const joinLine = await waitForText(
    tracker,
    /fabric agent (--join \S+ --token-file join\.token --ca-hash \S+)/,
    "the tracker",
  );
  const url = (await waitForText(tracker, /listening on (https:\/\/\S+)/, "the tracker"))[1];
  console.log(`tracker: ${url}`);
  console.log(`agents join with: fabric agent ${joinLine[1]}`);
  // The tracker names its join.token: on this machine, the agents read it where it is.
  const joinArgs = joinLine[1].replace("join.token", join(root, "tracker", "join.token")).split(" ");
  const agents: Daemon[] = [];
  for (const name of ["agent-1", "agent-2"]) {
    const agent = spawn([
      "agent",
      ...joinArgs,
      "--name",
      name,
      "--slots",
      "2",
      "--data-dir",
      join(root, name),
      // Used only where bubblewrap is missing, and then only for this demo's own job (see below).
      "--allow-unsandboxed",
    ]);
    agents.push(agent);
    await waitForText(agent, /joined/, name);
    console.log(`${name}: joined`);
  }
  const env = {
    FABRIC_TRACKER: url,
    FABRIC_TOKEN: (await Deno.readTextFile(join(root, "tracker", "admin.token"))).trim(),
    FABRIC_CA: join(root, "tracker", "ca.pem"),
  };
  await client(["agents"], env);
  let job = JOB;
  const views = await clientJson<Array<{ capabilities: { sandbox: boolean } }>>(["agents"], env);
  if (!views.some((a) => a.capabilities.sandbox)) {
    // What the agent said about bubblewrap (missing, or not working here), then what the demo does.
    const said = agents[0].output().match(/agent: (bubblewrap [^\n]*)/)?.[1] ?? "bubblewrap does not work here";
    console.log(`\nagent-1: ${said}`);
    console.log("So the demo's tasks run unsandboxed (sandbox: false) on these two loopback agents.");
    job = join(root, "hello.yaml");
    await Deno.writeTextFile(job, `sandbox: false\n${await Deno.readTextFile(JOB)}`);
  }
  const submitted = await client(["submit", "--wait", "--timeout", JOB_TIMEOUT, job], env, 120_000);
  const jobs = await clientJson<Array<{ id: string }>>(["status"], env);
  if (jobs.length > 0) {
    await client(["status", jobs[0].id], env);
    await client(["logs", `${jobs[0].id}.0`], env);
  }
  if (submitted === 4) console.error(`\nthe job did not end within ${JOB_TIMEOUT} (submit said why above)`);
  exitCode = submitted;
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}`);
} finally {
  await cleanUp();
  console.log(`\ndemo ${exitCode === 0 ? "succeeded" : "failed"}; everything stopped and ${root} removed`);
}
Deno.exit(exitCode);
