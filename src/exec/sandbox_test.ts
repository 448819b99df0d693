import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_PERMISSIONS, type Permissions } from "../protocol/mod.ts";
import { descendantPids, isAlive } from "./process_tree.ts";
import { bash, run, sandbox, start, waitFor, withCommandLine, withTempDir } from "./_testing.ts";
import { bwrapArgs } from "./sandbox.ts";
import { lacks } from "../../testing/machine.ts";

function indexOfMount(args: string[], flag: string, path: string): number {
  return args.findIndex((arg, i) => arg === flag && args[i + 1] === path);
}

Deno.test("bwrap arguments: isolation flags, then system, then /tmp, then permission binds, masks, and the task's own paths", async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, "agent");
    const workDir = join(data, "work", "t1");
    const shared = join(dir, "shared");
    await Deno.mkdir(workDir, { recursive: true });
    await Deno.mkdir(join(shared, "out"), { recursive: true });
    const args = bwrapArgs({
      workDir,
      hide: [data],
      extraReadPaths: [join(data, "cache")],
      permissions: { ...DEFAULT_PERMISSIONS, read: [shared], write: [join(shared, "out")] },
    });
    assert.equal(args[0], "bwrap");
    assert.equal(args.at(-1), "--");
    for (const flag of ["--new-session", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]) {
      assert.ok(args.includes(flag), flag);
    }
    assert.ok(args.includes("--unshare-net"));
    const usr = indexOfMount(args, "--ro-bind", "/usr");
    const tmp = indexOfMount(args, "--tmpfs", "/tmp");
    const read = indexOfMount(args, "--ro-bind", shared);
    const write = indexOfMount(args, "--bind", join(shared, "out"));
    const mask = indexOfMount(args, "--tmpfs", data);
    const work = indexOfMount(args, "--bind", workDir);
    const chdir = indexOfMount(args, "--chdir", workDir);
    assert.ok(usr >= 0 && usr < tmp, "system before the private /tmp");
    assert.ok(tmp < read && read < write, "/tmp before the permission binds, parents before children");
    assert.ok(write < mask && mask < work && work < chdir, "masks after the binds, the work dir after the masks");
    assert.equal(indexOfMount(args, "--ro-bind", join(data, "cache")), -1, "a missing extra path is skipped");
    for (const hidden of ["/root", "/home", "/srv", "/var", "/work"]) {
      assert.equal(args.indexOf(hidden), -1, hidden);
    }
  });
});

Deno.test("bwrap arguments: the host network is shared only when net is true or a non-empty list", () => {
  const args = (net: boolean | string[]) =>
    bwrapArgs({ workDir: "/tmp", hide: [], permissions: { ...DEFAULT_PERMISSIONS, net } });
  assert.ok(args(false).includes("--unshare-net"));
  assert.ok(args([]).includes("--unshare-net"));
  assert.ok(!args(true).includes("--unshare-net"));
  assert.ok(!args(["example.com:443"]).includes("--unshare-net"));
});

Deno.test("bwrap arguments: paths that do not exist are skipped without error", () => {
  const args = bwrapArgs({
    workDir: "/tmp",
    hide: ["/no/such/agent-dir"],
    permissions: { ...DEFAULT_PERMISSIONS, read: ["/no/such/read"], write: ["/no/such/write"] },
  });
  assert.ok(!args.some((arg) => arg.startsWith("/no/such")));
});

Deno.test({
  name: "a sandboxed task cannot reach a loopback port unless net lists it",
  ignore: lacks("bwrap"),
}, async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  await withTempDir(async (dir) => {
    const connect = bash(`exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected`);
    const denied = await run({ command: connect, cwd: dir, sandbox: sandbox(dir) });
    assert.equal(denied.finished.result.kind, "exited");
    assert.notEqual(denied.finished.result.kind === "exited" && denied.finished.result.code, 0);
    assert.ok(!denied.stdout.includes("connected"), denied.stdout);
    const allowed = await run({
      command: connect,
      cwd: dir,
      sandbox: sandbox(dir, { permissions: { net: [`127.0.0.1:${port}`] } }),
    });
    assert.deepEqual(allowed.finished.result, { kind: "exited", code: 0 }, allowed.stderr);
    assert.equal(allowed.stdout, "connected\n");
  });
  listener.close();
  await accepting;
});

Deno.test({
  name: "a sandboxed task writes only its directory, listed write paths and a private /tmp",
  ignore: lacks("bwrap"),
}, async () => {
  await withTempDir(async (dir) => {
    const workDir = join(dir, "work");
    const outside = join(dir, "outside");
    await Deno.mkdir(workDir);
    await Deno.mkdir(outside);
    const inside = `fabric-inside-${crypto.randomUUID()}`;
    const host = join("/tmp", `fabric-host-${crypto.randomUUID()}`);
    await Deno.writeTextFile(host, "host\n");
    const script = bash(`
      echo mine > own.txt
      if echo x > ${outside}/file 2>/dev/null; then echo wrote-outside; fi
      if echo x > /usr/fabric-test 2>/dev/null; then echo wrote-usr; fi
      if [ -e ${host} ]; then echo sees-host-tmp; fi
      echo hidden > /tmp/${inside}
    `);
    try {
      const denied = await run({ command: script, cwd: workDir, sandbox: sandbox(workDir) });
      assert.deepEqual(denied.finished.result, { kind: "exited", code: 0 }, denied.stderr);
      assert.equal(denied.stdout, "", "no write outside, no view of the host's /tmp");
    } finally {
      await Deno.remove(host);
    }
    assert.equal(await Deno.readTextFile(join(workDir, "own.txt")), "mine\n");
    await assert.rejects(Deno.stat(join(outside, "file")));
    await assert.rejects(Deno.stat(join("/tmp", inside)), "the task's /tmp is not the host's");

    const allowed = await run({
      command: bash(`echo x > ${outside}/file && echo wrote-outside`),
      cwd: workDir,
      sandbox: sandbox(workDir, { permissions: { write: [outside] } }),
    });
    assert.deepEqual(allowed.finished.result, { kind: "exited", code: 0 }, allowed.stderr);
    assert.equal(await Deno.readTextFile(join(outside, "file")), "x\n");
  });
});

