/** Only same-site paths may be redirect targets after sign-in, never another origin. */
export function safeNext(next: string | undefined, fallback = '/hub/home'): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\') || /[\r\n]/.test(next)) return fallback;
  return next;
}
