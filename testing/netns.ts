/**
 * Two network namespaces joined by a veth pair, for tests whose traffic must not leave the machine
 * (UDP broadcasts): made with iproute2 as root, removed (with their veth) by `remove`.
 */

export interface NamespacePair {
  /** Names of the two namespaces. */
  a: string;
  b: string;
  /** Their addresses on the link between them (a /24). */
  addressA: string;
  addressB: string;
  /** `ip netns exec NAME`: what a process is started under to run in it. */
  exec(namespace: string): string[];
  remove(): Promise<void>;
}

/** Why namespaces cannot be made here (not root, no `ip`), or null. */
export function netnsProblem(): string | null {
  if (Deno.uid() !== 0) return "network namespaces need root";
  for (const dir of ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]) {
    try {
      Deno.statSync(`${dir}/ip`);
      return null;
    } catch {
      // Not there: the next.
    }
  }
  return "network namespaces need iproute2 (sudo apt-get install iproute2)";
}

async function run(command: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

export async function makeNamespacePair(): Promise<NamespacePair> {
  const tag = crypto.randomUUID().slice(0, 6);
  const [a, b] = [`fabric-${tag}-a`, `fabric-${tag}-b`];
  const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;
  const [addressA, addressB] = [`${subnet}.1`, `${subnet}.2`];
  const ip = async (...args: string[]) => {
    const result = await run("ip", args);
    if (result.code !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr}`);
  };
  const remove = async () => {
    for (const name of [a, b]) await run("ip", ["netns", "del", name]);
  };
  try {
    await ip("netns", "add", a);
    await ip("netns", "add", b);
    await ip("link", "add", `fv${tag}a`, "type", "veth", "peer", "name", `fv${tag}b`);
    await ip("link", "set", `fv${tag}a`, "netns", a);
    await ip("link", "set", `fv${tag}b`, "netns", b);
    for (const [ns, nic, address] of [[a, `fv${tag}a`, addressA], [b, `fv${tag}b`, addressB]]) {
      await ip("-n", ns, "addr", "add", `${address}/24`, "dev", nic);
      await ip("-n", ns, "link", "set", nic, "up");
      await ip("-n", ns, "link", "set", "lo", "up");
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return { a, b, addressA, addressB, exec: (ns) => ["ip", "netns", "exec", ns], remove };
}
