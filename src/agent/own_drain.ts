/**
 * An agent stopping drains itself on the tracker, and leaves once its tasks are done. Killed in
 * between (kill -9, a power loss), or with the tracker away when it leaves, it would come back still
 * draining, taking no work until someone resumes it. A marker in its data directory, from the drain
 * until the leave, tells its next start to end that drain (its own only: an admin's drain stays).
 */
import { join } from "node:path";

function markerPath(dataDir: string): string {
  return join(dataDir, "draining-itself");
}

export async function markOwnDrain(dataDir: string): Promise<void> {
  await Deno.writeTextFile(markerPath(dataDir), `${new Date().toISOString()}\n`, { mode: 0o600 });
}

export async function hadOwnDrain(dataDir: string): Promise<boolean> {
  try {
    return (await Deno.lstat(markerPath(dataDir))).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

export async function clearOwnDrain(dataDir: string): Promise<void> {
  await Deno.remove(markerPath(dataDir)).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}
