/** Checkouts against real git servers on loopback: git daemon, and git http-backend behind basic auth. */
import assert from "node:assert/strict";
import { basename, dirname, join } from "node:path";
import { checkoutRepo, GitError, type GitErrorKind, GitMirrors } from "./git.ts";
import {
  everyArgv,
  fixtureGit,
  freePort,
  Origin,
  startDaemon,
  startHangingServer,
  startHttpServer,
} from "../../testing/git_servers.ts";
import { lacks } from "../../testing/machine.ts";

const USER = "alice-fabric";
const PASSWORD = "s3cret-Pa55word";
const BASIC = btoa(`${USER}:${PASSWORD}`);

async function setup() {
  const root = await Deno.makeTempDir({ prefix: "fabric-git-test-" });
  const origin = await Origin.create(root, "origin");
  const first = await origin.commit({ "README": "one\n" }, "one");
  await origin.tag("v1", first);
  const second = await origin.commit({ "README": "two\n", "extra.txt": "extra\n" }, "two");
  const third = await origin.commit({ "README": "three\n" }, "three");
  const logs: string[] = [];
  let checkouts = 0;
  const mirrors = new GitMirrors(join(root, "cache"));
  const checkout = (repo: string, ref: string, options: CheckoutExtras = {}) =>
    checkoutRepo({
      mirrors,
      source: { repo, ref, depth: options.depth ?? null },
      dest: join(root, `checkout-${checkouts++}`),
      log: (line) => logs.push(line),
      deadline: performance.now() + (options.timeoutMs ?? 30_000),
      signal: options.signal,
      allowLocal: options.allowLocal,
      protectedDirs: options.protectedDirs,
    });
  const cleanup = () => Deno.remove(root, { recursive: true });
  return { root, origin, commits: [first, second, third], logs, mirrors, checkout, cleanup };
}

interface CheckoutExtras {
  depth?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  allowLocal?: boolean;
  protectedDirs?: string[];
}

