/**
 * What a test needs of the machine beyond Deno, said where the test is declared:
 *
 *     Deno.test({ name: "...", ignore: lacks("bwrap"), fn: ... })
 *
 * `deno task test` (testing/run_tests.ts) probes the machine once and passes the result down in
 * FABRIC_TEST_HAS; a test file run on its own probes it here. Each lack is recorded (in the folder
 * FABRIC_TEST_SKIPS names) so that the runner can say which tests were skipped and why. With
 * FABRIC_TEST_REQUIRE=all (CI) or a list of needs, a lack fails the test file at once instead.
 */
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { findExecutable, probeCapabilities } from "../src/exec/mod.ts";
import { CAPABILITY_HELP } from "../src/protocol/mod.ts";
import { netnsProblem } from "./netns.ts";
import { POSTGRES_INSTALL, postgresProblem } from "./postgres_install.ts";

export type Need = "bwrap" | "git" | "cgroup" | "deno" | "postgres" | "chromium" | "promtool" | "netns" | "curl";
export const NEEDS: readonly Need[] = [
  "bwrap",
  "git",
  "cgroup",
  "deno",
  "postgres",
  "chromium",
  "promtool",
  "netns",
  "curl",
];

/** What each need is, as a user knows it, and how to get it. */
export const NEED_HELP: Record<Need, { what: string; install: string }> = {
  bwrap: { what: "bubblewrap (sandboxed tasks)", install: CAPABILITY_HELP.sandbox.install },
  git: { what: "git (git tasks)", install: CAPABILITY_HELP.git.install },
  cgroup: { what: "a writable cgroup memory controller (memory limits)", install: CAPABILITY_HELP.cgroup.install },
  deno: { what: "deno in PATH (script tasks)", install: CAPABILITY_HELP.deno.install },
  postgres: { what: "PostgreSQL (the PostgreSQL store)", install: POSTGRES_INSTALL },
  chromium: {
    what: "Chromium (the dashboard's browser tests)",
    install: "sudo apt-get install chromium (or set FABRIC_CHROMIUM to a Chrome or Chromium binary)",
  },
  promtool: {
    what: "promtool (checks the metrics' format)",
    install: "sudo apt-get install prometheus (Debian, Ubuntu); or promtool from prometheus.io",
  },
  curl: {
    what: "curl (the http-check example add-on)",
    install: "sudo apt-get install curl",
  },
  netns: {
    what: "network namespaces (root and iproute2: discovery's broadcasts stay inside them)",
    install: "sudo apt-get install iproute2, and run the tests as root",
  },
};

/** The browser the dashboard's tests drive: $FABRIC_CHROMIUM, else `chromium` on the PATH; null when there is none. */
export function chromiumPath(): string | null {
  return findExecutable(Deno.env.get("FABRIC_CHROMIUM") || "chromium", Deno.env.get("PATH") ?? "");
}

export const HAS_ENV = "FABRIC_TEST_HAS";
export const SKIPS_ENV = "FABRIC_TEST_SKIPS";
export const REQUIRE_ENV = "FABRIC_TEST_REQUIRE";

/** One test file's lack, as the runner reads it back. */
export interface SkipRecord {
  /** Relative to the working directory, as `deno test` names test files ("./tests/x_test.ts"). */
  file: string;
  /** The line of the `lacks(...)` call. */
  line: number;
  needs: Need[];
}

/**
 * What this machine has: bubblewrap that runs a task's sandbox, git, a cgroup memory controller, deno,
 * a PostgreSQL server a test can start (testing/postgres.ts), Chromium (testing/browser.ts), promtool and
 * curl in PATH.
 */
