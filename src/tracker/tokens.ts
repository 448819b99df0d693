/**
 * Client tokens: their names and roles, which are revoked or expired, and when each was last used.
 * Only SHA-256 hashes are kept. Time comes in as arguments; changes go out through the store writer.
 */
import { FabricError, type Role, roleIncludes, type TokenView } from "../protocol/mod.ts";
import type { TokenRecord } from "../store/mod.ts";
import { hashesEqual, hashToken, newToken } from "./auth.ts";
import { iso } from "./views.ts";

/**
 * A token's use is written at most this often: a client polling its job would otherwise cost a
 * store write per request. In between, the time of its last use is kept in memory (and listed).
 */
export const LAST_USED_WRITE_MS = 60_000;

/** Hex digits of a hash a token is looked up by (64 bits). */
const PREFIX_CHARS = 16;

/** The one admin token every tracker starts with (`admin.token`), and the one `reset-admin-token` replaces. */
export const FIRST_ADMIN = "admin";

/** Where a token's changes go (the tracker's store writer). */
export interface TokenWriter {
  token(record: TokenRecord): void;
}

interface Entry {
  record: TokenRecord;
  /** When its use was last handed to the writer. */
  usedWrittenAt: number;
}

export class TokenRegistry {
  #byHash = new Map<string, Entry>();
  /**
   * By the first 64 bits of the hash, how a request's token is found; the whole hash is then compared
   * in constant time. So a lookup's timing tells at most about part of a hash, never about a token.
   */
  #byPrefix = new Map<string, Entry[]>();

  get size(): number {
    return this.#byHash.size;
  }

  /**
   * Take the store's tokens, merged with what is known here as the store merges (a revocation stays, a
   * last use only moves forward): a change made here and not written yet is not lost, and a token made
   * here and not written yet is kept (the store never forgets a token, so one it lacks is one to come).
   */
  load(records: TokenRecord[]): void {
    const next = new Map<string, Entry>();
    for (const record of records) {
      const known = this.#byHash.get(record.hash);
      if (known) {
        record.revokedAt ??= known.record.revokedAt;
        if ((known.record.lastUsedAt ?? 0) > (record.lastUsedAt ?? 0)) record.lastUsedAt = known.record.lastUsedAt;
      }
      next.set(record.hash, { record, usedWrittenAt: known?.usedWrittenAt ?? record.lastUsedAt ?? 0 });
    }
    for (const [hash, entry] of this.#byHash) if (!next.has(hash)) next.set(hash, entry);
    this.#byHash = next;
    this.#byPrefix = new Map();
    for (const entry of next.values()) this.#index(entry);
  }

  #index(entry: Entry): void {
    const prefix = entry.record.hash.slice(0, PREFIX_CHARS);
    const entries = this.#byPrefix.get(prefix);
    if (entries) entries.push(entry);
    else this.#byPrefix.set(prefix, [entry]);
  }

  /**
   * The token that `hash` is the hash of, as a client principal, or a FabricError("unauthorized") saying
   * why it is refused (revoked, expired); null when no token has that hash.
   */
  authenticate(hash: string, now: number, writer: TokenWriter): { name: string; role: Role } | null {
    const entry = this.#byPrefix.get(hash.slice(0, PREFIX_CHARS))?.find((e) => hashesEqual(hash, e.record.hash));
    if (!entry) return null;
    const { record } = entry;
    if (record.revokedAt !== null) {
      throw new FabricError("unauthorized", `The token "${record.name}" was revoked at ${iso(record.revokedAt)}`);
    }
    if (record.expiresAt !== null && now >= record.expiresAt) {
      throw new FabricError("unauthorized", `The token "${record.name}" expired at ${iso(record.expiresAt)}`);
    }
    record.lastUsedAt = now;
    if (now - entry.usedWrittenAt >= LAST_USED_WRITE_MS) {
      entry.usedWrittenAt = now;
      writer.token(record);
    }
    return { name: record.name, role: record.role };
  }

