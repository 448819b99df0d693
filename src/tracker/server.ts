/**
 * A running tracker: the data directory, the store, the lease (leadership.ts), the HTTPS server, the
 * metrics listener when asked for, and while it leads, the liveness timer and retention.
 */
import { join } from "node:path";
import { STALE_TRACKER_MS } from "../protocol/mod.ts";
import { LeaseLostError, openStore, redactUrl } from "../store/mod.ts";
import { writeSecret } from "../tls/mod.ts";
import { caExpiryNotice, RENEWAL_CHECK_MS, type RenewalTarget, renewIfDue } from "./certificate_renewal.ts";
import { storeHasTokens } from "./credentials.ts";
import { issueServerCert, prepareTrackerDir, trackerId } from "./data_dir.ts";
import { followerLinks } from "./follower_links.ts";
import { leaderOrFollower } from "./http/leader_door.ts";
import { serveHttps } from "./https_server.ts";
import { type MetricsEndpoints, type MetricsServer, serveMetrics } from "./metrics/mod.ts";
import { DEFAULT_LEASE_MS } from "./lease.ts";
import { startLeaderTimers } from "./leader_timers.ts";
import { Leadership } from "./leadership.ts";
import { bracket, cannotListen, localHost, WILDCARDS } from "./listen_address.ts";
import { trackerMemoryWarning } from "./memory_limit.ts";
import { startAnnouncer } from "./announcer.ts";
import { loadSecretKey } from "./secret_key.ts";
import { Tracker } from "./tracker.ts";
import { TrackersList } from "./trackers_list.ts";
import type { TrackerServerOptions } from "./server_options.ts";

export type { TrackerServerOptions } from "./server_options.ts";

export interface TrackerServer {
  /** The Tracker that places work here; null while this tracker follows another. */
  readonly tracker: Tracker | null;
  /** This tracker among those of a shared store (the lease's holder when it leads); kept in its data directory. */
  id: string;
  /** The URL a client on this machine uses. */
  url: string;
  port: number;
  dataDir: string;
  /** The PostgreSQL store's URL without its password; null for SQLite in the data directory. */
  storeWhere: string | null;
  caPem: string;
  caHash: string;
  /** The address agents should join, `HOST:PORT`. */
  joinAddress: string;
  /** This tracker's join address, then those of the others sharing its store (heard from lately). */
  joinAddresses(): Promise<string[]>;
  /** Set on the first start of a data directory: the tokens it created. */
  newTokens: { admin: string; join: string } | null;
  /** `http://HOST:PORT` of --metrics-listen, or null. */
  metricsUrl: string | null;
  /** Finish in-flight requests, release long polls and close the store. */
  close(): Promise<void>;
}

