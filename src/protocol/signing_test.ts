import assert from "node:assert/strict";
import { fromBase64, readPayload, signedPayload, signPayload, toBase64, verifyPayload } from "./signing.ts";
import { generateSigningKey, parsePrivateKey, parsePublicKeys } from "./signing_keys.ts";

// RFC 8410, section 10.3: an Ed25519 key pair as OpenSSL writes it.
const RFC8410_PRIVATE = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC
-----END PRIVATE KEY-----
`;
const RFC8410_PUBLIC = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
-----END PUBLIC KEY-----
`;

Deno.test("the payload is RFC 8785 canonical JSON (the RFC's own example)", () => {
  // RFC 8785, section 3.2.2: the input, and its canonical form, inside the payload's envelope.
  const input = JSON.parse(
    '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
      '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
  );
  const canonical = '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
    '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}';
  assert.equal(signedPayload(input, {}), `{"files":{},"format":"fabric-signed-job-v1","spec":${canonical}}`);
});

Deno.test("the payload does not depend on key order or spacing, and survives the trip through JSON", () => {
  const a = signedPayload({ name: "j", tasks: [{ run: "echo é", name: "t" }] }, { "b.ts": "2", "a.ts": "1" });
  const b = signedPayload(JSON.parse(' { "tasks" : [ {"name":"t","run":"echo \\u00e9"} ], "name":"j" } '), {
    "a.ts": "1",
    "b.ts": "2",
  });
  assert.equal(a, b);
  assert.equal(signedPayload(JSON.parse(a).spec, JSON.parse(a).files), a);
  assert.deepEqual(readPayload(a), {
    spec: { name: "j", tasks: [{ name: "t", run: "echo é" }] },
    files: JSON.parse(a).files,
    packs: {},
  });
});

Deno.test("a job's packs are in its payload by task name; a job without packs signs as it did before they were", () => {
  const spec = { name: "j", tasks: [{ name: "t", run: "make" }] };
  const before = '{"files":{},"format":"fabric-signed-job-v1","spec":{"name":"j","tasks":[{"name":"t","run":"make"}]}}';
  assert.equal(signedPayload(spec, {}), before);
  assert.equal(signedPayload(spec, {}, {}), before);
  const pack = { sha256: "c".repeat(64), size: 10 };
  const withPacks = signedPayload(spec, {}, { t: pack });
  assert.notEqual(withPacks, before);
  assert.deepEqual(readPayload(withPacks), { spec, files: {}, packs: { t: pack } });
});

Deno.test("what JSON cannot carry cannot be signed", () => {
  assert.throws(() => signedPayload({ n: NaN }, {}), /cannot be signed: NaN/);
  assert.throws(() => signedPayload({ s: "\ud800" }, {}), /cannot be signed: Lone surrogate/);
});

Deno.test("a payload of another format, or not JSON, is not read as a job", () => {
  assert.equal(readPayload("{"), "the signed payload is not JSON");
  assert.equal(
    readPayload('{"format":"other","spec":{},"files":{}}'),
    "the signed payload is not a fabric-signed-job-v1",
  );
  assert.equal(
    readPayload('{"format":"fabric-signed-job-v1","spec":{},"files":{"a":1}}'),
    "the signed payload is not a fabric-signed-job-v1",
  );
});

Deno.test("a signature verifies for its payload only, and only under its own key", async () => {
  const mine = await parsePrivateKey((await generateSigningKey()).privatePem);
  const theirs = await parsePrivateKey((await generateSigningKey()).privatePem);
  const payload = signedPayload({ name: "j", tasks: [{ name: "t", run: "true" }] }, {});
  const signature = await signPayload(mine, payload);
  assert.equal(signature.algorithm, "ed25519");
  assert.equal(signature.publicKey, mine.publicKey);
  assert.equal(await verifyPayload(signature, payload), true);
  const altered = payload.replace('"true"', '"touch /tmp/x"');
  assert.equal(await verifyPayload(signature, altered), false);
  assert.equal(await verifyPayload({ ...signature, publicKey: theirs.publicKey }, payload), false);
  const flipped = fromBase64(signature.signature);
  flipped[0] ^= 1;
  assert.equal(await verifyPayload({ ...signature, signature: toBase64(flipped) }, payload), false);
});

Deno.test("it is standard Ed25519: RFC 8032's first test vector signs the same", async () => {
  const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));
  const url = (bytes: Uint8Array) => toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const d = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const x = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const privateKey = await crypto.subtle.importKey(
    "jwk",
    { kty: "OKP", crv: "Ed25519", d: url(d), x: url(x) },
    "Ed25519",
    false,
    ["sign"],
  );
  const signature = await signPayload({ privateKey, publicKey: toBase64(x) }, "");
  assert.equal(
    [...fromBase64(signature.signature)].map((b) => b.toString(16).padStart(2, "0")).join(""),
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  );
  assert.equal(await verifyPayload(signature, ""), true);
});

Deno.test("key files: OpenSSL's PEM is read, the public half is found from the private key", async () => {
  const key = await parsePrivateKey(RFC8410_PRIVATE);
  assert.deepEqual(await parsePublicKeys(RFC8410_PUBLIC), [key.publicKey]);
  assert.equal(key.publicKey, "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=");
  const generated = await generateSigningKey();
  assert.equal((await parsePrivateKey(generated.privatePem)).publicKey, generated.publicKey);
  assert.deepEqual(await parsePublicKeys(`${generated.publicPem}\n${RFC8410_PUBLIC}`), [
    generated.publicKey,
    key.publicKey,
  ]);
});

Deno.test("key files: what is not an Ed25519 key is refused with a reason, never its content", async () => {
  await assert.rejects(parsePrivateKey(RFC8410_PUBLIC), /holds no private key/);
  await assert.rejects(parsePrivateKey(RFC8410_PRIVATE + RFC8410_PRIVATE), /more than one private key/);
  await assert.rejects(parsePublicKeys(RFC8410_PRIVATE), /holds no public key/);
  const p256 = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
  const pkcs8 = toBase64(new Uint8Array(await crypto.subtle.exportKey("pkcs8", p256.privateKey)));
  const spki = toBase64(new Uint8Array(await crypto.subtle.exportKey("spki", p256.publicKey)));
  await assert.rejects(
    parsePrivateKey(`-----BEGIN PRIVATE KEY-----\n${pkcs8}\n-----END PRIVATE KEY-----\n`),
    (error: Error) => /does not hold an Ed25519 private key/.test(error.message) && !error.message.includes(pkcs8),
  );
  await assert.rejects(
    parsePublicKeys(`${RFC8410_PUBLIC}-----BEGIN PUBLIC KEY-----\n${spki}\n-----END PUBLIC KEY-----\n`),
    /public key number 2 is not an Ed25519 key/,
  );
});
