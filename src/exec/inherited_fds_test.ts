import assert from "node:assert/strict";
import { closeInheritedOnExec } from "./inherited_fds.ts";

/** A descriptor as a parent would leave one: open, not close-on-exec (dup of stdin, through libc). */
function inheritable(): { fd: number; close(): void } {
  const libc = Deno.dlopen("libc.so.6", {
    dup: { parameters: ["i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  });
  const fd = libc.symbols.dup(0);
  assert.ok(fd > 2, "dup gave a descriptor");
  return {
    fd,
    close: () => {
      libc.symbols.close(fd);
      libc.close();
    },
  };
}

async function childDescriptors(): Promise<string[]> {
  const out = await new Deno.Command("sh", { args: ["-c", "ls /proc/$$/fd"], stdin: "null" }).output();
  return new TextDecoder().decode(out.stdout).trim().split("\n");
}

for (const closeRange of [true, false]) {
  Deno.test(`a descriptor this process inherited reaches no program it starts (${closeRange ? "close_range" : "fcntl"})`, async () => {
    const open = inheritable();
    try {
      assert.ok((await childDescriptors()).includes(String(open.fd)), "a child gets it as things are");
      assert.equal(closeInheritedOnExec({ closeRange }), null);
      assert.ok(!(await childDescriptors()).includes(String(open.fd)), "no child gets it once marked");
      assert.ok(Deno.readLinkSync(`/proc/self/fd/${open.fd}`), "it is still open here");
    } finally {
      open.close();
    }
  });
}
