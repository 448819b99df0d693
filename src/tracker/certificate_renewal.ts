/**
 * The tracker's certificate is issued for two years; a tracker runs for longer. It is renewed,
 * signed by the same CA (agents pin the CA's key, so their pins stay valid), well before it ends:
 * at a start, and by a check twice a day while the tracker runs, which hands the new certificate to
 * the listener without a restart. The CA itself (ten years) cannot be renewed without new pins:
 * its end is said in the log, a year ahead.
 */
import { certificateExpiry, certificateNames, type PemPair } from "../tls/mod.ts";

const DAY_MS = 86_400_000;
/** A certificate with less than this left is renewed (a third of its two years). */
export const RENEW_BEFORE_MS = 240 * DAY_MS;
/** How often a running tracker looks. */
export const RENEWAL_CHECK_MS = 12 * 60 * 60 * 1000;
/** The CA's end is said once it is this close. */
const CA_NOTICE_MS = 365 * DAY_MS;

export async function renewalDue(certPem: string, now: number): Promise<boolean> {
  return (await certificateExpiry(certPem)) - now < RENEW_BEFORE_MS;
}

/** A line saying when the CA ends, once that is within a year; null before. */
export async function caExpiryNotice(caPem: string, now: number): Promise<string | null> {
  const end = await certificateExpiry(caPem);
  if (end - now >= CA_NOTICE_MS) return null;
  const when = new Date(end).toISOString().slice(0, 10);
  const days = Math.floor((end - now) / DAY_MS);
  const state = days < 0 ? `ended on ${when}` : `ends on ${when} (in ${days} day${days === 1 ? "" : "s"})`;
  return `warning: the tracker's CA ${state}; agents and clients then refuse the tracker. ` +
    "A new CA means new pins for every agent and client (docs/security.md, 'Certificates')";
}

export interface RenewalTarget {
  ca: PemPair;
  /** The certificate served now. */
  server: PemPair;
  /** Issues and stores a certificate for these names (data_dir.ts's issueServerCert). */
  issue(names: string[]): Promise<PemPair>;
  /** Serve this certificate from now on. */
  serve(server: PemPair): void;
  log(line: string): void;
}

/** One look: renews the certificate when it is due; returns the one served after it. */
export async function renewIfDue(target: RenewalTarget, now: number): Promise<PemPair> {
  const notice = await caExpiryNotice(target.ca.certPem, now);
  if (notice) target.log(notice);
  if (!(await renewalDue(target.server.certPem, now))) return target.server;
  const ended = new Date(await certificateExpiry(target.server.certPem)).toISOString();
  const server = await target.issue(await certificateNames(target.server.certPem));
  target.serve(server);
  target.server = server;
  const until = new Date(await certificateExpiry(server.certPem)).toISOString();
  target.log(`renewed the tracker's certificate (it would have ended ${ended}); valid until ${until}, same CA`);
  return server;
}
