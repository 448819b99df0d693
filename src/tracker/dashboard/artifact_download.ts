/**
 * `/tasks/:id/artifact?path=P`: one artifact of the task's latest attempt (those its page lists), sent
 * to a signed-in browser as a download. Streamed a chunk at a time from the store (never the whole file
 * in memory), hashed as it goes: bytes that do not hash to the artifact's name end the download with an
 * error rather than complete it. The path is the task's text: it names the file only through a header
 * value made safe here (Content-Disposition's ASCII name and its RFC 5987 UTF-8 form).
 */
import { createHash } from "node:crypto";
import type { Context } from "hono";
import { type ArtifactRef, chunkCount, FabricError } from "../../protocol/mod.ts";
import { getTask } from "../queries.ts";
import type { PageContext } from "./context.ts";

export async function artifactDownload(c: Context, { tracker }: PageContext): Promise<Response> {
  const id = c.req.param("id")!;
  const path = c.req.query("path") ?? "";
  const task = await getTask(tracker, id);
  const artifact = task.artifacts.find((a) => a.path === path);
  if (!artifact) {
    throw new FabricError("not_found", `Task ${id} kept no artifact "${path.slice(0, 200)}" in its latest attempt`);
  }
  const body = artifactStream(artifact, (seq) => tracker.blobs.readChunk(artifact.sha256, seq));
  return new Response(body, {
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(artifact.size),
      "content-disposition": contentDisposition(path),
    },
  });
}

/** The artifact's bytes, one chunk read per pull, checked against its hash at the end. */
function artifactStream(
  artifact: ArtifactRef,
  read: (seq: number) => Promise<Uint8Array>,
): ReadableStream<Uint8Array> {
  const chunks = artifact.size === 0 ? 0 : chunkCount(artifact.size);
  const hash = createHash("sha256");
  let seq = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (seq < chunks) {
        const data = await read(seq++);
        hash.update(data);
        controller.enqueue(data);
        return;
      }
      const actual = hash.digest("hex");
      if (actual !== artifact.sha256) {
        controller.error(new Error(`artifact ${artifact.path}: its bytes hash to ${actual}, not ${artifact.sha256}`));
      } else controller.close();
    },
  }, { highWaterMark: 1 });
}

/** At most this many characters of a file's name go in the header. */
const NAME_CHARS = 120;

/**
 * `attachment` with the path's last part as the file's name: an ASCII one where every character but
 * letters, digits, `.`, `-` and `_` is `_` (no quote, backslash, control character or newline reaches
 * the header), and the name itself percent-encoded as `filename*` for browsers that read it.
 */
export function contentDisposition(path: string): string {
  const last = [...(path.split("/").filter((part) => part !== "").pop() ?? "")].slice(0, NAME_CHARS).join("");
  let ascii = last.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  if (ascii === "" || /^_*$/.test(ascii)) ascii = "artifact";
  let header = `attachment; filename="${ascii}"`;
  try {
    // RFC 5987's attr-char: what encodeURIComponent leaves, less ' ( ) * (and ! for good measure).
    const encoded = encodeURIComponent(last).replace(
      /['()*!]/g,
      (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
    );
    if (last !== "" && encoded !== ascii) header += `; filename*=UTF-8''${encoded}`;
  } catch {
    // A lone surrogate has no UTF-8: the ASCII name alone.
  }
  return header;
}
