/**
 * The API's calls on channels (tracker/channels.ts): small shared keys jobs coordinate through. `task`
 * is given by an agent calling for one of its tasks (agent/channel_socket.ts), which the tracker checks.
 */
import type {
  AttemptRef,
  ChannelKeysResponse,
  ChannelKeyView,
  ChannelsResponse,
  ChannelWatchResponse,
  DeleteChannelKeyResponse,
  SetChannelKeyRequest,
  SetChannelKeyResponse,
} from "../protocol/mod.ts";
import { TASK_HEADER } from "../protocol/task_header.ts";
import { JobCalls } from "./job_calls.ts";

/** One layer of `FabricClient` (http_client.ts): its calls on channels. */
export class ChannelCalls extends JobCalls {
  listChannels(): Promise<ChannelsResponse> {
    return this.json("GET", "/v1/channels");
  }
  listChannelKeys(channel: string, task?: AttemptRef): Promise<ChannelKeysResponse> {
    return this.json("GET", `/v1/channels/${encodeURIComponent(channel)}`, { headers: taskHeader(task) });
  }
  getChannelKey(channel: string, key: string, task?: AttemptRef): Promise<ChannelKeyView> {
    return this.json("GET", channelKeyPath(channel, key), { headers: taskHeader(task) });
  }
  setChannelKey(
    channel: string,
    key: string,
    request: SetChannelKeyRequest,
    task?: AttemptRef,
  ): Promise<SetChannelKeyResponse> {
    return this.json("PUT", channelKeyPath(channel, key), { body: request, headers: taskHeader(task) });
  }
  deleteChannelKey(
    channel: string,
    key: string,
    options: { ifRevision?: number; task?: AttemptRef } = {},
  ): Promise<DeleteChannelKeyResponse> {
    const query = options.ifRevision === undefined ? "" : `?ifRevision=${options.ifRevision}`;
    return this.json("DELETE", `${channelKeyPath(channel, key)}${query}`, { headers: taskHeader(options.task) });
  }
  /** The changes of `channel` after revision `after`, waiting up to `waitMs` for the first. */
  watchChannel(
    channel: string,
    after: number,
    options: { waitMs: number; signal?: AbortSignal; task?: AttemptRef },
  ): Promise<ChannelWatchResponse> {
    const path = `/v1/channels/${encodeURIComponent(channel)}/watch?after=${after}&waitMs=${options.waitMs}`;
    return this.json<ChannelWatchResponse>("GET", path, {
      timeoutMs: options.waitMs + 15_000,
      signal: options.signal,
      headers: taskHeader(options.task),
    });
  }
}

function taskHeader(task: AttemptRef | undefined): Record<string, string> | undefined {
  return task ? { [TASK_HEADER]: `${task.taskId}/${task.attempt}` } : undefined;
}

function channelKeyPath(channel: string, key: string): string {
  return `/v1/channels/${encodeURIComponent(channel)}/keys/${encodeURIComponent(key)}`;
}
