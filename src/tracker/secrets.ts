/**
 * The tracker's secrets: held sealed in memory as in the store, opened only to build the assignment
 * of a task that uses them. A submission that names a secret that does not exist, or that its
 * submitter may not use, is refused; a secret deleted after a job was submitted fails that job's
 * tasks that have not started yet, when they are placed (their agents never get anything of it).
 */
import {
  type Clock,
  DEFAULT_SECRET_ALLOW,
  FabricError,
  type JobSpec,
  type SecretView,
  type SetSecretResponse,
} from "../protocol/mod.ts";
import { emptyBatch, type Fence, type JobSecretRecord, type Store } from "../store/mod.ts";
import type { SecretKey } from "./secret_key.ts";
import { describeAllow, mayUseSecret, type Submitter } from "./secret_policy.ts";

export interface SecretsOptions {
  store: Store;
  key: SecretKey;
  /** The lease a leading tracker writes by (a store several trackers share): as the tracker's own writes. */
  fence?: Fence;
  clock: Pick<Clock, "now">;
  log: (message: string) => void;
}

/** A task's secrets opened for its assignment (variable -> value), or why they cannot be. */
export type SecretValues = { values: Record<string, string> } | { problem: string };

export class Secrets {
  #records = new Map<string, JobSecretRecord>();
  #o: SecretsOptions;

  constructor(options: SecretsOptions) {
    this.#o = options;
  }

  /** Read the store's secrets; those another key sealed are kept (a restored key opens them) but said. */
  async load(): Promise<void> {
    for (const record of await this.#o.store.loadJobSecrets()) this.#records.set(record.name, record);
    const foreign = [...this.#records.values()].filter((r) => r.keyId !== this.#o.key.id).map((r) => r.name);
    if (foreign.length > 0) {
      this.#o.log(
        `${foreign.length} secret(s) were sealed with another secrets.key and cannot be used: ` +
          `${foreign.join(", ")} (put that key back in the data directory, or set them again)`,
      );
    }
  }

  list(): SecretView[] {
    return [...this.#records.values()].sort((a, b) => a.name.localeCompare(b.name)).map((r) => this.#view(r));
  }

  #view(record: JobSecretRecord): SecretView {
    const view: SecretView = {
      name: record.name,
      allow: record.allow,
      createdAt: new Date(record.createdAt).toISOString(),
      updatedAt: new Date(record.updatedAt).toISOString(),
      usable: record.keyId === this.#o.key.id,
    };
    if (!view.usable) view.problem = "sealed with another secrets.key: put that key back, or set it again";
    return view;
  }

  /**
   * Set a secret's value, and its rule if given (entries as stored: `role:R`, `token:NAME`; a new secret
   * gets the default rule). Answers once stored.
   */
  async set(name: string, { value, allow }: { value: string; allow?: string[] }): Promise<SetSecretResponse> {
    const old = this.#records.get(name);
    const now = this.#o.clock.now();
    const record: JobSecretRecord = {
      name,
      keyId: this.#o.key.id,
      ...this.#o.key.seal(name, value),
      allow: allow ? [...new Set(allow)] : old?.allow ?? [...DEFAULT_SECRET_ALLOW],
      createdAt: old?.createdAt ?? now,
      updatedAt: now,
    };
    const batch = emptyBatch();
    batch.jobSecrets.push(record);
    await this.#o.store.write(batch, this.#o.fence);
    this.#records.set(name, record);
    this.#o.log(`secret ${name} ${old ? "updated" : "created"}; jobs of ${describeAllow(record.allow)} may use it`);
    return { ...this.#view(record), created: !old };
  }

  /** Delete a secret: new submissions that name it are refused, and tasks not started yet fail. */
  async delete(name: string): Promise<void> {
    if (!this.#records.has(name)) throw new FabricError("not_found", `No secret "${name}"`);
    const batch = emptyBatch();
    batch.deletedJobSecrets.push(name);
    await this.#o.store.write(batch, this.#o.fence);
    this.#records.delete(name);
    this.#o.log(`secret ${name} deleted`);
  }

  /**
   * A submission's secrets, before it is stored: each one must exist, open with this tracker's key,
   * and be one its submitter may use. Nothing is opened here.
   */
  checkJob(spec: JobSpec, submitter: Submitter): void {
    const missing: string[] = [];
    for (const { field, name } of secretsOf(spec)) {
      const record = this.#records.get(name);
      if (!record) {
        missing.push(`"${field}" names the secret "${name}", which does not exist (see fabric secret list)`);
      } else if (record.keyId !== this.#o.key.id) {
        throw new FabricError(
          "conflict",
          `The job names the secret "${name}" ("${field}"), which this tracker cannot open: it was sealed with ` +
            "another secrets.key (put that key back in the tracker's data directory, or set the secret again)",
        );
      } else if (!mayUseSecret(record.allow, submitter)) {
        throw new FabricError(
          "forbidden",
          `The job may not use the secret "${name}" ("${field}"): it is for jobs submitted with ` +
            `${describeAllow(record.allow)}; this one is submitted with the token "${submitter.name}" ` +
            `(${submitter.role} role)`,
        );
      }
    }
    if (missing.length > 0) {
      throw new FabricError("invalid_job", `The job is invalid: ${missing.slice(0, 20).join("; ")}`);
    }
  }

  /**
   * The values of a task's secrets (variable -> secret name), opened for its assignment now, if its
   * job's submitter may still use each: `submitter` is who submitted the job with the rights their
   * token has now, or why it has none (revoked, expired). A rule made stricter, or a token revoked,
   * after a job was submitted keeps its tasks not yet placed from the secret (a stolen token revoked
   * stops what it queued from getting them).
   */
  valuesFor(mapping: Record<string, string>, submitter: () => Submitter | string): SecretValues {
    // Most tasks have none: they cost a check, not an object.
    let any = false;
    for (const _ in mapping) {
      any = true;
      break;
    }
    if (!any) return NO_SECRETS;
    const rights = submitter();
    if (typeof rights === "string") return { problem: `the job's secrets are not given: ${rights}` };
    const values: Record<string, string> = {};
    for (const [variable, name] of Object.entries(mapping)) {
      const record = this.#records.get(name);
      if (!record) {
        return { problem: `the secret "${name}" no longer exists (it was deleted after the job was submitted)` };
      }
      if (!mayUseSecret(record.allow, rights)) {
        return {
          problem: `the secret "${name}" is now for jobs submitted with ${describeAllow(record.allow)}; this job was ` +
            `submitted with the token "${rights.name}" (${rights.role} role)`,
        };
      }
      const value = record.keyId === this.#o.key.id ? this.#o.key.open(name, record) : null;
      if (value === null) {
        return { problem: `the secret "${name}" cannot be opened with this tracker's secrets.key` };
      }
      values[variable] = value;
    }
    return { values };
  }
}

/** What `valuesFor` answers for a task without secrets (compare with it: no field to send). */
export const NO_SECRETS: SecretValues = Object.freeze({ values: Object.freeze({}) });

/** Every secret a job names, once per field and name, with the field that names it. */
function secretsOf(spec: JobSpec): Array<{ field: string; name: string }> {
  const found = new Map<string, { field: string; name: string }>();
  const add = (field: string, mapping: Record<string, string> | undefined) => {
    for (const name of Object.values(mapping ?? {})) {
      if (!found.has(`${field}\0${name}`)) found.set(`${field}\0${name}`, { field, name });
    }
  };
  add("secrets", spec.secrets);
  spec.tasks.forEach((task, i) => add(`tasks[${i}].secrets`, task.secrets));
  return [...found.values()];
}
