// A script task: TypeScript run by Deno with exactly the permissions the job file grants.
const name = Deno.env.get("FABRIC_TASK_NAME");
const words = ["alpha", "beta", "gamma"];
await Deno.writeTextFile("report.txt", words.join("\n"));
const text = await Deno.readTextFile("report.txt");
console.log(`${name}: wrote and read ${text.split("\n").length} lines in ${Deno.cwd()}`);
await Deno.writeTextFile(Deno.env.get("FABRIC_OUTPUT")!, JSON.stringify({ lines: words.length }));
