/** What an audit entry keeps of a text, and the address it names. */
import assert from "node:assert/strict";
import { bounded } from "./audit.ts";
import { clientAddress, FORWARDED_FOR_HEADER, FORWARDED_HEADER } from "./http/client_address.ts";

Deno.test("a text longer than an entry keeps is cut at 200 characters, saying so; control characters are replaced", () => {
  assert.equal(bounded(null), null);
  assert.equal(bounded("build-1"), "build-1");
  assert.equal(bounded("x".repeat(200)), "x".repeat(200));
  assert.equal(bounded("y".repeat(100_000)), `${"y".repeat(200)}… [cut: 100000 characters]`);
  assert.equal(bounded("a\nb\u001b[2Jc\u0000"), "a\uFFFDb\uFFFD[2Jc\uFFFD");
});

Deno.test("the address is the connection's; a follower's forwarded caller stands before it, a client's claim alone is ignored", () => {
  assert.equal(clientAddress("127.0.0.1", {}), "127.0.0.1");
  assert.equal(clientAddress(undefined, {}), null);
  assert.equal(clientAddress("10.0.0.2", { [FORWARDED_FOR_HEADER]: "6.6.6.6" }), "10.0.0.2");
  assert.equal(
    clientAddress("10.0.0.2", { [FORWARDED_HEADER]: "t1", [FORWARDED_FOR_HEADER]: "10.0.0.9" }),
    "10.0.0.9 via 10.0.0.2",
  );
  const long = clientAddress("10.0.0.2", { [FORWARDED_HEADER]: "t1", [FORWARDED_FOR_HEADER]: "z".repeat(1000) });
  assert.equal(long, `${"z".repeat(64)} via 10.0.0.2`);
});
