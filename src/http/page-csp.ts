/**
 * The Content-Security-Policy of the hub's pages: scripts and styles only from the hub itself, never
 * framed. Forms post to the hub only, except where a page hands the browser on to another origin of
 * ours (the OAuth consent form, whose answer redirects to a server on its owner's host: browsers
 * apply `form-action` to the redirect after a form too).
 */
export function pageCsp(extraFormTargets: readonly string[] = []): string {
  const formAction = ["'self'", ...extraFormTargets].join(' ');
  return `default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action ${formAction}; base-uri 'none'; object-src 'none'`;
}
