/**
 * Whether a failed fetch never made its connection (refused, no route, no such name): then nothing of
 * the request was sent, and sending it again, anywhere, cannot do it twice.
 */
export function notConnected(error: unknown): boolean {
  const text = `${(error as Error)?.message} ${(error as Error & { cause?: Error })?.cause?.message ?? ""}`;
  return /client error \(Connect\)|tcp connect error|Connection refused|dns error/i.test(text);
}
