import assert from "node:assert/strict";
import { join } from "node:path";
import { FabricError } from "../protocol/mod.ts";
import { withTempDir } from "./_testing.ts";
import { otherGid, setprivIds } from "./_setpriv_ids.ts";
import {
  createSystemUser,
  dropPrivileges,
  handOverTaskDir,
  lookUpUser,
  reclaimTaskDir,
  resolveTaskUser,
  standbySwitch,
  type TaskUser,
  unreachablePathEntries,
  unreachableReason,
} from "./task_user.ts";

const ROOT = Deno.uid() === 0;
const HAS_USERADD = ["/usr/sbin/useradd", "/sbin/useradd"].some((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});

/** A user that exists, for the ownership tests: nobody's ids where the machine has it. */
async function someUser(): Promise<TaskUser> {
  const nobody = await lookUpUser("nobody");
  assert.ok(nobody, "this machine has a nobody user");
  return { name: "nobody", ...nobody, setpriv: "/usr/bin/setpriv" };
}

Deno.test("an agent not running as root runs tasks as itself, and a --task-user there is refused", async () => {
  assert.equal(await resolveTaskUser(undefined, 1000), null);
  await assert.rejects(
    resolveTaskUser("fabric-task", 1000),
    (error: Error) => error instanceof FabricError && /needs an agent running as root.*uid 1000/.test(error.message),
  );
});

Deno.test({
  name: "an agent running as root never gets root, or a user that does not exist, as its task user",
  ignore: !ROOT,
  fn: async () => {
    await assert.rejects(resolveTaskUser("root"), /has uid 0 and gid 0: tasks must not run as root/);
    await assert.rejects(resolveTaskUser("no-such-user-fabric"), /there is no user "no-such-user-fabric"/);
    const user = await resolveTaskUser(undefined);
    assert.ok(user && user.name === "fabric-task" && user.uid !== 0 && user.gid !== 0);
  },
});

Deno.test({
  name: "a missing task user is created as Debian creates system users: system uid, own group, no home, no login",
  ignore: !ROOT || !HAS_USERADD,
  fn: async () => {
    const name = `fabrictest${crypto.randomUUID().slice(0, 8)}`;
    try {
      await createSystemUser(name);
      const passwd = (await Deno.readTextFile("/etc/passwd")).split("\n").find((line) => line.startsWith(`${name}:`));
      assert.ok(passwd, "in /etc/passwd");
      const [, , uid, gid, , home, shell] = passwd.split(":");
      assert.ok(Number(uid) > 0 && Number(uid) < 1000, `a system uid: ${uid}`);
      const group = (await Deno.readTextFile("/etc/group")).split("\n").find((line) => line.startsWith(`${name}:`));
      assert.equal(group?.split(":")[2], gid, "a group of its own");
      assert.equal(home, "/nonexistent");
      await assert.rejects(Deno.stat(home), "no home made");
      assert.match(shell, /nologin$|false$/);
      await createSystemUser(name); // already there (another agent made it): fine
    } finally {
      await new Deno.Command("userdel", { args: [name], stdout: "null", stderr: "null" }).output();
    }
  },
});

/** The real, effective, saved and file ids (uid, gid) of a program run with `argv` before it. */
async function idsUnder(argv: string[]): Promise<{ uid: string[]; gid: string[]; groups: string }> {
  const [program, ...args] = argv;
  const out = await new Deno.Command(program, { args: [...args, "cat", "/proc/self/status"], stdout: "piped" })
    .output();
  assert.ok(out.success);
  const status = new TextDecoder().decode(out.stdout);
  const line = (name: string) => status.match(new RegExp(`^${name}:[ \\t]*(.*)$`, "m"))![1].trim();
  return { uid: line("Uid").split(/\s+/), gid: line("Gid").split(/\s+/), groups: line("Groups") };
}

