/**
 * How a blob is cut into chunks, apart from blob.ts's schemas: the client's transfers need only this,
 * and every CLI command loads the client (a command that fails, or `fabric --version`, must not build
 * every zod schema first).
 */

/** One chunk of a blob: one request's body, one row. The last chunk may be shorter (an empty blob has none). */
export const BLOB_CHUNK_BYTES = 4 * 1024 * 1024;

/** The number of chunks of a blob of `size` bytes. */
export function chunkCount(size: number): number {
  return Math.ceil(size / BLOB_CHUNK_BYTES);
}