/** The GitError the checkout fails with, within `withinMs` (a checkout that hangs fails the test instead). */
async function rejectsWith(promise: Promise<unknown>, kind: GitErrorKind, withinMs = 60_000): Promise<GitError> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the checkout did not end within ${withinMs} ms`)), withinMs);
  });
  try {
    await Promise.race([promise, late]);
  } catch (error) {
    clearTimeout(timer);
    assert.ok(error instanceof GitError, `expected a GitError, got ${error}`);
    assert.equal(error.kind, kind, error.message);
    return error;
  }
  clearTimeout(timer);
  assert.fail(`expected a GitError of kind ${kind}`);
}

const read = (dir: string, path: string) => Deno.readTextFile(join(dir, path));

Deno.test({
  name: "a branch, a tag, a commit sha and HEAD are each checked out detached at their commit",
  ignore: lacks("git"),
}, async () => {
  const { root, commits, checkout, cleanup } = await setup();
  const daemon = await startDaemon(root);
  try {
    const url = daemon.url("origin");
    const branch = await checkout(url, "main");
    assert.equal(branch.commit, commits[2]);
    assert.equal(await read(branch.dir, "README"), "three\n");
    assert.equal(await fixtureGit(["rev-parse", "--abbrev-ref", "HEAD"], branch.dir), "HEAD", "detached");
    assert.equal(await fixtureGit(["status", "--porcelain"], branch.dir), "");
    assert.equal(await fixtureGit(["remote", "get-url", "origin"], branch.dir), url);

    const tag = await checkout(url, "v1");
    assert.equal(tag.commit, commits[0], "an annotated tag is peeled to its commit");
    assert.equal(await read(tag.dir, "README"), "one\n");
    assert.equal(await fixtureGit(["describe", "--tags"], tag.dir), "v1");

    const sha = await checkout(url, commits[1]);
    assert.equal(sha.commit, commits[1]);
    assert.equal(await read(sha.dir, "extra.txt"), "extra\n");

    const head = await checkout(url, "HEAD");
    assert.equal(head.commit, commits[2]);

    // The objects are borrowed from the mirror, not copied.
    assert.equal((await read(sha.dir, ".git/objects/info/alternates")).trim(), sha.readPaths[0]);
    const own = await fixtureGit(["count-objects", "-v"], sha.dir);
    assert.match(own, /^count: 0$/m);
    assert.match(own, /^in-pack: 0$/m);
  } finally {
    await daemon.stop();
    await cleanup();
  }
});

Deno.test({
  name: "the second checkout of a repository downloads nothing, and a commit the mirror holds needs no server",
  ignore: lacks("git"),
}, async () => {
  const { root, commits, checkout, cleanup } = await setup();
  const http = startHttpServer(root, { username: USER, password: PASSWORD });
  try {
    const url = http.url("origin", `${USER}:${PASSWORD}`);
    const first = await checkout(url, "main");
    assert.equal(first.fetched, true);
    assert.equal(http.stats.fetches, 1);
    const mirror = dirname(first.readPaths[0]);
    const objects = await fixtureGit(["--git-dir", mirror, "count-objects", "-v"], root);

    const second = await checkout(url, "main");
    assert.equal(second.commit, commits[2]);
    assert.equal(http.stats.fetches, 1, "the server was asked for refs, not for objects");
    assert.equal(await fixtureGit(["--git-dir", mirror, "count-objects", "-v"], root), objects, "nothing was added");

    const requests = http.stats.requests;
    const known = await checkout(url, commits[1]);
    assert.equal(known.commit, commits[1]);
    assert.equal(known.fetched, false);
    assert.equal(http.stats.requests, requests, "no request at all");
    assert.equal(await read(known.dir, "README"), "two\n");
  } finally {
    await http.stop();
    await cleanup();
  }
});

Deno.test({
  name: "a commit pushed to the origin is seen by the next checkout",
  ignore: lacks("git"),
}, async () => {
  const { root, origin, checkout, cleanup } = await setup();
  const daemon = await startDaemon(root);
  try {
    const url = daemon.url("origin");
    await checkout(url, "main");
    const fourth = await origin.commit({ "README": "four\n" }, "four");
    const next = await checkout(url, "main");
    assert.equal(next.commit, fourth);
    assert.equal(await read(next.dir, "README"), "four\n");
  } finally {
    await daemon.stop();
    await cleanup();
  }
});

Deno.test({
  name: "depth 1 fetches and checks out only the tip, and a later full checkout gets the whole history",
  ignore: lacks("git"),
}, async () => {
  const { root, commits, checkout, cleanup } = await setup();
  const daemon = await startDaemon(root);
  try {
    const url = daemon.url("origin");
    const shallow = await checkout(url, "main", { depth: 1 });
    assert.equal(shallow.commit, commits[2]);
    assert.equal(await read(shallow.dir, "README"), "three\n");
    assert.equal(await fixtureGit(["rev-parse", "--is-shallow-repository"], shallow.dir), "true");
    assert.equal(await fixtureGit(["rev-list", "--count", "HEAD"], shallow.dir), "1");
    const mirror = dirname(shallow.readPaths[0]);
    assert.equal(await fixtureGit(["--git-dir", mirror, "rev-list", "--all", "--count"], root), "1");

    const tag = await checkout(url, "v1", { depth: 1 });
    assert.equal(tag.commit, commits[0]);
    assert.equal(await fixtureGit(["rev-list", "--count", "HEAD"], tag.dir), "1");

    const full = await checkout(url, "main");
    assert.equal(await fixtureGit(["rev-parse", "--is-shallow-repository"], full.dir), "false");
    assert.equal(await fixtureGit(["rev-list", "--count", "HEAD"], full.dir), "3");
  } finally {
    await daemon.stop();
    await cleanup();
  }
});

Deno.test({
  name: "a wrong ref, an unknown commit and an unreachable repository give GitErrors that say so",
  ignore: lacks("git"),
}, async () => {
  const { root, mirrors, checkout, cleanup } = await setup();
  const daemon = await startDaemon(root);
  try {
    const url = daemon.url("origin");
    const wrong = await rejectsWith(checkout(url, "nope"), "ref_not_found");
    assert.equal(wrong.message, `ref "nope" not found in "${url}" (git: fatal: couldn't find remote ref nope)`);
    await rejectsWith(checkout(url, "0123456789abcdef0123456789abcdef01234567"), "ref_not_found");
    await rejectsWith(checkout(url, "main:refs/heads/other"), "invalid");

    const missing = await rejectsWith(checkout(daemon.url("missing"), "main"), "unreachable");
    assert.match(
      missing.message,
      /^Cannot fetch "git:\/\/127\.0\.0\.1:\d+\/missing\.git": the repository is unreachable/,
    );
    assert.match(missing.message, /\(git: fatal: remote error: access denied or repository not exported/);
    const closed = await rejectsWith(checkout(`git://127.0.0.1:${freePort()}/origin.git`, "main"), "unreachable");
    assert.match(closed.message, /Connection refused/);

    // A failed checkout leaves nothing behind, and a non-empty directory is never used.
    const names = [];
    for await (const entry of Deno.readDir(root)) names.push(entry.name);
    assert.deepEqual(names.filter((name) => name.startsWith("checkout-")), []);
    const full = join(root, "full");
    await Deno.mkdir(full);
    await Deno.writeTextFile(join(full, "keep"), "mine");
    const refused = await rejectsWith(
      checkoutRepo({ mirrors, source: { repo: url, ref: "main", depth: null }, dest: full }),
      "invalid",
    );
    assert.match(refused.message, /is not empty/);
    assert.equal(await read(full, "keep"), "mine");
  } finally {
    await daemon.stop();
    await cleanup();
  }
});

