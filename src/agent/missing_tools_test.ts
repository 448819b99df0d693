import assert from "node:assert/strict";
import { missingToolLines } from "./missing_tools.ts";

const everything = { sandbox: true, sandboxError: null, cgroup: "v2" as const, deno: "/usr/bin/deno", git: true };
const linux = { os: "linux", bwrapInPath: true };

Deno.test("an agent that has every tool says nothing about them", () => {
  assert.deepEqual(missingToolLines(everything, linux), []);
});

Deno.test("each missing tool is one line: the tasks not placed here and the command that installs it", () => {
  const lines = missingToolLines(
    { ...everything, sandbox: false, sandboxError: "not found", deno: null, git: false },
    { os: "linux", bwrapInPath: false },
  );
  assert.deepEqual(lines, [
    'bubblewrap is not installed ("bwrap" is not in PATH): sandboxed tasks (the default) will not be placed on this ' +
    "agent; install it: sudo apt-get install bubblewrap (Fedora: sudo dnf install bubblewrap), then restart the agent",
    "git is not installed: git tasks will not be placed on this agent; install it: sudo apt-get install git " +
    "(Fedora: sudo dnf install git), then restart the agent",
    "deno is not in PATH: script tasks will not be placed on this agent; install it: npm install -g deno@2.9.6, so " +
    "that deno is on the agent's PATH, then restart the agent",
  ]);
});

Deno.test("bubblewrap that is there but fails says why; on macOS, what the agent can run instead", () => {
  const failing = { ...everything, sandbox: false, sandboxError: "bwrap: No permissions to create new namespace" };
  assert.deepEqual(missingToolLines(failing, linux), [
    "bubblewrap does not work here (bwrap: No permissions to create new namespace): sandboxed tasks (the default) " +
    "will not be placed on this agent",
  ]);
  assert.deepEqual(missingToolLines(failing, { os: "darwin", bwrapInPath: false }), [
    "bubblewrap does not exist on macOS: sandboxed tasks (the default) will not be placed on this agent; this agent " +
    'runs only tasks that set "sandbox: false", when started with --allow-unsandboxed',
  ]);
});
