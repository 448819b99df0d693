/** An add-on as an agent loaded it (agent/addon_loader.ts): what the `addon` driver runs. */

/** How an add-on runs: an argv (`{addon}` stands for its folder), a line for `sh`, or a TypeScript module of its own. */
export type AddonRun = { argv: string[] } | { shell: string } | { script: string };

export interface AddonFile {
  /** Relative to the add-on's folder, with "/" between parts; no "." or ".." part. */
  path: string;
  data: Uint8Array;
  executable: boolean;
}

/** One add-on as the agent loaded it. */
export interface LoadedAddon {
  name: string;
  version: string;
  description: string;
  /** The JSON Schema its `with:` must fit (already compiled once: it is one). */
  parameters: Record<string, unknown>;
  run: AddonRun;
  files: AddonFile[];
}
