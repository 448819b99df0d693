/**
 * Add-ons on the wire: a custom task kind an agent loads from a folder (agent/addon_loader.ts) and
 * advertises by name, version and the JSON Schema of its parameters. A task names one with
 * `uses: NAME@VERSION` and gives its parameters in `with:`.
 */
import { z } from "zod";
import { textSchema } from "./text.ts";

/** Most add-ons one agent advertises. */
export const MAX_ADDONS = 64;
/** The JSON text of one add-on's parameters schema, as advertised. */
export const MAX_ADDON_SCHEMA_BYTES = 16 * 1024;
/** All of an agent's add-ons as JSON: well within a registration's body (1 MB). */
export const MAX_ADVERTISED_ADDONS_BYTES = 256 * 1024;
/** The JSON text of a task's `with:`: each value may also reach the task as a variable. */
export const MAX_WITH_BYTES = 32 * 1024;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** `1.2.3`, with an optional `-pre.release` part (semver without build metadata, which `@` parsing keeps simple). */
const VERSION = /^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})(-[0-9A-Za-z.-]{1,40})?$/;

export const addonNameSchema = z.string().regex(
  NAME,
  "must start with a letter or digit and hold only letters, digits, '_', '.' or '-' (at most 63)",
);
export const addonVersionSchema = z.string().regex(
  VERSION,
  'must be a version like "1.0.0" (MAJOR.MINOR.PATCH, optionally "-" and a pre-release tag)',
);

export interface AddonRef {
  name: string;
  version: string;
}

/** `NAME@VERSION`, as a task's `uses:` names an add-on. */
export const addonRefSchema = z.string().max(128).transform((value, ctx) => {
  const at = value.lastIndexOf("@");
  const name = value.slice(0, at);
  const version = value.slice(at + 1);
  if (at <= 0 || !NAME.test(name) || !VERSION.test(version)) {
    ctx.addIssue({
      code: "custom",
      message: `must name an add-on and its version as NAME@VERSION (like "http-check@1.0.0"), got ${
        JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
      }`,
    });
    return z.NEVER;
  }
  return value;
});

/** `name@version`: how an add-on is named everywhere (placement, reasons, `fabric agents`). */
export function addonKey(ref: AddonRef): string {
  return `${ref.name}@${ref.version}`;
}

/** `NAME@VERSION` as its parts; the string is one `addonRefSchema` accepted. */
export function parseAddonRef(ref: string): AddonRef {
  const at = ref.lastIndexOf("@");
  return { name: ref.slice(0, at), version: ref.slice(at + 1) };
}

/** A JSON Schema: an object, within its size (checked as JSON text). */
export const parametersSchemaSchema = z.record(z.string(), z.unknown()).refine(
  (schema) => JSON.stringify(schema).length <= MAX_ADDON_SCHEMA_BYTES,
  `must be at most ${MAX_ADDON_SCHEMA_BYTES} bytes as JSON`,
);

/** What an agent says of one add-on it has. */
export const advertisedAddonSchema = z.object({
  name: addonNameSchema,
  version: addonVersionSchema,
  description: textSchema().max(1000).default(""),
  /** The JSON Schema its `with:` must fit. */
  parameters: parametersSchemaSchema,
});
export type AdvertisedAddon = z.infer<typeof advertisedAddonSchema>;

export const advertisedAddonsSchema = z.array(advertisedAddonSchema).max(MAX_ADDONS).refine(
  (addons) => new Set(addons.map(addonKey)).size === addons.length,
  "names an add-on twice",
).refine(
  (addons) => JSON.stringify(addons).length <= MAX_ADVERTISED_ADDONS_BYTES,
  `may be at most ${MAX_ADVERTISED_ADDONS_BYTES} bytes as JSON`,
);