Deno.test({
  name: "credentials in the URL reach the server but never argv, logs, errors or the mirror's config",
  ignore: lacks("git"),
}, async () => {
  const { root, commits, logs, checkout, cleanup } = await setup();
  const http = startHttpServer(root, { username: USER, password: PASSWORD });
  // A `git` first on PATH that records the argv of every git command run for the checkout.
  const bin = join(root, "bin");
  const argvLog = join(root, "argv.log");
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    join(bin, "git"),
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec /usr/bin/git "$@"\n`,
    {
      mode: 0o755,
    },
  );
  const path = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", `${bin}:${path}`);
  const leaks = (text: string) => text.includes(PASSWORD) || text.includes(BASIC);
  try {
    const clean = http.url("origin");
    const result = await checkout(http.url("origin", `${USER}:${PASSWORD}`), "main");
    assert.equal(result.commit, commits[2]);
    assert.ok(http.stats.fetches >= 1, "the authenticated server served the objects");

    const argv = await Deno.readTextFile(argvLog);
    assert.match(argv, /\bfetch\b/);
    assert.ok(argv.includes(clean), "the URL went to git without its credentials");
    assert.ok(!leaks(argv), argv);
    // Read from /proc while git-remote-http waited for the server's answer.
    assert.ok(http.stats.argvSeen.some((line) => line.includes("remote-http")), "git's helper was seen");
    assert.deepEqual(http.stats.argvSeen.filter(leaks), []);

    assert.ok(logs.length > 0);
    assert.deepEqual(logs.filter(leaks), []);
    const mirror = dirname(result.readPaths[0]);
    const config = await read(mirror, "config");
    assert.ok(!leaks(config) && !config.includes(USER), config);
    assert.equal(await fixtureGit(["--git-dir", mirror, "config", "remote.origin.url"], root), clean);
    assert.ok(!leaks(await read(result.dir, ".git/config")));

    const wrongPassword = "wr0ng-Passw0rd";
    const refused = await rejectsWith(checkout(http.url("origin", `${USER}:${wrongPassword}`), "main"), "auth");
    assert.match(refused.message, /authentication failed/);
    assert.ok(!refused.message.includes(wrongPassword) && !refused.message.includes(USER), refused.message);
    await rejectsWith(checkout(clean, "main"), "auth");
    const unreachable = await rejectsWith(
      checkout(`http://${USER}:${PASSWORD}@127.0.0.1:${freePort()}/origin.git`, "main"),
      "unreachable",
    );
    assert.match(unreachable.message, /"http:\/\/\*\*\*@127\.0\.0\.1:\d+\/origin\.git"/);
    assert.ok(!leaks(unreachable.message));
    assert.deepEqual(logs.filter(leaks), []);
  } finally {
    Deno.env.set("PATH", path);
    await http.stop();
    await cleanup();
  }
});

