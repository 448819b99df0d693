/** TLS for fabric: the tracker's private CA and certificates, and the pinned first contact of an agent. */
export { caHash, certificateNames, createCa, createServerCert, isCaCertificate, type PemPair } from "./certs.ts";
export { CaFetchError, CaPinError, fetchPinnedCa } from "./pin.ts";
export { writeSecret } from "./files.ts";
