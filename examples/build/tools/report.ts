// The job's report: which of the unit shards passed (each needed task's outputs come in $FABRIC_NEEDS_UNIT).
const needs = Deno.env.get("FABRIC_NEEDS_UNIT");
const shards = needs ? JSON.parse(await Deno.readTextFile(needs)) : [];
console.log(`report: ${Array.isArray(shards) ? shards.length : 1} unit shard(s) done`);
