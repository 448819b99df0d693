import assert from "node:assert/strict";
import { QueuedLog } from "./logger.ts";

const LOGGER = new URL("./logger.ts", import.meta.url).href;

Deno.test("a daemon whose stderr nobody reads goes on: its log lines wait (or are dropped), the daemon is never blocked", async () => {
  // A process logging far more than a pipe holds (64 KiB) while its parent reads none of it: its timers
  // must keep running. A synchronous write would block it in the first megabyte.
  const script = `
    import { daemonLog } from "${LOGGER}";
    const log = daemonLog("test");
    let ticks = 0;
    setInterval(() => ticks++, 10);
    for (let i = 0; i < 20_000; i++) log("line " + i + " " + "x".repeat(100));
    setTimeout(() => {
      Deno.stdout.writeSync(new TextEncoder().encode("ticks " + ticks + "\\n"));
      Deno.exit(0);
    }, 500);
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    const text = new TextDecoder().decode(value ?? new Uint8Array());
    assert.match(text, /ticks (\d+)/, "it went on while its stderr was full");
    assert.ok(Number(text.match(/ticks (\d+)/)![1]) > 10, text);
  } finally {
    clearTimeout(timer);
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel();
    await child.status;
  }
});

Deno.test("queued log lines are written in order, one write at a time; past the bound they are dropped and counted", async () => {
  const written: string[] = [];
  let release: () => void = () => {};
  let gate = new Promise<void>((resolve) => release = resolve);
  const log = new QueuedLog(async (bytes) => {
    await gate;
    written.push(new TextDecoder().decode(bytes));
    return bytes.length;
  }, 40);
  log.line("one"); // under way, held by the gate
  log.line("two");
  log.line("three");
  for (let i = 0; i < 10; i++) log.line("0123456789"); // past 40 bytes queued: dropped
  release();
  gate = Promise.resolve();
  await log.flushed();
  const text = written.join("");
  assert.ok(text.startsWith("one\ntwo\nthree\n"), text);
  assert.match(text, /log: \d+ line\(s\) dropped: stderr was not read fast enough\n$/);
  log.line("after");
  await log.flushed();
  assert.ok(written.join("").endsWith("after\n"));
});