  /** Hand the writer every use not written yet (the tracker is stopping). */
  writeUses(writer: TokenWriter): void {
    for (const entry of this.#byHash.values()) {
      const used = entry.record.lastUsedAt;
      if (used !== null && used > entry.usedWrittenAt) {
        entry.usedWrittenAt = used;
        writer.token(entry.record);
      }
    }
  }

  /** A new token (made here unless given): its secret is returned, only its hash kept. */
  create(
    request: { name: string; role: Role; expiresAt: number | null; token?: string },
    now: number,
    writer: TokenWriter,
  ): { token: string; record: TokenRecord } {
    const taken = this.#live(request.name, now);
    if (taken.length > 0) {
      throw new FabricError(
        "conflict",
        `A token named "${request.name}" exists; revoke it first (fabric token revoke ${request.name}) or choose another name`,
      );
    }
    const token = request.token ?? newToken(`fabric-${request.role}`);
    const record: TokenRecord = {
      hash: hashToken(token),
      name: request.name,
      role: request.role,
      createdAt: now,
      expiresAt: request.expiresAt,
      revokedAt: null,
      lastUsedAt: null,
    };
    const entry = { record, usedWrittenAt: now };
    this.#byHash.set(record.hash, entry);
    this.#index(entry);
    writer.token(record);
    return { token, record };
  }

  /**
   * Revoke every token named `name` not revoked yet. The last admin token that works is not revoked:
   * nobody could then manage tokens but someone with the tracker's data directory.
   */
  revoke(name: string, now: number, writer: TokenWriter): TokenRecord[] {
    const named = [...this.#byHash.values()].map((e) => e.record).filter((r) =>
      r.name === name && r.revokedAt === null
    );
    if (named.length === 0) throw new FabricError("not_found", `No token named "${name}" (fabric token list)`);
    const admins = [...this.#byHash.values()].filter((e) => usable(e.record, now) && e.record.role === "admin");
    if (admins.length > 0 && admins.every((e) => e.record.name === name)) {
      throw new FabricError(
        "conflict",
        `"${name}" is the last admin token that works: create another first (fabric token create --role admin ` +
          `--name NAME); someone with the tracker's data directory can also replace it (fabric tracker reset-admin-token)`,
      );
    }
    for (const record of named) {
      record.revokedAt = now;
      writer.token(record);
    }
    return named;
  }

  /** Every token, by name, newest first within a name. */
  list(now: number): TokenView[] {
    return [...this.#byHash.values()]
      .map((e) => e.record)
      .sort((a, b) => a.name.localeCompare(b.name) || b.createdAt - a.createdAt)
      .map((r) => ({
        name: r.name,
        role: r.role,
        state: r.revokedAt !== null ? "revoked" : usable(r, now) ? "active" : "expired",
        createdAt: iso(r.createdAt)!,
        expiresAt: iso(r.expiresAt),
        revokedAt: iso(r.revokedAt),
        lastUsedAt: iso(r.lastUsedAt),
      }));
  }

  /**
   * The rights of the token named `name` now, for what it started that runs later (a periodic job's
   * launches): the lowest role among its tokens that work, or null when none does (revoked, expired).
   */
  rightsOf(name: string, now: number): { name: string; role: Role } | null {
    const roles = this.#live(name, now).map((r) => r.role);
    if (roles.length === 0) return null;
    return { name, role: roles.reduce((low, role) => roleIncludes(low, role) ? role : low) };
  }

  /** Tokens named `name` that are neither revoked nor expired. */
  #live(name: string, now: number): TokenRecord[] {
    return [...this.#byHash.values()].map((e) => e.record).filter((r) => r.name === name && usable(r, now));
  }
}

function usable(record: TokenRecord, now: number): boolean {
  return record.revokedAt === null && (record.expiresAt === null || now < record.expiresAt);
}