Deno.test({
  name: "the agent's data directory stays hidden, and the work dir inside it works",
  ignore: lacks("bwrap"),
}, async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, "agent");
    const workDir = join(data, "work", "t1");
    await Deno.mkdir(workDir, { recursive: true });
    await Deno.writeTextFile(join(data, "agent.json"), '{"token":"secret"}');
    const ran = await run({
      command: bash(`ls ${data} || true; cat ${data}/agent.json || true; echo done > result.txt`),
      cwd: workDir,
      sandbox: sandbox(workDir, { hide: [data] }),
    });
    assert.deepEqual(ran.finished.result, { kind: "exited", code: 0 }, ran.stderr);
    assert.equal(ran.stdout, "work\n", "only the way to the task's own directory");
    assert.equal(await Deno.readTextFile(join(workDir, "result.txt")), "done\n");
  });
});

Deno.test({
  name:
    "a read or write path that is, holds, or links into a hidden directory, or leads to /proc or /, fails the start",
  ignore: lacks("bwrap"),
}, async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, "agent");
    const workDir = join(data, "work", "t1");
    const links = join(dir, "links");
    await Deno.mkdir(workDir, { recursive: true });
    await Deno.mkdir(links);
    await Deno.writeTextFile(join(data, "agent.json"), '{"token":"secret"}');
    await Deno.symlink(data, join(links, "to-data"));
    await Deno.symlink(dir, join(links, "to-parent"));
    await Deno.symlink("/proc/self", join(links, "to-proc"));
    await Deno.symlink("/", join(links, "to-root"));
    const cases: Array<[Partial<Permissions>, RegExp]> = [
      [{ read: [dir] }, /the read path ".*" exposes the agent's data directory/],
      [{ write: [dir] }, /the write path ".*" exposes the agent's data directory/],
      [{ read: [join(data, "agent.json")] }, /exposes the agent's data directory/],
      [{ read: [join(links, "to-data")] }, /resolves to ".*\/agent"\) exposes the agent's data directory/],
      [{ read: [join(links, "to-parent", "agent", "work")] }, /exposes the agent's data directory/],
      [{ read: [join(links, "to-parent", "links", "..", "agent")] }, /exposes the agent's data directory/],
      [{ read: [join(links, "to-proc")] }, /resolves to "\/proc\/\d+"\) cannot be granted: it is under \/proc/],
      [{ write: [join(links, "to-root")] }, /resolves to "\/"\) cannot be granted: it is "\/"/],
    ];
    for (const [permissions, message] of cases) {
      const ran = await run({
        command: bash("echo ran > ran.txt"),
        cwd: workDir,
        sandbox: sandbox(workDir, { hide: [data], permissions }),
      });
      assert.equal(ran.finished.result.kind, "failed_to_start", JSON.stringify(permissions));
      assert.match((ran.finished.result as { message: string }).message, message);
      await assert.rejects(Deno.stat(join(workDir, "ran.txt")), "nothing ran");
    }
  });
});

Deno.test({
  name: "background processes of a sandboxed task die with it, setsid or not",
  ignore: lacks("bwrap"),
}, async () => {
  await withTempDir(async (dir) => {
    const { execution, ran } = start({
      command: bash("setsid sleep 301 & sleep 302 & for i in $(seq 500); do [ -e go ] && break; sleep 0.01; done"),
      cwd: dir,
      sandbox: sandbox(dir),
    });
    const sleeps = await waitFor(() => {
      const found = [
        ...withCommandLine(descendantPids(execution.pid), ["sleep", "301"]),
        ...withCommandLine(descendantPids(execution.pid), ["sleep", "302"]),
      ];
      return found.length === 2 && found;
    });
    await Deno.writeTextFile(join(dir, "go"), "");
    const { finished } = await ran;
    assert.deepEqual(finished.result, { kind: "exited", code: 0 });
    const survivors = sleeps.filter(isAlive);
    assert.deepEqual(survivors.map((pid) => Deno.readTextFileSync(`/proc/${pid}/stat`)), [], `of ${sleeps}`);
  });
});

Deno.test({
  name: "a sandboxed task that times out is timed_out, gets SIGTERM first, and its whole sandbox dies",
  ignore: lacks("bwrap"),
}, async () => {
  await withTempDir(async (dir) => {
    const { execution, ran } = start({
      command: bash("trap 'echo got-term; exit 5' TERM; sleep 303 & setsid sleep 304 & wait"),
      cwd: dir,
      timeoutMs: 400,
      graceMs: 2000,
      sandbox: sandbox(dir),
    });
    const inside = await waitFor(() => {
      const found = withCommandLine(descendantPids(execution.pid), ["sleep", "303"]);
      return found.length === 1 && descendantPids(execution.pid);
    });
    const { finished, stdout } = await ran;
    assert.deepEqual(finished.result, { kind: "timed_out" });
    assert.equal(stdout, "got-term\n", "the task had its grace period");
    assert.ok(finished.durationMs < 1900, `took ${finished.durationMs} ms`);
    const survivors = [execution.pid, ...inside].filter(isAlive);
    assert.deepEqual(survivors.map((pid) => Deno.readTextFileSync(`/proc/${pid}/stat`)), [], `of ${inside}`);
  });
});
