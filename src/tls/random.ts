/**
 * Deno's TLS library (aws-lc) seeds its random generator the first time a process needs randomness,
 * from CPU jitter as well as the OS: 30-40 ms of one core, paid by the first TLS handshake. Seeded on
 * one of Deno's background threads while the command's modules load, it is ready by the time the
 * command connects (the generator is shared by every thread of the process).
 */
export function seedRandomInBackground(): void {
  // An ECDSA key is made on a worker thread and draws from that generator (measured: HMAC and AES
  // keys are made on the calling thread, which would then wait the 30 ms itself).
  crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]).catch(() => {});
}
