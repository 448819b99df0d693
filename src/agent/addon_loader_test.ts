import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ADDON_LIMITS, loadAddons } from "./addon_loader.ts";

const EXAMPLES = fileURLToPath(new URL("../../examples/addons", import.meta.url));

const GOOD = "name: good\nversion: 1.0.0\nrun: [sh, '{addon}/run.sh']\n";

async function withAddons(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-addons-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function addon(dir: string, name: string, files: Record<string, string>): Promise<string> {
  const folder = join(dir, name);
  await Deno.mkdir(folder);
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(folder, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(folder, path), text);
  }
  return folder;
}

Deno.test("the shipped examples load, with every file read and the executable bit kept", async () => {
  const { addons, skipped } = await loadAddons(EXAMPLES, { deno: true });
  assert.deepEqual(skipped, []);
  assert.deepEqual([...addons.keys()], ["http-check@1.0.0", "json-report@1.0.0"]);
  const check = addons.get("http-check@1.0.0")!;
  assert.deepEqual(check.run, { argv: ["sh", "{addon}/check.sh"] });
  assert.deepEqual(check.files.map((f) => [f.path, f.executable]), [["addon.yaml", false], ["check.sh", true]]);
  assert.deepEqual(addons.get("json-report@1.0.0")!.run, { script: "report.ts" });
});

Deno.test("an agent without deno skips an add-on that is a script, saying so", async () => {
  const { addons, skipped } = await loadAddons(EXAMPLES, { deno: false });
  assert.deepEqual([...addons.keys()], ["http-check@1.0.0"]);
  assert.deepEqual(skipped, [
    `add-on "${EXAMPLES}/json-report" skipped: it is a script, and this agent has no Deno runtime`,
  ]);
});

Deno.test("no add-ons folder: no add-ons and nothing to say", async () => {
  assert.deepEqual(await loadAddons("/nonexistent/fabric-addons", { deno: true }), { addons: new Map(), skipped: [] });
});

Deno.test("hostile add-ons are skipped, each with its reason, and the good one still loads", async () => {
  await withAddons(async (dir) => {
    await addon(dir, "a-good", { "addon.yaml": GOOD, "run.sh": "echo hi", "lib/deep/x.txt": "x" });
    const linked = await addon(dir, "b-link-out", { "addon.yaml": GOOD.replace("good", "linked") });
    await Deno.symlink("/etc/passwd", join(linked, "passwd"));
    const inside = await addon(dir, "b-link-in", { "addon.yaml": GOOD.replace("good", "inside"), "run.sh": "x" });
    await Deno.symlink("run.sh", join(inside, "again.sh"));
    const huge = await addon(dir, "c-huge", { "addon.yaml": GOOD.replace("good", "huge") });
    using file = await Deno.open(join(huge, "blob"), { write: true, create: true });
    await file.truncate(ADDON_LIMITS.addonBytes + 1); // sparse: large as a file, not on disk
    await addon(dir, "d-huge-manifest", { "addon.yaml": GOOD.replace("good", "big") + "#".repeat(70_000) });
    await addon(dir, "e-bad-schema", {
      "addon.yaml": GOOD.replace("good", "schema") + "parameters: {type: object, properties: {a: {type: strng}}}\n",
    });
    await addon(dir, "f-bad-version", { "addon.yaml": GOOD.replace("1.0.0", "one") });
    await addon(dir, "g-both", { "addon.yaml": GOOD.replace("good", "both") + "script: x.ts\n" });
    const fifo = await addon(dir, "h-fifo", { "addon.yaml": GOOD.replace("good", "fifo") });
    await new Deno.Command("mkfifo", { args: [join(fifo, "pipe")] }).output();
    await addon(dir, "i-missing-script", { "addon.yaml": "name: m\nversion: 1.0.0\nscript: main.ts\n" });
    await addon(dir, "j-twice", { "addon.yaml": GOOD });
    await Deno.symlink(join(dir, "a-good"), join(dir, "k-folder-link"));
    await addon(dir, "l-not-yaml", { "addon.yaml": "name: [unclosed\n" });

    const { addons, skipped } = await loadAddons(dir, { deno: true });
    assert.deepEqual([...addons.keys()], ["good@1.0.0", "inside@1.0.0"]);
    assert.deepEqual(
      addons.get("good@1.0.0")!.files.map((f) => f.path),
      ["addon.yaml", "lib/deep/x.txt", "run.sh"],
    );
    assert.deepEqual(addons.get("inside@1.0.0")!.files.map((f) => f.path), ["addon.yaml", "again.sh", "run.sh"]);
    const reasons = skipped.map((line) => line.replace(`${dir}/`, ""));
    const expected = [
      /^add-on "b-link-out" skipped: "passwd" is a link out of the add-on's folder$/,
      /^add-on "c-huge" skipped: "blob" takes the add-on's files past \d+ bytes$/,
      /^add-on "d-huge-manifest" skipped: addon.yaml is larger than 65536 bytes$/,
      /^add-on "e-bad-schema" skipped: addon.yaml: "parameters" is not a JSON Schema this agent can use: .*properties\/a\/type/,
      /^add-on "f-bad-version" skipped: addon.yaml: "version" must be a version like "1.0.0"/,
      /^add-on "g-both" skipped: addon.yaml: the document needs exactly one of "run" \(a command\) and "script"/,
      /^add-on "h-fifo" skipped: "pipe" is not a regular file \(a FIFO, socket or device\)$/,
      /^add-on "i-missing-script" skipped: addon.yaml: "script" names "main.ts", which is not a file of the add-on$/,
      /^add-on "j-twice" skipped: addon.yaml: good@1.0.0 is loaded already from another folder$/,
      /^add-on "k-folder-link" skipped: is a link: an add-on is a folder of its own$/,
      /^add-on "l-not-yaml" skipped: addon.yaml is not valid YAML: /,
    ];
    assert.equal(reasons.length, expected.length, reasons.join("\n"));
    reasons.forEach((reason, i) => assert.match(reason, expected[i]));
  });
});

Deno.test("the walk is bounded: too many files, too deep", async () => {
  await withAddons(async (dir) => {
    const many: Record<string, string> = { "addon.yaml": GOOD };
    for (let i = 0; i < 20; i++) many[`f${i}`] = "";
    await addon(dir, "many", many);
    let deep = "addon.yaml";
    for (let i = 0; i < 5; i++) deep = `d/${deep}`;
    await addon(dir, "nested", { "addon.yaml": GOOD.replace("good", "nested"), [deep]: "" });
    const { addons, skipped } = await loadAddons(dir, {
      deno: true,
      limits: { ...ADDON_LIMITS, entries: 10, depth: 3 },
    });
    assert.equal(addons.size, 0);
    assert.deepEqual(skipped.map((line) => line.replace(`${dir}/`, "")), [
      'add-on "many" skipped: it holds more than 10 files and folders',
      'add-on "nested" skipped: its folders nest deeper than 3',
    ]);
  });
});