Deno.test({
  name: "two checkouts of one repository at once share one download",
  ignore: lacks("git"),
}, async () => {
  const { root, commits, checkout, cleanup } = await setup();
  const http = startHttpServer(root, { username: USER, password: PASSWORD });
  try {
    const url = http.url("origin", `${USER}:${PASSWORD}`);
    const both = await Promise.all([checkout(url, "main"), checkout(url, "v1")]);
    assert.deepEqual(both.map((result) => result.commit), [commits[2], commits[0]]);
    assert.equal(await read(both[1].dir, "README"), "one\n");
    assert.equal(http.stats.fetches, 1, "the second waited for the first, then found everything in the mirror");
  } finally {
    await http.stop();
    await cleanup();
  }
});

Deno.test({
  name: "a mirror left broken by a crash is re-created",
  ignore: lacks("git"),
}, async () => {
  const { root, origin, logs, checkout, cleanup } = await setup();
  const daemon = await startDaemon(root);
  try {
    const url = daemon.url("origin");
    const mirror = dirname((await checkout(url, "main")).readPaths[0]);

    // Half-created: an unreadable HEAD, and a temporary directory of an interrupted creation.
    await Deno.writeTextFile(join(mirror, "HEAD"), "garbage");
    await Deno.mkdir(`${mirror}.tmp-deadbeef`);
    const afterCrash = await checkout(url, "main");
    assert.equal(await read(afterCrash.dir, "README"), "three\n");
    await assert.rejects(Deno.stat(`${mirror}.tmp-deadbeef`), Deno.errors.NotFound);
    assert.ok(logs.some((line) => line.includes("is damaged; re-creating it")), logs.join("\n"));

    // A lock file a killed fetch left behind.
    const fourth = await origin.commit({ "README": "four\n" }, "four");
    await Deno.writeTextFile(join(mirror, "refs", "heads", "main.lock"), "");
    assert.equal((await checkout(url, "main")).commit, fourth);

    // Objects lost: the fetch sees they are missing and downloads them again.
    for await (const entry of Deno.readDir(join(mirror, "objects"))) {
      if (/^([0-9a-f]{2}|pack)$/.test(entry.name)) {
        await Deno.remove(join(mirror, "objects", entry.name), { recursive: true });
      }
    }
    const afterLoss = await checkout(url, "main");
    assert.equal(afterLoss.commit, fourth);
    assert.equal(await read(afterLoss.dir, "README"), "four\n");

    // Damage that only using the mirror shows, and that git does not repair.
    await Deno.writeTextFile(join(mirror, "packed-refs"), "garbage\n");
    const afterDamage = await checkout(url, "main");
    assert.equal(await read(afterDamage.dir, "README"), "four\n");
    assert.ok(logs.some((line) => line.includes("re-creating the mirror and trying again")), logs.join("\n"));
  } finally {
    await daemon.stop();
    await cleanup();
  }
});

