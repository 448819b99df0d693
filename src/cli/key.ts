/** `fabric key generate --out FILE`: a key pair for signed jobs; and reading key files for submit and agent. */
import { keyName } from "../protocol/signing.ts";
import { generateSigningKey, parsePrivateKey, parsePublicKeys, type SigningKey } from "../protocol/signing_keys.ts";
import { parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { readRegularFile, reasonOf } from "./job_input.ts";
import { escapeControls } from "./output.ts";

const USAGE = `
fabric key generate --out FILE

Make an Ed25519 key pair for signed jobs: the private key in FILE (mode 0600; keep it where jobs are
submitted, never on an agent or the tracker) and the public key in FILE.pub, for agents to trust:

  fabric submit job.yaml --sign FILE          sign the job with the private key
  fabric agent ... --verify-key FILE.pub      run only tasks of jobs signed by it

Both files are PEM, as OpenSSL writes them ("openssl genpkey -algorithm ed25519" makes a key that
fabric takes too). An existing file is never overwritten.
`;

/** A key file is a few hundred bytes; anything this large is not one. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export async function keyCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("key", args, { out: { type: "string" } });
  if (wantsHelp(parsed, USAGE)) return 0;
  const [sub, ...rest] = parsed.positionals;
  if (sub === undefined) throw new UsageError("fabric key takes a subcommand: generate (see fabric key --help)");
  if (sub !== "generate") throw new UsageError(`Unknown key subcommand "${sub}" (see fabric key --help)`);
  if (rest.length > 0) throw new UsageError(`fabric key generate takes no argument, got "${rest[0]}"`);
  const out = stringFlag(parsed, "out");
  if (!out) throw new UsageError("fabric key generate needs --out FILE, where the private key goes");
  const key = await generateSigningKey();
  const publicFile = `${out}.pub`;
  // createNew: an existing file (or a link planted in its place) is never written through.
  await writeNew(out, key.privatePem, 0o600);
  try {
    await writeNew(publicFile, key.publicPem, 0o644);
  } catch (error) {
    await Deno.remove(out).catch(() => {});
    throw error;
  }
  console.log(escapeControls(`private key: ${out} (keep it secret)`));
  console.log(escapeControls(`public key:  ${publicFile} (${keyName(key.publicKey)})`));
  return 0;
}

async function writeNew(path: string, text: string, mode: number): Promise<void> {
  try {
    await Deno.writeTextFile(path, text, { createNew: true, mode });
    await Deno.chmod(path, mode);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new UsageError(`"${path}" already exists; it is not overwritten (remove it or choose another --out)`);
    }
    throw new UsageError(`Cannot write "${path}": ${reasonOf(error)}`);
  }
}

/** The private key of `fabric submit --sign FILE`. */
export async function readSigningKey(file: string): Promise<SigningKey> {
  const text = await readKeyFile(file, "signing key");
  try {
    return await parsePrivateKey(text);
  } catch (error) {
    throw new UsageError(`The signing key "${file}" ${(error as Error).message}`);
  }
}

/** The public keys of `fabric agent --verify-key FILE` (a file may hold several). */
export async function readVerifyKeys(file: string): Promise<string[]> {
  const text = await readKeyFile(file, "verify key");
  try {
    return await parsePublicKeys(text);
  } catch (error) {
    throw new UsageError(`The verify key file "${file}" ${(error as Error).message}`);
  }
}

async function readKeyFile(file: string, what: string): Promise<string> {
  try {
    return new TextDecoder().decode(await readRegularFile(file, MAX_KEY_FILE_BYTES));
  } catch (error) {
    const reason = error instanceof RangeError ? `it is over ${MAX_KEY_FILE_BYTES} bytes` : reasonOf(error);
    throw new UsageError(`Cannot read the ${what} "${file}": ${reason}`);
  }
}
