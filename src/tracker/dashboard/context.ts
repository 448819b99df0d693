/** What a page is given besides its request: the tracker, who calls, and what pages share. */
import type { Tracker } from "../tracker.ts";
import type { Caller } from "./caller.ts";
import type { WaitingNotes } from "./waiting_notes.ts";

export interface PageContext {
  tracker: Tracker;
  caller: Caller;
  waiting: WaitingNotes;
}