Deno.test({
  name: "a git command that hangs is killed at the deadline",
  ignore: lacks("git"),
}, async () => {
  const { root, checkout, cleanup } = await setup();
  const server = startHangingServer();
  try {
    const started = performance.now();
    // Bounds for a loaded machine; without a deadline the checkout would wait 15 minutes.
    const error = await rejectsWith(checkout(server.url, "main", { timeoutMs: 1000 }), "timeout", 15_000);
    assert.ok(performance.now() - started < 15_000);
    assert.match(error.message, /did not finish within 1s/);
    assert.equal(server.accepted, 1);
    assert.deepEqual((await everyArgv()).filter((argv) => argv.includes(root)), [], "no git is left running");
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test({
  name: "a cancelled checkout ends at once with no git left, also one waiting for another checkout of the repository",
  ignore: lacks("git"),
}, async () => {
  const { root, checkout, cleanup } = await setup();
  const server = startHangingServer();
  try {
    const first = new AbortController();
    const second = new AbortController();
    // Each would otherwise run to its 30 s deadline (a "timeout"), past the 15 s the test gives it.
    const fetching = checkout(server.url, "main", { signal: first.signal });
    await until(() => server.accepted === 1);
    const waiting = checkout(server.url, "main", { signal: second.signal });
    second.abort();
    const error = await rejectsWith(waiting, "cancelled", 15_000);
    assert.match(error.message, /waiting for another checkout of it\): the task was cancelled/);
    assert.equal(server.open, 1, "the first checkout went on");

    first.abort();
    await rejectsWith(fetching, "cancelled", 15_000);
    await until(() => server.open === 0);
    assert.deepEqual((await everyArgv()).filter((argv) => argv.includes(root)), [], "no git is left running");
    const names = [...Deno.readDirSync(root)].map((entry) => entry.name);
    assert.deepEqual(names.filter((name) => name.startsWith("checkout-")), [], "nothing is left checked out");
  } finally {
    await server.stop();
    await cleanup();
  }
});

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`not true within ${timeoutMs} ms: ${condition}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test({
  name: "a repository on the agent's disk is refused unless the agent allows local repositories",
  ignore: lacks("git"),
}, async () => {
  const { origin, commits, checkout, cleanup } = await setup();
  try {
    for (const repo of [origin.bare, `file://${origin.bare}`, origin.bare.replace(/\.git$/, "")]) {
      const refused = await rejectsWith(checkout(repo, "main"), "invalid");
      assert.match(refused.message, /on the agent's own disk, and this agent does not allow local repositories/);
      assert.match(refused.message, /--allow-local-git/);
    }
    for (const repo of ["ext::sh -c 'touch pwned'", "-uhelp", "relative/repo.git", "ftp://127.0.0.1/r.git"]) {
      await rejectsWith(checkout(repo, "main", { allowLocal: true }), "invalid");
    }
    const allowed = await checkout(`file://${origin.bare}`, "main", { allowLocal: true });
    assert.equal(allowed.commit, commits[2]);
  } finally {
    await cleanup();
  }
});

