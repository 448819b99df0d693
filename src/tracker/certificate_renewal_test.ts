/** Renewing the tracker's certificate: at a start, and under a running listener, always by the same CA. */
import assert from "node:assert/strict";
import tls from "node:tls";
import { join } from "node:path";
import { certificateExpiry, certificateNames, createCa, createServerCert, type PemPair } from "../tls/mod.ts";
import { caExpiryNotice, renewIfDue } from "./certificate_renewal.ts";
import { issueServerCert, prepareTrackerDir } from "./data_dir.ts";
import { serveHttps } from "./https_server.ts";

const DAY_MS = 86_400_000;
const NAMES = ["127.0.0.1", "tracker.example"];

async function withDir(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-cert-renewal-" });
  try {
    await test(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function storeServer(dir: string, pair: PemPair): Promise<void> {
  await Deno.writeTextFile(join(dir, "tracker.pem"), pair.certPem);
  await Deno.writeTextFile(join(dir, "tracker.key"), pair.keyPem);
}

/** The certificate a TLS client is served, checked against `ca`: its end, and its serial. */
function served(port: number, ca: string): Promise<{ validTo: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca }, () => {
      const peer = socket.getPeerCertificate();
      socket.end();
      resolve({ validTo: Date.parse(peer.valid_to), serial: peer.serialNumber });
    });
    socket.on("error", reject);
  });
}

Deno.test("a start renews a certificate near its end, by the same CA and for the same names; not one far from it", async () => {
  await withDir(async (dir) => {
    const first = await prepareTrackerDir(dir, NAMES, true);
    await storeServer(dir, await createServerCert(first.ca, NAMES, { days: 10 }));
    const renewed = await prepareTrackerDir(dir, NAMES, false);
    assert.equal(renewed.caHash, first.caHash);
    assert.ok(await certificateExpiry(renewed.server.certPem) > Date.now() + 700 * DAY_MS);
    assert.deepEqual((await certificateNames(renewed.server.certPem)).sort(), [...NAMES].sort());
    assert.equal(await Deno.readTextFile(join(dir, "tracker.pem")), renewed.server.certPem);

    const young = await createServerCert(first.ca, NAMES, { days: 400 });
    await storeServer(dir, young);
    assert.equal((await prepareTrackerDir(dir, NAMES, false)).server.certPem, young.certPem);

    // A key that is not the certificate's (a stop between writing the two) is replaced, not served.
    const other = await createServerCert(first.ca, NAMES);
    await storeServer(dir, { certPem: young.certPem, keyPem: other.keyPem });
    const repaired = await prepareTrackerDir(dir, NAMES, false);
    assert.notEqual(repaired.server.certPem, young.certPem);
  });
});

Deno.test("a running listener is handed the renewed certificate; agents' CA pin still holds", async () => {
  await withDir(async (dir) => {
    const ca = await createCa("renewal test");
    const old = await createServerCert(ca, NAMES, { days: 5 });
    const server = await serveHttps(
      { hostname: "127.0.0.1", port: 0, cert: old.certPem, key: old.keyPem },
      () => new Response("ok"),
    );
    try {
      const before = await served(server.port, ca.certPem);
      assert.ok(before.validTo < Date.now() + 6 * DAY_MS);
      const logs: string[] = [];
      const target = {
        ca,
        server: old,
        issue: (names: string[]) => issueServerCert(dir, ca, names),
        serve: (pair: PemPair) => server.setCertificate(pair.certPem, pair.keyPem),
        log: (line: string) => logs.push(line),
      };
      const renewed = await renewIfDue(target, Date.now());
      const after = await served(server.port, ca.certPem);
      assert.notEqual(after.serial, before.serial);
      assert.ok(after.validTo > Date.now() + 700 * DAY_MS);
      assert.equal(await Deno.readTextFile(join(dir, "tracker.pem")), renewed.certPem);
      assert.match(logs.join("\n"), /renewed the tracker's certificate .* same CA/);
      // A second look the same day changes nothing.
      assert.equal(await renewIfDue(target, Date.now()), renewed);
    } finally {
      await server.close(0);
    }
  });
});

Deno.test("the CA's end is said a year ahead, and a server certificate never outlives its CA", async () => {
  const ca = await createCa("notice test");
  const end = await certificateExpiry(ca.certPem);
  assert.equal(await caExpiryNotice(ca.certPem, Date.now()), null);
  const day = new Date(end).toISOString().slice(0, 10);
  assert.match(
    (await caExpiryNotice(ca.certPem, end - 100 * DAY_MS))!,
    new RegExp(`CA ends on ${day} \\(in 100 days\\)`),
  );
  assert.match((await caExpiryNotice(ca.certPem, end + DAY_MS))!, new RegExp(`CA ended on ${day}`));
  const late = await createServerCert(ca, NAMES, { now: end - 30 * DAY_MS });
  assert.equal(await certificateExpiry(late.certPem), end);
});