Deno.test({
  name:
    "setpriv is told the task user's ids by names that resolve to exactly them, else by number, and sets the same ids",
  ignore: !ROOT,
  fn: async () => {
    const user = (await resolveTaskUser(undefined))!;
    const ids = user.setprivIds!;
    // Names: setpriv's own lookup ends at /etc/passwd and /etc/group, not at the next source.
    assert.equal(ids.user, user.name);
    const groups = (await Deno.readTextFile("/etc/group")).split("\n").map((line) => line.split(":"));
    assert.equal(ids.group, groups.find((fields) => fields[2] === String(user.gid))![0]);
    const other = groups.find((fields) => fields[2] === String(otherGid(user.gid)));
    assert.equal(ids.otherGroup, other ? other[0] : String(otherGid(user.gid)));
    // A gid no group has, and a user not resolved through the database: their numbers.
    const unnamed = await setprivIds({ name: user.name, uid: user.uid, gid: 2_000_000_123 }, false);
    assert.equal(unnamed.user, String(user.uid));
    assert.equal(unnamed.group, "2000000123");

    // By name or by number, the same ids: all four of each, no supplementary groups.
    const numbers = { ...user, setprivIds: undefined };
    const uids = Array(4).fill(String(user.uid));
    const gids = Array(4).fill(String(user.gid));
    for (const who of [user, numbers]) {
      assert.deepEqual(await idsUnder(dropPrivileges(who)), { uid: uids, gid: gids, groups: "" });
      const waiting = await idsUnder(standbySwitch(who));
      assert.deepEqual(waiting.uid, uids);
      const held = String(otherGid(user.gid));
      assert.deepEqual(waiting.gid, [String(user.gid), held, held, held]);
    }
  },
});

Deno.test({
  name: "a task's directory is handed over without following a link in it, and taken back the same way",
  ignore: !ROOT,
  fn: async () => {
    const user = await someUser();
    await withTempDir(async (dir) => {
      const task = join(dir, "task");
      const target = join(dir, "agent-secret");
      await Deno.writeTextFile(target, "secret");
      await Deno.mkdir(join(task, ".fabric", "needs"), { recursive: true });
      await Deno.writeTextFile(join(task, ".fabric", "needs", "a.json"), "{}");
      await Deno.mkdir(join(task, "src", "deep", "er"), { recursive: true });
      await Deno.writeTextFile(join(task, "src", "deep", "er", "file"), "x");
      await Deno.symlink(target, join(task, "src", "link"));

      await handOverTaskDir(task, user);
      for (
        const path of [task, ".fabric", ".fabric/needs", ".fabric/needs/a.json", "src/deep/er", "src/deep/er/file"]
      ) {
        const info = Deno.lstatSync(path.startsWith("/") ? path : join(task, path));
        assert.deepEqual([info.uid, info.gid], [user.uid, user.gid], path);
      }
      assert.equal(Deno.lstatSync(join(task, "src", "link")).uid, 0, "the link is left as it is");
      assert.equal(Deno.statSync(target).uid, 0, "and what it points to is not the user's");

      // The task plants a link where the agent will look, to a file the agent owns.
      await Deno.remove(join(task, ".fabric"), { recursive: true });
      await Deno.symlink(target, join(task, ".fabric"));
      await Deno.chown(target, user.uid, user.gid);
      reclaimTaskDir(task);
      assert.equal(Deno.lstatSync(task).uid, 0);
      assert.equal(Deno.lstatSync(join(task, ".fabric")).uid, 0, "the link itself is the agent's");
      assert.equal(Deno.statSync(target).uid, user.uid, "what it points to did not change hands");
    });
  },
});

Deno.test("a directory behind a parent the task user cannot pass is named, with its mode", async () => {
  const user = await someUser();
  await withTempDir(async (dir) => {
    const closed = join(dir, "closed");
    const open = join(dir, "open");
    await Deno.mkdir(join(closed, "work"), { recursive: true });
    await Deno.mkdir(join(open, "work"), { recursive: true });
    await Deno.chmod(dir, 0o711);
    await Deno.chmod(closed, 0o700);
    await Deno.chmod(open, 0o711);
    assert.equal(
      unreachableReason(join(closed, "work"), user),
      `"${closed}" (mode 700) does not let the task user "nobody" through`,
    );
    assert.equal(unreachableReason(join(open, "work"), user), null);
  });
});

Deno.test("PATH entries the task user cannot search, itself or through a parent, are named; others are not", async () => {
  const user = await someUser();
  await withTempDir(async (dir) => {
    const open = join(dir, "open");
    const shut = join(dir, "shut");
    const behind = join(dir, "private", "bin");
    await Deno.mkdir(open);
    await Deno.mkdir(shut);
    await Deno.mkdir(behind, { recursive: true });
    await Deno.chmod(dir, 0o711);
    await Deno.chmod(open, 0o755);
    await Deno.chmod(shut, 0o700);
    await Deno.chmod(join(dir, "private"), 0o700);
    await Deno.chmod(behind, 0o755);
    const path = [open, shut, behind, join(dir, "missing"), "relative/bin", shut].join(":");
    assert.deepEqual(unreachablePathEntries(path, user), [
      `"${shut}": "${shut}" (mode 700) does not let the task user "nobody" through`,
      `"${behind}": "${join(dir, "private")}" (mode 700) does not let the task user "nobody" through`,
    ]);
  });
});
