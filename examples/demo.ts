/**
 * `deno task demo`: a tracker and two agents as separate processes on loopback, in a temporary
 * directory; submits jobs/hello.yaml, waits for it, prints its status and one task's log, then
 * stops everything. Exits 0 when the job succeeded.
 */
import { join } from "node:path";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const JOB = new URL("../jobs/hello.yaml", import.meta.url).pathname;

function spawn(args: string[]): { child: Deno.ChildProcess; output: () => string } {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const part of stream.pipeThrough(new TextDecoderStream())) text += part;
  };
  pump(child.stdout);
  pump(child.stderr);
  return { child, output: () => text };
}

async function waitForText(
  process: { output: () => string },
  pattern: RegExp,
  what: string,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = process.output().match(pattern);
    if (match) return match;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not start:\n${process.output()}`);
}

async function client(args: string[], env: Record<string, string>): Promise<number> {
  console.log(`\n$ fabric ${args.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    env,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return code;
}

const root = await Deno.makeTempDir({ prefix: "fabric-demo-" });
const processes: Deno.ChildProcess[] = [];
let exitCode = 1;
try {
  console.log(`fabric demo in ${root}`);
  const tracker = spawn(["tracker", "--listen", "127.0.0.1:0", "--data-dir", join(root, "tracker")]);
  processes.push(tracker.child);
  const joinLine = await waitForText(tracker, /fabric agent (--join \S+ --token \S+ --ca-hash \S+)/, "the tracker");
  const url = (await waitForText(tracker, /listening on (https:\/\/\S+)/, "the tracker"))[1];
  console.log(`tracker: ${url}`);
  console.log(`agents join with: fabric agent ${joinLine[1].replace(/--token \S+/, "--token …")}`);
  for (const name of ["agent-1", "agent-2"]) {
    const agent = spawn([
      "agent",
      ...joinLine[1].split(" "),
      "--name",
      name,
      "--slots",
      "2",
      "--data-dir",
      join(root, name),
    ]);
    processes.push(agent.child);
    await waitForText(agent, /joined/, name);
    console.log(`${name}: joined`);
  }
  const env = {
    FABRIC_TRACKER: url,
    FABRIC_TOKEN: (await Deno.readTextFile(join(root, "tracker", "admin.token"))).trim(),
    FABRIC_CA: join(root, "tracker", "ca.pem"),
  };
  await client(["agents"], env);
  const submitted = await client(["submit", "--wait", JOB], env);
  const jobId = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, "status", "--json"],
    env,
  }).output().then((out) => JSON.parse(new TextDecoder().decode(out.stdout))[0].id as string);
  await client(["status", jobId], env);
  await client(["logs", `${jobId}.0`], env);
  exitCode = submitted;
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}`);
} finally {
  for (const child of processes.reverse()) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
  }
  await Deno.remove(root, { recursive: true }).catch(() => {});
  console.log(`\ndemo ${exitCode === 0 ? "succeeded" : "failed"}; everything stopped and ${root} removed`);
}
Deno.exit(exitCode);
