/**
 * `addon.yaml`, the manifest of an add-on: its name, version, description, the JSON Schema of its
 * parameters, and how it runs (`run:` an argv list or a line for `sh`; or `script:` a TypeScript module
 * of its folder). Parsed strictly: a typo is a reason to skip the add-on, not a silent no-op.
 */
import { z } from "zod";
import {
  addonNameSchema,
  addonVersionSchema,
  describeIssue,
  MAX_RUN_BYTES,
  parametersSchemaSchema,
  textSchema,
} from "../protocol/mod.ts";
import { compileParameters } from "../protocol/parameters.ts";
import type { AddonRun } from "../exec/mod.ts";

/** A path inside the add-on's folder: relative, no "." or ".." part. */
const relativePathSchema = textSchema().min(1).max(1024).refine(
  (path) => !path.startsWith("/") && path.split("/").every((part) => part !== "" && part !== "." && part !== ".."),
  `must be a path inside the add-on's folder (relative, without "." or "..")`,
);

export const addonManifestSchema = z.strictObject({
  name: addonNameSchema,
  version: addonVersionSchema,
  description: textSchema().max(1000).optional(),
  /** The JSON Schema of `with:`; by default no parameters at all. */
  parameters: parametersSchemaSchema.superRefine((schema, ctx) => {
    try {
      compileParameters(schema);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
    }
  }).optional(),
  run: z.union([
    textSchema(MAX_RUN_BYTES).min(1, "must not be empty"),
    z.array(textSchema().min(1, "must not be empty").max(4096)).min(1).max(256),
  ]).optional(),
  script: relativePathSchema.refine((path) => /\.(ts|js|mjs)$/.test(path), "must name a .ts, .js or .mjs file")
    .optional(),
}).superRefine((manifest, ctx) => {
  if ((manifest.run === undefined) === (manifest.script === undefined)) {
    ctx.addIssue({
      code: "custom",
      message: 'needs exactly one of "run" (a command) and "script" (a TypeScript module)',
    });
  }
});

export interface AddonManifest {
  name: string;
  version: string;
  description: string;
  parameters: Record<string, unknown>;
  run: AddonRun;
}

/** No parameters: `with:` must be empty or absent. */
const NO_PARAMETERS = { type: "object", additionalProperties: false };

/** The manifest from its YAML data, or the reasons it is not one (each naming its field). */
export function readManifest(raw: unknown): { manifest: AddonManifest } | { problems: string[] } {
  const parsed = addonManifestSchema.safeParse(raw);
  if (!parsed.success) return { problems: parsed.error.issues.map((issue) => describeIssue(issue, raw)) };
  const m = parsed.data;
  const run: AddonRun = m.script !== undefined
    ? { script: m.script }
    : typeof m.run === "string"
    ? { shell: m.run }
    : { argv: m.run! };
  return {
    manifest: {
      name: m.name,
      version: m.version,
      description: m.description ?? "",
      parameters: m.parameters ?? NO_PARAMETERS,
      run,
    },
  };
}
