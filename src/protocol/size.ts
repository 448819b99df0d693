/** Sizes as people write them: "512M", "1.5G", "64k", or a bare number of bytes (powers of 1024). */

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i;

/** Bytes for a size, or a RangeError. */
export function parseSize(value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`a size must be a positive number, got ${value}`);
    return Math.round(value);
  }
  const match = SIZE.exec(value.trim());
  if (!match) throw new RangeError(`a size looks like "512M", "2G" or "64k", got "${value}"`);
  return Math.round(Number(match[1]) * UNITS[match[2].toLowerCase()]);
}

export function formatSize(bytes: number): string {
  for (const [unit, size] of [["T", 1024 ** 4], ["G", 1024 ** 3], ["M", 1024 ** 2], ["K", 1024]] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))}${unit}`;
  }
  return `${bytes}B`;
}
