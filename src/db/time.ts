/** Timestamps are stored and served as ISO-8601 UTC strings. */
export function nowIso(): string {
  return new Date().toISOString();
}

export function isoAfterSeconds(seconds: number, from = Date.now()): string {
  return new Date(from + seconds * 1000).toISOString();
}

export function isExpired(iso: string | null | undefined, at = Date.now()): boolean {
  return !!iso && Date.parse(iso) <= at;
}
