// fabric's dashboard: the one script of its pages (served as a file: the pages allow no inline script).
// It keeps the page's live region current, asking the server again with what it has (the server answers
// with the region anew, or 204 when nothing changed); it follows a task's output as it is written; and it
// asks before a form that stops work is sent. The regions are the server's escaped HTML; what this script
// writes itself goes in as text (textContent, text nodes), never as HTML.
"use strict";

/** Least time between two asks of a region, whatever the server says. */
const MIN_GAP_MS = 250;
const MAX_BACKOFF_MS = 10_000;
/** Output kept on the page; past it the oldest goes (`fabric logs TASK` prints it all). */
const LOG_MAX_CHARS = 2 * 1024 * 1024;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function backoff(failures) {
  return Math.min(MAX_BACKOFF_MS, 500 * 2 ** failures);
}

/** A line at the top of the page about the live updates themselves ("" hides it). */
function notice(text) {
  let bar = document.getElementById("live-notice");
  if (!bar) {
    bar = document.createElement("p");
    bar.id = "live-notice";
    bar.className = "notice";
    document.querySelector("main")?.prepend(bar);
  }
  bar.textContent = text;
  bar.hidden = text === "";
}

/** Keeps `#live` current until the server marks it ended (data-ended). */
async function followRegion() {
  let region = document.getElementById("live");
  if (!region || !region.dataset.live) return;
  let failures = 0;
  while (!region.dataset.ended) {
    const started = Date.now();
    const url = `${region.dataset.live}&since=${encodeURIComponent(region.dataset.since ?? "")}`;
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        notice("Signed out: reload the page to sign in again.");
        return;
      }
      if (response.status === 200) {
        const next = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("live");
        if (next) {
          region.replaceWith(document.adoptNode(next));
          region = next;
        }
      } else if (response.status !== 204) {
        throw new Error(`HTTP ${response.status}`);
      }
      failures = 0;
      notice("");
    } catch {
      failures++;
      notice("The tracker does not answer; trying again…");
    }
    const every = Number(region.dataset.every ?? 0);
    await sleep(Math.max(MIN_GAP_MS, every - (Date.now() - started), failures > 0 ? backoff(failures) : 0));
  }
}

/** Follows `#log`'s attempt from where the page's render ended; on to the next attempt unless one was chosen. */
async function followLog() {
  const log = document.getElementById("log");
  if (!log || !log.dataset.follow) return;
  const note = document.getElementById("log-note");
  const pinned = log.dataset.pinned === "1";
  const url = new URL(log.dataset.follow, location.href);
  let attempt = Number(url.searchParams.get("attempt"));
  let after = Number(url.searchParams.get("after") ?? -1);
  let kept = log.textContent.length;
  let failures = 0;

  const append = (node, chars) => {
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(node);
    kept += chars;
    while (kept > LOG_MAX_CHARS && log.firstChild) {
      kept -= log.firstChild.textContent.length;
      log.firstChild.remove();
      if (note) note.textContent = "Earlier output is no longer shown here: `fabric logs TASK` prints it all.";
    }
    if (atBottom) log.scrollTop = log.scrollHeight;
  };
  const chunk = (c) => {
    if (c.stream !== "stderr") return append(document.createTextNode(c.data), c.data.length);
    const span = document.createElement("span");
    span.className = "stderr";
    span.textContent = c.data;
    append(span, c.data.length);
  };

  for (let round = 0; round < 1_000_000; round++) {
    url.searchParams.set("attempt", String(attempt));
    if (after >= 0) url.searchParams.set("after", String(after));
    else url.searchParams.delete("after");
    let end = null;
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        notice("Signed out: reload the page to sign in again.");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      if (failures > 0 && note) note.textContent = "";
      failures = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
          const line = JSON.parse(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
          if (line.type === "chunk") {
            chunk(line.chunk);
            after = line.chunk.seq;
          } else if (line.type === "end") end = line;
        }
      }
    } catch {
      failures++;
      if (note) note.textContent = "The tracker does not answer; trying again…";
      await sleep(backoff(failures));
      continue;
    }
    if (!end) {
      await sleep(MIN_GAP_MS); // the stream was cut (the tracker restarted?): on from the last chunk
      continue;
    }
    // "lost": the task went on to another attempt (retried, or its agent went away).
    if (end.state === "lost" && !pinned) {
      const marker = document.createElement("span");
      marker.className = "marker";
      marker.textContent = `\n— attempt ${attempt} is over; attempt ${attempt + 1} follows —\n`;
      append(marker, marker.textContent.length);
      attempt++;
      after = -1;
      continue;
    }
    if (note) note.textContent = `Attempt ${attempt} ended: ${end.state}.`;
    log.dataset.ended = end.state;
    return;
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

followRegion();
followLog();
