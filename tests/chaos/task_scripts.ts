/**
 * The shell script of each kind of chaos task, and, beside it, exactly what it prints: the checker
 * compares stored logs with `expectedLog`, so the two must change together.
 *
 * Every script first appends `start TASK ATTEMPT AGENT EPOCH_MS RUN` to the harness's run file
 * (outside fabric: a write path bound into the sandbox), long ones add `tick` lines while they run,
 * and each appends `end ... ok|fail` as its very last act before it exits. RUN is random per
 * execution, so two executions of the same attempt are told apart even if they overlap.
 */
import type { TemplatePlan } from "./model.ts";

export const TICK_MS = 250;
const BIG_PAD = "x".repeat(60);

export function taskScript(template: TemplatePlan, runsFile: string): string {
  const prelude = [
    `R=${shellQuote(runsFile)}`,
    "RUN=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')",
    'mark() { echo "$1 $FABRIC_TASK_ID $FABRIC_ATTEMPT $FABRIC_AGENT $(date +%s%3N) $RUN ${2:-}" >> "$R"; }',
    "mark start",
  ];
  return [...prelude, ...body(template), ""].join("\n");
}

function body(t: TemplatePlan): string[] {
  switch (t.kind) {
    case "short":
      return [
        'echo "short $FABRIC_TASK_ID"',
        `for i in $(seq 1 ${t.lines}); do echo "line $i"; done`,
        `sleep ${(t.sleepMs / 1000).toFixed(3)}`,
        "mark end ok",
      ];
    case "long":
      return [
        `for i in $(seq 1 ${t.lines}); do echo "tick $i"; mark tick; sleep ${TICK_MS / 1000}; done`,
        "mark end ok",
      ];
    case "big":
      return [
        `seq -f "big %08.0f ${BIG_PAD}" 1 ${t.lines}`,
        `echo "big done ${t.lines}" >&2`,
        "mark end ok",
      ];
    case "output":
      return [
        'echo "output $FABRIC_TASK_ID"',
        `printf '{"task":"%s","attempt":%s,"agent":"%s","index":%s}\\n' "$FABRIC_TASK_ID" "$FABRIC_ATTEMPT" ` +
        '"$FABRIC_AGENT" "$FABRIC_TASK_INDEX" > "$FABRIC_OUTPUT"',
        "mark end ok",
      ];
    case "flaky":
      return [
        'echo "flaky attempt $FABRIC_ATTEMPT"',
        'if [ "$FABRIC_ATTEMPT" -eq 1 ]; then mark end fail; exit 1; fi',
        "mark end ok",
      ];
    case "consumer":
      return [
        `n=$(grep -o '"task":' "$FABRIC_NEEDS_${envSuffix(t.needs!)}" | wc -l)`,
        'echo "consumer saw $n outputs"',
        "mark end ok",
      ];
    case "failing":
      return ['echo "failing attempt $FABRIC_ATTEMPT"', "mark end fail", "exit 3"];
    case "dependent":
      return ['echo "a dependent of a failed task ran"', "mark end ok"];
  }
}

/** What the final attempt of a task prints, per stream; null when it cannot be known. */
export function expectedLog(
  template: TemplatePlan,
  task: { id: string; attempt: number },
  templates: readonly TemplatePlan[],
): { stdout: string; stderr: string } | null {
  const lines = (items: string[]) => items.map((line) => line + "\n").join("");
  const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  switch (template.kind) {
    case "short":
      return { stdout: lines([`short ${task.id}`, ...range(template.lines).map((i) => `line ${i}`)]), stderr: "" };
    case "long":
      return { stdout: lines(range(template.lines).map((i) => `tick ${i}`)), stderr: "" };
    case "big":
      return {
        stdout: lines(range(template.lines).map((i) => `big ${String(i).padStart(8, "0")} ${BIG_PAD}`)),
        stderr: `big done ${template.lines}\n`,
      };
    case "output":
      return { stdout: `output ${task.id}\n`, stderr: "" };
    case "flaky":
      return { stdout: `flaky attempt ${task.attempt}\n`, stderr: "" };
    case "consumer": {
      const producer = templates.find((t) => t.name === template.needs);
      return producer ? { stdout: `consumer saw ${producer.count} outputs\n`, stderr: "" } : null;
    }
    case "failing":
      return { stdout: `failing attempt ${task.attempt}\n`, stderr: "" };
    case "dependent":
      return null;
  }
}

/** The JSON an output task writes, for its final attempt. */
export function expectedOutput(task: { id: string; attempt: number; agent: string | null; index: number }) {
  return { task: task.id, attempt: task.attempt, agent: task.agent, index: task.index };
}

/** Bytes one big line takes, to size big tasks in bytes. */
export const BIG_LINE_BYTES = `big 00000001 ${BIG_PAD}\n`.length;

function envSuffix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