export async function startTrackerServer(options: TrackerServerOptions): Promise<TrackerServer> {
  const log = options.log ?? (() => {});
  const hostName = Deno.hostname();
  const advertise = options.advertise ?? [];
  const names = [...advertise, hostName, "localhost", "127.0.0.1", "::1"];
  if (!WILDCARDS.has(options.hostname)) names.push(options.hostname);

  await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore({ url: options.store, dataDir: options.dataDir, sync: options.sync });
  const id = await trackerId(options.dataDir);
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  // Read (or made) once: every Tracker that leads here seals and opens secrets with it.
  let secretsKey;
  try {
    secretsKey = (await loadSecretKey(options.dataDir)).key;
  } catch (error) {
    await store.close();
    throw error;
  }
  // The forwarder, made once the CA is known, is told of every change of leader (what went to the old one ends).
  let leaderChanged = (_holder: string | null) => {};
  // The tokens the store's secrets hold: a Tracker that takes over sets them if the store lacks their hashes.
  let sharedTokens: { admin: string; join: string } | null = null;
  // The CA is read after the lease is first tried: a join token rotated before then names no CA.
  let caHashKnown: string | undefined;
  let listening = false;
  const toStart = new Set<() => void>();
  const leadership = new Leadership({
    store,
    holder: id,
    leaseMs,
    log,
    onHolder: (holder) => leaderChanged(holder),
    open: async (fence, lost) => {
      const { heartbeatMs, ttlMs, graceMs, approveAgents, retentionMs, auditRetentionMs, maxJobLogs, channelHistory } =
        options;
      const tracker = await Tracker.open({
        store,
        secretsKey,
        fence,
        onLeaseLost: lost,
        heartbeatMs,
        ttlMs,
        graceMs,
        approveAgents,
        retentionMs,
        auditRetentionMs,
        maxJobLogs,
        channelHistory,
        caHash: () => caHashKnown,
        log,
      });
      if (!tracker.hasTokens && sharedTokens) await tracker.setTokens(sharedTokens);
      return tracker;
    },
    whileLeading: (tracker) => {
      // Not before this tracker listens: until then no agent can reach it, and the liveness sweep would
      // count that as their silence (a start slower than the agents' TTL expired them all). One sweep
      // now, so that the first after listening counts the time until then as this tracker's stall
      // (liveness.ts), not as the agents' silence.
      let stop: (() => void) | null = null;
      const start = () => stop = leaderTimers(tracker);
      if (listening) {
        start();
      } else {
        tracker.checkLiveness(0).catch((error) => log(`liveness check failed: ${(error as Error).message}`));
        toStart.add(start);
      }
      return () => {
        toStart.delete(start);
        stop?.();
      };
    },
  });
  const leaderTimers = (tracker: Tracker) => startLeaderTimers(tracker, log);
  let files;
  try {
    await leadership.start();
    const leader = leadership.tracker;
    const needTokens = !(leader ? leader.hasTokens : await storeHasTokens(store));
    files = await prepareTrackerDir(options.dataDir, [...new Set(names)], needTokens, store.secrets);
    sharedTokens = files.sharedTokens;
    caHashKnown = files.caHash;
    const tokens = files.newTokens ?? files.sharedTokens;
    if (tokens && leader && !leader.hasTokens) {
      // A start slow enough to lose the lease meanwhile goes on as a follower: the next leader, this
      // tracker or another, sets the tokens when it takes over (sharedTokens, above).
      await leader.setTokens(tokens).catch((error) => {
        if (!(error instanceof LeaseLostError)) throw error;
      });
    }
  } catch (error) {
    await leadership.stop();
    await store.close();
    throw error;
  }

  const trackers = new TrackersList({ store, id, intervalMs: Math.max(250, Math.floor(leaseMs / 3)), log });
  // What a follower reaches the leader through (follower_links.ts), told of every change of leader.
  const links = followerLinks({
    ...{ store, id, dataDir: options.dataDir, caPem: files.ca.certPem, leadership, trackers },
    ...{ heartbeatMs: options.heartbeatMs, ttlMs: options.ttlMs },
  });
  const { forwarder, relay, auth, claims } = links;
  leaderChanged = links.leaderChanged;
  const { door, handler, observe } = leaderOrFollower(leadership, {
    caPem: files.ca.certPem,
    saveJoinToken: (token) => writeSecret(join(options.dataDir, "join.token"), token + "\n"),
    id,
    auth,
    forwarder,
    relay,
    claims,
    trackers,
    log,
  });
  // The metrics listener answers for the Tracker that leads here; one that follows has none of its own.
  const endpoints: MetricsEndpoints = {
    metrics: () => leadership.tracker?.probes.metrics() ?? Promise.resolve(""),
    readiness: () => leadership.tracker?.probes.readiness() ?? Promise.resolve(null),
  };
  let server;
  let metricsServer: MetricsServer | null = null;
  try {
    if (options.metricsListen) {
      const where = options.metricsListen;
      metricsServer = await serveMetrics({ ...where, log }, endpoints).catch(
        cannotListen("--metrics-listen", where),
      );
    }
    server = await serveHttps({
      hostname: options.hostname,
      port: options.port,
      cert: files.server.certPem,
      key: files.server.keyPem,
      door,
      maxConnections: options.maxConnections,
      observe,
      log,
    }, handler).catch(cannotListen("--listen", options));
  } catch (error) {
    await metricsServer?.close();
    toStart.clear();
    links.close();
    await leadership.stop();
    await store.close();
    throw error;
  }
  listening = true;
  for (const start of toStart) start();
  toStart.clear();
  const port = server.port;
  const url = `https://${bracket(localHost(options.hostname))}:${port}`;
  const joinHost = advertise[0] ?? (WILDCARDS.has(options.hostname) ? hostName : options.hostname);
  // Listed in the store before the start is announced: the other trackers can forward here at once.
  await trackers.start(`https://${bracket(joinHost)}:${port}`);
  await Deno.writeTextFile(join(options.dataDir, "tracker.json"), JSON.stringify({ url, pid: Deno.pid }) + "\n");

  const renewal: RenewalTarget = {
    ca: files.ca,
    server: files.server,
    issue: (names) => issueServerCert(options.dataDir, files.ca, names),
    serve: (pair) => server.setCertificate(pair.certPem, pair.keyPem),
    log,
  };
  const renewalCheck = () =>
    renewIfDue(renewal, Date.now()).catch((error) =>
      log(`renewing the tracker's certificate failed: ${(error as Error).message}; trying again in 12 hours`)
    );
  void caExpiryNotice(files.ca.certPem, Date.now()).then((notice) => notice && log(notice));
  const memoryWarning = trackerMemoryWarning();
  if (memoryWarning) log(memoryWarning);
  const renewalTimer = setInterval(renewalCheck, RENEWAL_CHECK_MS);
  /** This tracker's URL first, then every other one heard from lately: the join command's and announcements' list. */
  const trackerUrls = async () => {
    const others = (await trackers.views().catch(() => [])).filter((t) =>
      t.id !== id && Date.now() - Date.parse(t.lastSeen) < STALE_TRACKER_MS
    );
    return [`https://${bracket(joinHost)}:${port}`, ...others.map((t) => t.url)];
  };
  const announcer = options.announce ? startAnnouncer({ caHash: files.caHash, log, urls: trackerUrls }) : null;

  let closed: Promise<void> | null = null;
  return {
    get tracker() {
      return leadership.tracker;
    },
    id,
    url,
    port,
    dataDir: options.dataDir,
    storeWhere: options.store === undefined ? null : redactUrl(options.store),
    caPem: files.ca.certPem,
    caHash: files.caHash,
    joinAddress: `${bracket(joinHost)}:${port}`,
    async joinAddresses() {
      return (await trackerUrls()).map((url) => url.replace(/^https:\/\//, ""));
    },
    newTokens: files.newTokens,
    metricsUrl: metricsServer && options.metricsListen
      ? `http://${bracket(localHost(options.metricsListen.hostname))}:${metricsServer.port}`
      : null,
    close() {
      closed ??= (async () => {
        clearInterval(renewalTimer);
        announcer?.close();
        await metricsServer?.close();
        leadership.releaseWaiters();
        await server.close();
        links.close();
        await trackers.stop();
        await leadership.stop();
        await store.close();
      })();
      return closed;
    },
  };
}
