/** TLS for fabric: the tracker's private CA and certificates, and the pinned first contact of an agent. */
export {
  caHash,
  certificateExpiry,
  certificateNames,
  createCa,
  createServerCert,
  isCaCertificate,
  keyMatchesCertificate,
  type PemPair,
  SERVER_CERT_DAYS,
} from "./certs.ts";
export { CaFetchError, CaPinError, fetchPinnedCa } from "./pin.ts";
export { writeSecret } from "./files.ts";