export async function probeMachine(): Promise<Set<Need>> {
  const dataDir = await Deno.makeTempDir({ prefix: "fabric-probe-" });
  try {
    const probed = await probeCapabilities({ dataDir });
    const has = new Set<Need>();
    if (probed.sandbox) has.add("bwrap");
    if (probed.git) has.add("git");
    if (probed.cgroup !== null) has.add("cgroup");
    if (probed.deno !== null) has.add("deno");
    if (postgresProblem() === null) has.add("postgres");
    if (chromiumPath() !== null) has.add("chromium");
    if (findExecutable("promtool", Deno.env.get("PATH") ?? "") !== null) has.add("promtool");
    if (netnsProblem() === null) has.add("netns");
    if (findExecutable("curl", Deno.env.get("PATH") ?? "") !== null) has.add("curl");
    return has;
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/** The needs FABRIC_TEST_REQUIRE makes mandatory ("all", or a comma-separated list). */
export function requiredNeeds(value = Deno.env.get(REQUIRE_ENV) ?? ""): Need[] {
  if (value.trim() === "all") return [...NEEDS];
  const named = value.split(",").map((n) => n.trim()).filter(Boolean);
  const unknown = named.filter((n) => !(NEEDS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new Error(
      `${REQUIRE_ENV}="${value}": unknown need(s) ${unknown.join(", ")}; use "all" or ${NEEDS.join(",")}`,
    );
  }
  return named as Need[];
}

/** "Install: ..." lines for the needs a machine lacks. */
export function installAdvice(missing: Need[]): string[] {
  return missing.map((need) => `  ${NEED_HELP[need].what}: ${NEED_HELP[need].install}`);
}

const given = Deno.env.get(HAS_ENV);
const present: Set<Need> = given === undefined
  ? await probeMachine()
  : new Set(given.split(",").filter((n): n is Need => (NEEDS as readonly string[]).includes(n)));

export function has(need: Need): boolean {
  return present.has(need);
}

/**
 * For a test's `ignore`: true when this machine lacks any of `needs` (and the lack is recorded for
 * the runner's summary); throws when the lack is one FABRIC_TEST_REQUIRE forbids.
 */
export function lacks(...needs: Need[]): boolean {
  const missing = needs.filter((need) => !present.has(need));
  if (missing.length === 0) return false;
  const required = requiredNeeds().filter((need) => missing.includes(need));
  if (required.length > 0) {
    throw new Error(
      `${REQUIRE_ENV} forbids skipping, but this machine lacks:\n${installAdvice(required).join("\n")}`,
    );
  }
  record(missing);
  return true;
}

/** Where `lacks` was called (the test it guards), appended to this test file's own record file. */
function record(needs: Need[]): void {
  const dir = Deno.env.get(SKIPS_ENV);
  if (!dir) return;
  // The caller's frame: "at file:///path/x_test.ts:12:11" (this function, then lacks, then it).
  const frame = new Error().stack?.split("\n")[3] ?? "";
  const match = frame.match(/(file:\/\/\S+?):(\d+):\d+\)?$/);
  if (!match) return;
  const file = `./${relative(Deno.cwd(), fileURLToPath(match[1]))}`;
  const entry: SkipRecord = { file, line: Number(match[2]), needs };
  Deno.writeTextFileSync(join(dir, `${RECORD_ID}.jsonl`), JSON.stringify(entry) + "\n", { append: true });
}

/** Test files may share a process (--parallel runs them side by side): each module writes its own file. */
const RECORD_ID = crypto.randomUUID();

/**
 * A directory of links to every program in the usual system directories but `hidden`, for a PATH
 * that looks like a machine without them (as a fresh install without bubblewrap or git). As a
 * system directory is, it is open to every user, and anyone may pass through `dir`: tasks of an agent
 * running as root run as its task user, which looks up their programs in that PATH too.
 */
export async function pathWithout(dir: string, hidden: string[]): Promise<string> {
  const bin = await Deno.makeTempDir({ dir, prefix: "path-" });
  await Deno.chmod(bin, 0o755);
  await Deno.chmod(dir, (await Deno.stat(dir)).mode! & 0o777 | 0o111);
  for (const system of ["/usr/local/bin", "/usr/bin", "/bin"]) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(system)];
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (hidden.includes(entry.name)) continue;
      const target = join(system, entry.name);
      if (findExecutable(target, "") === null) continue;
      await Deno.symlink(target, join(bin, entry.name)).catch(() => {}); // the first directory wins, as in PATH
    }
  }
  return bin;
}
