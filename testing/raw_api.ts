/**
 * The tracker's HTTP API without the typed client: any bytes, any token, for tests that send what a
 * hostile or broken client would (invalid UTF-8, NUL bytes, deep nesting, wrong types).
 */
import { join } from "node:path";
import type { Cluster } from "./cluster.ts";

export interface RawAnswer {
  status: number;
  text: string;
  /** The parsed body, or undefined when it was not JSON. */
  json: unknown;
  ms: number;
}

export class RawApi {
  readonly #http: Deno.HttpClient;
  readonly #url: string;

  private constructor(http: Deno.HttpClient, url: string) {
    this.#http = http;
    this.#url = url;
  }

  static async of(cluster: Cluster): Promise<RawApi> {
    const caPem = await Deno.readTextFile(join(cluster.trackerDir, "ca.pem"));
    return new RawApi(Deno.createHttpClient({ caCerts: [caPem], http1: true, http2: false }), cluster.url);
  }

  /** One request; `body` as bytes or text is sent as is, anything else as JSON. */
  async request(
    method: string,
    path: string,
    token: string,
    body?: unknown,
    timeoutMs = 10_000,
    /** Ends the request early (a long poll the test is done with). */
    signal?: AbortSignal,
    /** More headers (ones a hostile client adds); a token is sent unless `authorization` is given here. */
    headers: Record<string, string> = {},
  ): Promise<RawAnswer> {
    const started = performance.now();
    const payload = body === undefined || body instanceof Uint8Array || typeof body === "string"
      ? body
      : JSON.stringify(body);
    const response = await fetch(this.#url + path, {
      method,
      client: this.#http,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body: payload as BodyInit | undefined,
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json, ms: performance.now() - started };
  }

  close(): void {
    this.#http.close();
  }
}

/** A registration body as an agent sends it, with `over` merged in. */
export function registration(name: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    labels: {},
    slots: 1,
    version: "0.1.0",
    os: "linux",
    arch: "x86_64",
    capabilities: { sandbox: true, unsandboxed: false, cgroup: null, deno: true, git: true },
    resources: { cpu: 1, memory: 1 << 30, disk: 1 << 30 },
    ...over,
  };
}
