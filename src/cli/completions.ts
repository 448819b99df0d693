/**
 * `fabric completions bash|zsh|fish`: a completion script for the commands, their subcommands and
 * flags. What each command takes is read from its own --help text (run here, in this process), so
 * the script follows the commands as they change: nothing to keep in step by hand.
 */
import { parseFlags, UsageError, wantsHelp } from "./args.ts";

const USAGE = `
fabric completions bash|zsh|fish

Print a shell completion script for fabric's commands, subcommands and flags. Install it:

  bash   fabric completions bash > ~/.local/share/bash-completion/completions/fabric
  zsh    fabric completions zsh > "\${fpath[1]}/_fabric"   (or: source <(fabric completions zsh) in ~/.zshrc)
  fish   fabric completions fish > ~/.config/fish/completions/fabric.fish
`;

export interface CommandWords {
  name: string;
  subcommands: string[];
  flags: string[];
}

/** Each command with what its --help names; `help` runs a command's --help and returns what it printed. */
export async function commandWords(
  names: readonly string[],
  help: (name: string) => Promise<string>,
): Promise<CommandWords[]> {
  const out: CommandWords[] = [];
  for (const name of names) {
    const text = await help(name);
    const subcommands = new Set<string>();
    const flags = new Set<string>(["help"]);
    const take = (text: string) => {
      for (const m of text.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)) flags.add(m[1]);
    };
    for (const line of text.split("\n")) {
      // Usage lines name subcommands and flags; option lines start with their flags, then two spaces
      // and what they do (whose prose may quote other programs' flags).
      const usage = line.match(/^fabric (\S+)(?: ([a-z][a-z-]*))?(\s|$)/);
      if (usage && usage[1] === name) {
        if (usage[2]) subcommands.add(usage[2]);
        take(line);
      } else if (/^\s{2,}-/.test(line)) take(line.trim().split(/\s{2,}/)[0]);
    }
    out.push({ name, subcommands: [...subcommands].sort(), flags: [...flags].sort() });
  }
  return out;
}

export function bashScript(commands: CommandWords[]): string {
  const cases = commands.map((c) =>
    `    ${c.name}) flags="${c.flags.map((f) => `--${f}`).join(" ")}"; subs="${c.subcommands.join(" ")}" ;;`
  ).join("\n");
  return `# fabric completion for bash (fabric completions bash)
_fabric() {
  local cur=\${COMP_WORDS[COMP_CWORD]} flags="" subs=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commands.map((c) => c.name).join(" ")} help version" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [ "$COMP_CWORD" -eq 2 ] && [ -n "$subs" ]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _fabric fabric
`;
}

export function zshScript(commands: CommandWords[]): string {
  return `#compdef fabric
# fabric completion for zsh (fabric completions zsh): the bash completion, through zsh's bashcompinit
autoload -U +X bashcompinit && bashcompinit
${bashScript(commands)}`;
}

export function fishScript(commands: CommandWords[]): string {
  const lines = [
    "# fabric completion for fish (fabric completions fish)",
    `complete -c fabric -n __fish_use_subcommand -f -a "${commands.map((c) => c.name).join(" ")}"`,
  ];
  for (const c of commands) {
    const when = `"__fish_seen_subcommand_from ${c.name}"`;
    if (c.subcommands.length > 0) lines.push(`complete -c fabric -n ${when} -f -a "${c.subcommands.join(" ")}"`);
    for (const flag of c.flags) lines.push(`complete -c fabric -n ${when} -l ${flag}`);
  }
  return lines.join("\n") + "\n";
}

export async function completionsCommand(
  args: string[],
  commands: readonly string[],
  help: (name: string) => Promise<string>,
): Promise<number> {
  const parsed = parseFlags("completions", args, {});
  if (wantsHelp(parsed, USAGE)) return 0;
  const shell = parsed.positionals[0];
  if (parsed.positionals.length !== 1 || !["bash", "zsh", "fish"].includes(shell)) {
    throw new UsageError("fabric completions takes one shell: bash, zsh or fish (see fabric completions --help)");
  }
  const words = await commandWords(commands.filter((c) => c !== "completions"), help);
  const script = shell === "bash" ? bashScript(words) : shell === "zsh" ? zshScript(words) : fishScript(words);
  await Deno.stdout.write(new TextEncoder().encode(script));
  return 0;
}
