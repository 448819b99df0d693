/** Files that hold secrets: owner-only, replaced atomically so a crash never leaves half a key. */

export async function writeSecret(path: string, content: string): Promise<void> {
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temp, content, { mode: 0o600 });
  await Deno.chmod(temp, 0o600);
  await Deno.rename(temp, path);
}
