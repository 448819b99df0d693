/** `fabric logs TASK [--follow]` */
import { intFlag, parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";

const USAGE = `
fabric logs TASK [--follow] [--attempt N] [--stderr-only | --stdout-only]

A task's output in order (stdout and stderr interleaved as they were produced). Shows the current
attempt unless --attempt is given.

  -f, --follow    stream the output live until the attempt ends
  --attempt N     another attempt of the task
  --stdout-only   only standard output
  --stderr-only   only standard error
${CONNECTION_HELP}
`;

export async function logsCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("logs", args, {
    ...CONNECTION_FLAGS,
    follow: { type: "boolean", short: "f" },
    attempt: { type: "string" },
    "stdout-only": { type: "boolean" },
    "stderr-only": { type: "boolean" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length !== 1) {
    throw new UsageError("fabric logs takes one task id, e.g. fabric logs k3f9x2m4qa.0");
  }
  const only = parsed.values["stdout-only"] ? "stdout" : parsed.values["stderr-only"] ? "stderr" : null;
  const client = await connect(parsed);
  const encoder = new TextEncoder();
  try {
    for await (
      const line of client.logs(parsed.positionals[0], {
        follow: parsed.values.follow === true,
        attempt: intFlag(parsed, "attempt", 1, 1_000_000),
      })
    ) {
      if (line.type !== "chunk") continue;
      if (only && line.chunk.stream !== only) continue;
      const out = line.chunk.stream === "stderr" && !only ? Deno.stderr : Deno.stdout;
      await writeAll(out, encoder.encode(line.chunk.data));
    }
    return 0;
  } finally {
    client.close();
  }
}

async function writeAll(out: { write(p: Uint8Array): Promise<number> }, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await out.write(data.subarray(written));
}
