import { escapeControls } from "./output.ts";

/** Daemon logs: one line per event on stderr, with the time and the role (names and reasons escaped). */
export function daemonLog(role: string): (message: string) => void {
  return (message) =>
    console.error(`${new Date().toISOString()} ${role}: ${escapeControls(message, { keepNewlines: true })}`);
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => {
      const handler = () => {
        signals.forEach((s, i) => Deno.removeSignalListener(s, handlers[i]));
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return handler;
    });
  });
}