Deno.test({
  name: "with local repositories allowed, no path reaches a mirror or the agent's data directory",
  ignore: lacks("git"),
}, async () => {
  const { root, origin, commits, checkout, cleanup } = await setup();
  const http = startHttpServer(root, { username: USER, password: PASSWORD });
  try {
    // A private repository, fetched with its credentials into the cache.
    const mirror = dirname((await checkout(http.url("origin", `${USER}:${PASSWORD}`), "main")).readPaths[0]);
    const dataDir = join(root, "agent");
    await Deno.mkdir(dataDir);
    await fixtureGit(["clone", "--quiet", "--bare", origin.bare, join(dataDir, "copy.git")], root);
    await Deno.symlink(mirror, join(root, "link.git"));
    await Deno.symlink(join(root, "cache"), join(root, "cache-link"));
    // A repository of its own that borrows the mirror's objects, and a `.git` file pointing at the mirror.
    const borrower = join(root, "borrower.git");
    await fixtureGit(["init", "--quiet", "--bare", borrower], root);
    await Deno.writeTextFile(join(borrower, "objects", "info", "alternates"), `${join(mirror, "objects")}\n`);
    await fixtureGit(["--git-dir", borrower, "update-ref", "refs/heads/main", commits[2]], root);
    const pointer = join(root, "pointer");
    await Deno.mkdir(pointer);
    await Deno.writeTextFile(join(pointer, ".git"), `gitdir: ${mirror}\n`);

    const attempts = [
      mirror,
      mirror.replace(/\.git$/, ""), // git tries the name with .git appended
      `file://${mirror}`,
      `file://${mirror.replaceAll("/", "%2F").replace("%2F", "/")}`,
      join(root, "link.git"),
      join(root, "cache-link", basename(mirror)),
      borrower,
      pointer,
      join(dataDir, "copy.git"),
    ];
    for (const repo of attempts) {
      const refused = await rejectsWith(
        checkout(repo, commits[1], { allowLocal: true, protectedDirs: [dataDir] }),
        "invalid",
      );
      assert.match(refused.message, /reads from the agent's data directory, which no task may use/, repo);
    }
    const names = [...Deno.readDirSync(root)].map((entry) => entry.name);
    assert.equal(names.filter((name) => name.startsWith("checkout-")).length, 1, "only the first checkout is there");
  } finally {
    await http.stop();
    await cleanup();
  }
});

Deno.test({
  name: "git itself refuses a path that the agent's configuration puts behind a network URL",
  ignore: lacks("git"),
}, async () => {
  const { root, origin, logs, checkout, cleanup } = await setup();
  const config = join(root, "gitconfig");
  await Deno.writeTextFile(config, `[url "${origin.bare}"]\n\tinsteadOf = https://example.invalid/app.git\n`);
  const previous = Deno.env.get("GIT_CONFIG_GLOBAL");
  Deno.env.set("GIT_CONFIG_GLOBAL", config);
  try {
    const refused = await rejectsWith(checkout("https://example.invalid/app.git", "main"), "invalid");
    assert.match(refused.message, /git refused to reach it \(git: fatal: transport 'file' not allowed\)/);
    assert.ok(!logs.some((line) => line.includes("re-creating")), "not taken for a damaged mirror");
  } finally {
    if (previous === undefined) Deno.env.delete("GIT_CONFIG_GLOBAL");
    else Deno.env.set("GIT_CONFIG_GLOBAL", previous);
    await cleanup();
  }
});

Deno.test({
  name: "a checkout without the credentials gets nothing another credential fetched: not by commit, not by ref",
  ignore: lacks("git"),
}, async () => {
  const { root, commits, checkout, cleanup } = await setup();
  const http = startHttpServer(root, { username: USER, password: PASSWORD });
  try {
    const withCredentials = http.url("origin", `${USER}:${PASSWORD}`);
    const first = await checkout(withCredentials, "main");
    const mirror = dirname(first.readPaths[0]);

    const anonymous = http.url("origin");
    const unauthorized = http.stats.unauthorized;
    await rejectsWith(checkout(anonymous, commits[1]), "auth");
    await rejectsWith(checkout(anonymous, "main"), "auth");
    await rejectsWith(checkout(http.url("origin", `${USER}:wr0ng`), commits[0]), "auth");
    assert.ok(http.stats.unauthorized >= unauthorized + 3, "each asked the server, which refused");

    // The same credentials still share their mirror: a commit it holds needs no server.
    const requests = http.stats.requests;
    const again = await checkout(withCredentials, commits[1]);
    assert.equal(again.fetched, false);
    assert.equal(dirname(again.readPaths[0]), mirror);
    assert.equal(http.stats.requests, requests);
  } finally {
    await http.stop();
    await cleanup();
  }
});

Deno.test({
  name: "mirrors named before keyed mirrors (by the URL alone) are removed, never reused",
  ignore: lacks("git"),
}, async () => {
  const { root, origin, commits, checkout, cleanup } = await setup();
  const http = startHttpServer(root, { username: USER, password: PASSWORD });
  try {
    // What an agent of dd1371b left after a checkout with credentials: a mirror named by the plain URL.
    const anonymous = http.url("origin");
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(anonymous)));
    const oldName = `${Array.from(digest.slice(0, 16), (b) => b.toString(16).padStart(2, "0")).join("")}.git`;
    const cache = join(root, "cache");
    await Deno.mkdir(cache);
    await fixtureGit(["clone", "--quiet", "--mirror", origin.bare, join(cache, oldName)], root);
    await fixtureGit(["--git-dir", join(cache, oldName), "config", "remote.origin.url", anonymous], root);
    await Deno.writeTextFile(join(cache, "mirrors.key.tmp-deadbeef"), "half");

    await rejectsWith(checkout(anonymous, commits[1]), "auth");
    await assert.rejects(Deno.stat(join(cache, oldName)), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(join(cache, "mirrors.key.tmp-deadbeef")), Deno.errors.NotFound);
    const key = await Deno.stat(join(cache, "mirrors.key"));
    assert.equal(key.mode! & 0o777, 0o600);
  } finally {
    await http.stop();
    await cleanup();
  }
});
