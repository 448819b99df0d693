/**
 * The API's routes for what operators keep: retention now (gc), secrets, the audit trail, blobs
 * (files shipped with jobs), tokens and the list of trackers (routes.ts registers them).
 */
import {
  completeBlobRequestSchema,
  createTokenRequestSchema,
  FabricError,
  gcRequestSchema,
  setSecretRequestSchema,
  type TrackersResponse,
} from "../protocol/mod.ts";
import { ROUTES } from "./http/authorization.ts";
import { auditQuery, chunkParam, type On, parseBody, secretName } from "./http/route_params.ts";
import type { Tracker } from "./tracker.ts";

export interface AdminRouteOptions {
  /** Keep a new join token where the tracker's machine reads it (`DIR/join.token`). */
  saveJoinToken?: (token: string) => Promise<void>;
  /** The trackers sharing the store (server.ts's list; none for a Tracker served alone, as in tests). */
  trackers?: () => Promise<TrackersResponse>;
}

export function adminRoutes(on: On, tracker: Tracker, options: AdminRouteOptions): void {
  on(ROUTES.gc, async (c) => {
    const body = await parseBody(c, gcRequestSchema);
    return c.json(await tracker.retention.run({ budgetMs: body.budgetMs }));
  });
  // Secrets: a value comes in here and never goes out; what is listed is names and rules.
  on(ROUTES.setSecret, async (c) => {
    const name = secretName(c);
    const body = await parseBody(c, setSecretRequestSchema);
    return c.json(await tracker.secrets.set(name, { value: body.value, allow: body.allow }));
  });
  on(ROUTES.listSecrets, (c) => c.json({ secrets: tracker.secrets.list() }));
  on(ROUTES.listAudit, async (c) => c.json(await tracker.audit.page(auditQuery(c))));
  on(ROUTES.deleteSecret, async (c) => {
    const name = secretName(c);
    await tracker.secrets.delete(name);
    return c.json({ name, deleted: true });
  });
  // ---- blobs: files shipped with jobs (blobs.ts) ------------------------------------------------

  on(ROUTES.blobInfo, async (c) => c.json(await tracker.blobs.info(c.req.param("sha256")!)));
  on(ROUTES.completeBlob, async (c) => {
    const body = await parseBody(c, completeBlobRequestSchema);
    return c.json(await tracker.blobs.complete(c.req.param("sha256")!, body.size));
  });
  on(ROUTES.putBlobChunk, async (c) => {
    const data = new Uint8Array(await c.req.arrayBuffer());
    await tracker.blobs.putChunk(c.req.param("sha256")!, chunkParam(c), data);
    return c.json({ ok: true });
  });
  on(ROUTES.readBlobChunk, async (c) => {
    const data = await tracker.blobs.readChunk(c.req.param("sha256")!, chunkParam(c));
    return c.body(data as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/octet-stream" });
  });

  // ---- tokens --------------------------------------------------------------------------------

  on(ROUTES.listTokens, (c) => c.json({ tokens: tracker.listTokens() }));
  on(ROUTES.createToken, async (c) => {
    const body = await parseBody(c, createTokenRequestSchema);
    // Its name and role; never the token, which only the answer holds.
    c.set("audit", { target: body.name, detail: `role ${body.role}` });
    return c.json(await tracker.createToken(body), 201);
  });
  on(ROUTES.revokeToken, async (c) => c.json(await tracker.revokeToken(c.req.param("name")!)));
  on(ROUTES.rotateJoin, async (c) => {
    const token = await tracker.rotateJoinToken();
    await options.saveJoinToken?.(token);
    return c.json({ token });
  });

  on(ROUTES.listTrackers, async (c) => {
    if (!options.trackers) throw new FabricError("not_found", "This tracker keeps no list of trackers");
    return c.json(await options.trackers());
  });
}
