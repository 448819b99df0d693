/**
 * The command line: one file per command, and the one place that turns errors into exit codes
 * (exit_codes.ts lists them).
 */
// Little at the start of every command: `fabric --version` loads nothing more, a command loads its own
// module, and what turns an error into a message and an exit code (failure.ts) loads only for one.
import { FABRIC_VERSION } from "../protocol/version.ts";
import { seedRandomInBackground } from "../tls/random.ts";
import { EXIT } from "./exit_codes.ts";
import { flushDaemonLog } from "./logger.ts";

type Command = (args: string[]) => Promise<number>;

/** Each command's module is loaded when it runs: a client command never loads the tracker's code. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  tracker: async () => (await import("./tracker.ts")).trackerCommand,
  agent: async () => (await import("./agent.ts")).agentCommand,
  dev: async () => (await import("./dev.ts")).devCommand,
  submit: async () => (await import("./submit.ts")).submitCommand,
  status: async () => (await import("./status.ts")).statusCommand,
  logs: async () => (await import("./logs.ts")).logsCommand,
  artifacts: async () => (await import("./artifacts.ts")).artifactsCommand,
  agents: async () => (await import("./agents.ts")).agentsCommand,
  trackers: async () => (await import("./trackers.ts")).trackersCommand,
  cancel: async () => (await import("./cancel.ts")).cancelCommand,
  gc: async () => (await import("./gc.ts")).gcCommand,
  audit: async () => (await import("./audit.ts")).auditCommand,
  rerun: async () => (await import("./rerun.ts")).rerunCommand,
  run: async () => (await import("./run.ts")).runCommand,
  results: async () => (await import("./results.ts")).resultsCommand,
  validate: async () => (await import("./validate.ts")).validateCommand,
  schema: async () => (await import("./schema.ts")).schemaCommand,
  key: async () => (await import("./key.ts")).keyCommand,
  store: async () => (await import("./store.ts")).storeCommand,
  token: async () => (await import("./token.ts")).tokenCommand,
  completions: () => Promise.resolve(completions),
  secret: async () => (await import("./secret.ts")).secretCommand,
  periodic: async () => (await import("./periodic.ts")).periodicCommand,
  channel: async () => (await import("./channel.ts")).channelCommand,
  channels: async () => (await import("./channel.ts")).channelsCommand,
};

/** `fabric completions`: each command's --help, run here with its output caught, tells what it takes. */
async function completions(args: string[]): Promise<number> {
  const { completionsCommand } = await import("./completions.ts");
  const help = async (name: string) => {
    const said: string[] = [];
    const log = console.log;
    console.log = (...parts: unknown[]) => said.push(parts.join(" "));
    try {
      await (await COMMANDS[name]())(["--help"]);
    } finally {
      console.log = log;
    }
    return said.join("\n");
  };
  return await completionsCommand(args, Object.keys(COMMANDS), help);
}

/** Commands that never open a TLS connection. */
const OFFLINE = new Set(["validate", "schema", "key", "completions"]);

const USAGE = `
fabric ${FABRIC_VERSION}: run commands over there, reliably, and tell me what happened.

Roles:
  fabric tracker              run the control plane
  fabric agent --join ...     run a worker that joins a tracker
  fabric dev                  a tracker and one agent on loopback, for trying things out
  fabric store copy ...       move a tracker's SQLite data into PostgreSQL

Client:
  fabric submit FILE [--wait] submit a job file
  fabric status [JOB|TASK]    jobs, one job's tasks, or one task's attempts
  fabric logs TASK|JOB [-f]   a task's output, or every task's of a job
  fabric artifacts TASK|JOB   the files tasks kept; artifacts get TASK PATH|GLOB [-o DIR] downloads them
  fabric cancel JOB           stop a job
  fabric rerun JOB [--failed] submit a job's file again (only what did not succeed, with --failed)
  fabric run [--all] -- CMD   a command on one agent, or on every one, its output prefixed by agent;
                              --async prints a token, fabric results TOKEN shows what ended
  fabric periodic             jobs with a schedule (submit registers them): pause, resume, run, delete NAME
  fabric agents               the agents and their load (weight, drain, resume, approve, remove NAME)
  fabric token create ...     client tokens with a role (read, submit, operator, admin); list, revoke,
                              rotate-join
  fabric gc                   delete the ended jobs past their retention now
  fabric trackers             the trackers sharing the store: which leads, address, version
  fabric audit [--since 1d]   who changed what, when, from where (admin tokens; --json to export)
  fabric validate FILE        check a job file without submitting it
  fabric schema               the job file's JSON Schema, for editors
  fabric key generate         a key pair for signed jobs (submit --sign, agent --verify-key)
  fabric secret set NAME      a secret for jobs (value from stdin); secret list, secret delete NAME
  fabric channel set|get|del|list|watch NAME ...
                              shared keys with revisions, compare-and-set, TTLs and watches, for
                              people and tasks (fabric channels lists them)
  fabric completions SHELL    a completion script for bash, zsh or fish

"fabric COMMAND --help" tells more. Exit codes: 0 ok, 1 a task failed or the job was cancelled,
2 invalid file or flags, 3 the tracker cannot be reached, cannot serve now (its store or the leader
away: try again) or refused the credentials (a wrong, expired or revoked token), 4 submit --wait --timeout passed before the job ended, 5 the data directory is in
use by another tracker or agent, 6 the token's role does not allow the action (the message names
the role it needs).
`;

/** Run the CLI; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE.trim());
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === "version" || command === "--version") {
    console.log(`fabric ${FABRIC_VERSION} (deno ${Deno.version.deno})`);
    return EXIT.ok;
  }
  const load = COMMANDS[command];
  if (!load) {
    const { escapeControls } = await import("./output.ts");
    console.error(escapeControls(`fabric: unknown command "${command}" (see fabric --help)`));
    return EXIT.usage;
  }
  if (!OFFLINE.has(command)) seedRandomInBackground();
  try {
    const code = await (await load())(rest);
    await flushDaemonLog();
    return code;
  } catch (error) {
    // A daemon's lines so far come before why it stopped.
    await flushDaemonLog();
    const { reportFailure } = await import("./failure.ts");
    return reportFailure(command, error);
  }
}
