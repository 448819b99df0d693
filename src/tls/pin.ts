/**
 * Trust on first use, made safe by a pin: fetch the tracker's CA over a connection that is not yet
 * verified, and accept it only if its key matches the hash the operator gave. Nothing secret is sent
 * before that check, and every later request is verified against the pinned CA.
 */
import { request } from "node:https";
import { caHash, isCaCertificate } from "./certs.ts";
import { CaFetchError, CaPinError } from "./errors.ts";

export { CaFetchError, CaPinError };

const CA_PATH = "/v1/ca";
const MAX_CA_BYTES = 64 * 1024;

/** The CA PEM served at `https://host:port/v1/ca`, if its key hashes to `expectedHash`. */
export async function fetchPinnedCa(hostPort: string, expectedHash: string, timeoutMs = 10_000): Promise<string> {
  const pem = await fetchUnverified(hostPort, timeoutMs);
  if (!(await isCaCertificate(pem))) {
    throw new CaPinError(`The tracker at ${hostPort} did not send a CA certificate; refusing to connect`);
  }
  const actual = await caHash(pem);
  if (actual.toLowerCase() !== expectedHash.toLowerCase()) {
    throw new CaPinError(
      `The tracker at ${hostPort} presented a CA whose hash is ${actual}, not the pinned ${expectedHash}; ` +
        "refusing to connect (check --ca-hash, or whether something is intercepting the connection)",
    );
  }
  return pem;
}

function fetchUnverified(hostPort: string, timeoutMs: number): Promise<string> {
  const url = new URL(`https://${hostPort}${CA_PATH}`);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new CaFetchError(`The tracker at ${hostPort} answered ${res.statusCode} for its CA`));
        return;
      }
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (part: string) => {
        body += part;
        if (body.length > MAX_CA_BYTES) req.destroy(new CaPinError(`The CA sent by ${hostPort} is too large`));
      });
      res.on("end", () => resolve(body));
      res.on("error", reject);
    });
    // Not reached (refused, silent, reset) is worth trying again, or another tracker; a wrong CA never is.
    req.on("timeout", () => req.destroy(new CaFetchError(`No answer from ${hostPort} within ${timeoutMs}ms`)));
    req.on(
      "error",
      (error: Error) =>
        reject(
          error instanceof CaPinError || error instanceof CaFetchError
            ? error
            : new CaFetchError(`Cannot reach ${hostPort}: ${error.message}`),
        ),
    );
    req.end();
  });
}
