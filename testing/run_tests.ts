/**
 * `deno task test [DENO TEST ARGS]`: probes what the machine has (bubblewrap, git, a cgroup memory
 * controller, deno, PostgreSQL), runs `deno test -A --parallel` with the result passed down (FABRIC_TEST_HAS, read
 * by testing/machine.ts), and ends by saying which tests were skipped for a lack, and how to install
 * it. With FABRIC_TEST_REQUIRE=all (CI), a lack stops the run at once, before any test.
 */
import { XMLParser } from "fast-xml-parser";
import { join } from "node:path";
import {
  HAS_ENV,
  installAdvice,
  type Need,
  NEED_HELP,
  NEEDS,
  probeMachine,
  REQUIRE_ENV,
  requiredNeeds,
  type SkipRecord,
  SKIPS_ENV,
} from "./machine.ts";

/** One test as the JUnit report gives it. */
export interface TestCase {
  file: string;
  name: string;
  line: number;
  outcome: "passed" | "failed" | "skipped";
}

if (import.meta.main) Deno.exit(await run(Deno.args));

async function run(args: string[]): Promise<number> {
  const present = await probeMachine();
  const missing = NEEDS.filter((need) => !present.has(need));
  let required: Need[];
  try {
    required = requiredNeeds();
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const forbidden = missing.filter((need) => required.includes(need));
  if (forbidden.length > 0) {
    console.error(
      `${REQUIRE_ENV} forbids skipping tests, but this machine lacks:\n${installAdvice(forbidden).join("\n")}`,
    );
    return 1;
  }
  if (missing.length > 0) {
    console.error(`This machine lacks ${missing.map((n) => NEED_HELP[n].what).join(", ")}: the tests that need it`);
    console.error("are skipped (listed at the end).");
  }
  const work = await Deno.makeTempDir({ prefix: "fabric-test-run-" });
  try {
    const skips = join(work, "skips");
    await Deno.mkdir(skips);
    const junit = join(work, "junit.xml");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--parallel", `--junit-path=${junit}`, ...args],
      env: { [HAS_ENV]: [...present].join(","), [SKIPS_ENV]: skips },
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    // Ctrl-C reaches deno test too (one process group): it stops, and this one cleans up after it.
    const onSignal = () => {};
    Deno.addSignalListener("SIGINT", onSignal);
    const status = await child.status;
    Deno.removeSignalListener("SIGINT", onSignal);
    let report: string;
    try {
      report = await Deno.readTextFile(junit);
    } catch {
      return status.code || 1; // deno test stopped before it ran the tests (a type error, a signal)
    }
    const cases = parseJunit(report);
    console.log(summary(cases, await readRecords(skips), missing));
    return status.code;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

export function parseJunit(xml: string): TestCase[] {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "",
    isArray: (name) => name === "testsuite" || name === "testcase",
  });
  const suites = parser.parse(xml)?.testsuites?.testsuite ?? [];
  const cases: TestCase[] = [];
  for (const suite of suites) {
    for (const c of suite.testcase ?? []) {
      const outcome = c.skipped !== undefined
        ? "skipped"
        : c.failure !== undefined || c.error !== undefined
        ? "failed"
        : "passed";
      cases.push({ file: String(c.classname), name: String(c.name), line: Number(c.line), outcome });
    }
  }
  return cases;
}

async function readRecords(dir: string): Promise<SkipRecord[]> {
  const records: SkipRecord[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const text = await Deno.readTextFile(join(dir, entry.name));
    for (const line of text.split("\n")) if (line) records.push(JSON.parse(line));
  }
  return records;
}

/**
 * Which needs kept each skipped test from running. A `lacks()` call sits in its test's declaration:
 * it belongs to the tests declared last at or above its line (several, when one helper of the file
 * declares them all). One above every test of its file is the file's: it stands for each skipped
 * test of the file that has no need of its own.
 */
export function skipReasons(cases: TestCase[], records: SkipRecord[]): Map<TestCase, Need[]> {
  const reasons = new Map<TestCase, Need[]>();
  const byFile = Map.groupBy(cases, (c) => c.file);
  const fileWide = new Map<string, Set<Need>>();
  for (const record of records) {
    const above = (byFile.get(record.file) ?? []).filter((c) => c.line <= record.line);
    const line = Math.max(...above.map((c) => c.line));
    const owners = above.filter((c) => c.line === line && c.outcome === "skipped");
    for (const owner of owners) reasons.set(owner, [...new Set([...(reasons.get(owner) ?? []), ...record.needs])]);
    if (above.length === 0) {
      const wide = fileWide.get(record.file) ?? new Set();
      for (const need of record.needs) wide.add(need);
      fileWide.set(record.file, wide);
    }
  }
  for (const c of cases) {
    if (c.outcome === "skipped" && !reasons.has(c) && fileWide.has(c.file)) reasons.set(c, [...fileWide.get(c.file)!]);
  }
  return reasons;
}

export function summary(cases: TestCase[], records: SkipRecord[], missing: Need[]): string {
  const count = (outcome: TestCase["outcome"]) => cases.filter((c) => c.outcome === outcome).length;
  const lines: string[] = [];
  const skipped = cases.filter((c) => c.outcome === "skipped");
  if (skipped.length > 0) {
    const reasons = skipReasons(cases, records);
    lines.push("", `Skipped ${skipped.length} test(s):`);
    const groups = Map.groupBy(skipped, (c) => {
      const needs = reasons.get(c);
      return needs ? listed(NEEDS.filter((n) => needs.includes(n)).map((n) => NEED_HELP[n].what)) : "";
    });
    for (const [what, tests] of [...groups].sort(([a], [b]) => (a === "" ? 1 : b === "" ? -1 : a.localeCompare(b)))) {
      const verb = tests.length === 1 ? "needs" : "need";
      lines.push(
        what
          ? `  ${tests.length} ${verb} ${what}, which this machine lacks:`
          : `  ${tests.length} ignored by the test itself:`,
      );
      for (const [file, inFile] of Map.groupBy(tests, (c) => c.file)) {
        lines.push(`    ${file}`, ...inFile.map((c) => `      ${JSON.stringify(c.name)}`));
      }
    }
    if (missing.length > 0) lines.push("To run them, install:", ...installAdvice(missing));
  }
  lines.push(`tests: ${count("passed")} passed, ${count("failed")} failed, ${skipped.length} skipped`);
  return lines.join("\n");
}

/** "a", "a and b", "a, b and c" */
function listed(items: string[]): string {
  return items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}
