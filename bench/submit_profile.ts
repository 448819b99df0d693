/**
 * The submit path in-process, for profiling (not part of `deno task bench`): a Tracker on a
 * PostgresStore (a server of its own, testing/postgres.ts), leading by a real lease (its writes
 * fenced), submits one job of N tasks; prints the submit's time, the event loop's worst lateness
 * during it (a 50 ms interval timer), and with --v8-flags=--expose-gc the JS heap per queued task
 * after a forced GC and the garbage made (heap growth before the GC minus what stays), and the
 * process's peak RSS so far (VmHWM: the whole run, the tracker's load and the submit).
 *
 *     deno run -A --v8-flags=--expose-gc bench/submit_profile.ts 100000 [runs]
 *     deno run -A --v8-flags=--expose-gc --cpu-prof bench/submit_profile.ts 1000000
 */
import process from "node:process";
import { PostgresStore } from "../src/store/mod.ts";
import { Tracker } from "../src/tracker/mod.ts";
import { PostgresServer } from "../testing/postgres.ts";

const tasks = Number(Deno.args[0] ?? 100_000);
const runs = Number(Deno.args[1] ?? 1);
const gc = (globalThis as { gc?: () => void }).gc;

const server = await PostgresServer.start();
try {
  for (let run = 0; run < runs; run++) {
    const store = await PostgresStore.open(await server.createDatabase(), { fenced: true });
    const lease = await store.acquireLease("profile", 60_000);
    if (!lease) throw new Error("no lease");
    const tracker = await Tracker.open({
      store,
      fence: { holder: lease.holder, epoch: lease.epoch },
      onLeaseLost: (error) => console.error(`lease lost: ${error.message}`),
      log: () => {},
    });
    gc?.();
    const heapBefore = Deno.memoryUsage().heapUsed;
    let worst = 0, last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last - 50);
      last = now;
    }, 50);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const { jobId } = await tracker.submitJob({ name: "queue", tasks: [{ name: "t", run: "true", count: tasks }] });
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    clearInterval(timer);
    const heapAfter = Deno.memoryUsage().heapUsed;
    gc?.();
    const usage = Deno.memoryUsage();
    const kept = usage.heapUsed - heapBefore;
    console.log(
      `${tasks} tasks: submit ${seconds.toFixed(2)} s (CPU ${
        ((cpu.user + cpu.system) / 1e6).toFixed(2)
      } s), worst event-loop lateness ${worst.toFixed(0)} ms, rss ${
        (usage.rss / 1e6).toFixed(0)
      } MB (peak ${peakRss()} MB)` +
        (gc
          ? `, heap kept ${(kept / tasks).toFixed(0)} B/task, garbage >= ${
            ((heapAfter - usage.heapUsed) / tasks).toFixed(0)
          } B/task`
          : "") +
        ` (${jobId})`,
    );
    await tracker.close();
    await store.releaseLease({ holder: lease.holder, epoch: lease.epoch }).catch(() => {});
    await store.close();
  }
} finally {
  await server.stop();
}

/** The process's peak resident set so far, in MB (Linux's VmHWM). */
function peakRss(): string {
  const match = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
  return match ? (Number(match[1]) / 1000).toFixed(0) : "?";
}
