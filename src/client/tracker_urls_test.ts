import assert from "node:assert/strict";
import type { TrackersResponse } from "../protocol/mod.ts";
import { learntUrls, TrackerUrls } from "./tracker_urls.ts";

Deno.test("a tracker that cannot be reached hands over to the next in the list, and the last to the first", () => {
  const urls = new TrackerUrls(["https://a:1/", "https://b:1", "https://a:1", "https://c:1"]);
  assert.deepEqual(urls.all, ["https://a:1", "https://b:1", "https://c:1"]);
  assert.equal(urls.current, "https://a:1");
  urls.next("https://a:1");
  assert.equal(urls.current, "https://b:1");
  urls.next("https://a:1"); // a late failure of a: another call moved on already
  assert.equal(urls.current, "https://b:1");
  urls.next("https://b:1");
  urls.next("https://c:1");
  assert.equal(urls.current, "https://a:1");
  const one = new TrackerUrls(["https://only:1"]);
  one.next("https://only:1");
  assert.equal(one.current, "https://only:1");
  assert.throws(() => new TrackerUrls([]), /at least one tracker URL/);
});

Deno.test("a learnt list keeps the address the tracker was reached by first, drops trackers long silent, keeps the given", () => {
  const now = Date.parse("2026-01-01T00:10:00Z");
  const view = (id: string, url: string, lastSeen: string) => ({
    id,
    url,
    role: "follower" as const,
    version: "1",
    startedAt: lastSeen,
    lastSeen,
  });
  const answer: TrackersResponse = {
    answeredBy: "t1",
    trackers: [
      view("t0", "https://t0.example:7443", "2026-01-01T00:09:58Z"),
      view("t1", "https://t1.example:7443", "2026-01-01T00:09:59Z"), // reached through a proxy: not this URL
      view("t2", "https://t2.example:7443", "2026-01-01T00:01:00Z"), // silent for 9 minutes
    ],
  };
  const current = "https://127.0.0.1:9999";
  assert.deepEqual(learntUrls(answer, { current, given: [], now }), [current, "https://t0.example:7443"]);
  assert.deepEqual(
    learntUrls(answer, { current, given: ["https://t2.example:7443/", current], now }),
    [current, "https://t0.example:7443", "https://t2.example:7443"],
  );
  const urls = new TrackerUrls(["https://x:1", current]);
  urls.next("https://x:1");
  urls.replace(learntUrls(answer, { current: urls.current, given: [], now }));
  assert.deepEqual(urls.all, [current, "https://t0.example:7443"]);
  assert.equal(urls.current, current, "the current tracker stays current");
});
