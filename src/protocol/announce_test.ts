import assert from "node:assert/strict";
import { announcementSchema, joinTokenCaHash, joinTokenFor } from "./announce.ts";

const HASH = `sha256:${"0f".repeat(32)}`;

Deno.test("a join token names its CA; a token from before names none", () => {
  const token = joinTokenFor(HASH.toUpperCase().replace("SHA256:", "sha256:"), "s3cr-et_x");
  assert.equal(token, `fabric-join-${"0f".repeat(32)}-s3cr-et_x`);
  assert.equal(joinTokenCaHash(token), HASH);
  assert.equal(joinTokenCaHash(`  ${token}\n`), HASH);
  assert.equal(joinTokenCaHash("fabric-join-Zm9vYmFyYmF6cXV4cXV1eHh5enp5enp5enp5enp5enp5enp"), null);
  assert.equal(joinTokenCaHash("fabric-admin-whatever"), null);
});

Deno.test("an announcement is a CA hash and tracker URLs, nothing more", () => {
  const good = { fabric: "tracker", caHash: HASH, trackers: ["https://10.0.0.1:7443"] };
  assert.ok(announcementSchema.safeParse(good).success);
  for (
    const bad of [
      { ...good, extra: 1 },
      { ...good, caHash: "sha256:zz" },
      { ...good, trackers: [] },
      { ...good, trackers: ["http://10.0.0.1:7443"] },
      { ...good, trackers: ["https://a b"] },
      { ...good, trackers: Array(17).fill("https://h:1") },
      { ...good, fabric: "agent" },
    ]
  ) assert.equal(announcementSchema.safeParse(bad).success, false, JSON.stringify(bad).slice(0, 80));
});
