/** Outputs as Markdown: a heading each, a table of a mapping's fields, a JSON block for anything else. */
export function render(title: string, outputs: Array<{ name: string; output: unknown }>): string {
  const lines = [`# ${oneLine(title)}`, ""];
  if (outputs.length === 0) lines.push("_This task needs no task with an output._", "");
  for (const { name, output } of outputs) {
    lines.push(`## ${oneLine(name)}`, "");
    if (output !== null && typeof output === "object" && !Array.isArray(output)) {
      lines.push("| field | value |", "| --- | --- |");
      for (const [key, value] of Object.entries(output)) {
        lines.push(`| ${cell(key)} | ${cell(JSON.stringify(value))} |`);
      }
    } else {
      lines.push("```json", JSON.stringify(output, null, 2), "```");
    }
    lines.push("");
  }
  return lines.join("\n");
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ");
}

function cell(text: string): string {
  return oneLine(text).replaceAll("|", "\\|");
}
