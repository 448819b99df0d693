/** The typed API client: the only way the CLI and agents talk to a tracker. */
export { FabricClient } from "./http_client.ts";
export { type ClientOptions, TrackerBusyError, TrackerUnreachableError } from "./tracker_connection.ts";
export {
  type BlobDownloadClient,
  BlobMismatchError,
  type BlobUploadClient,
  downloadBlob,
  type ReadAt,
  uploadBlob,
  withRetries,
} from "./blob_transfer.ts";
