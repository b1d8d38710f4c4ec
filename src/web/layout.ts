import { html, type SafeHtml } from './html.js';

export interface LayoutOptions {
  title: string;
  body: SafeHtml;
  /** Signed-in user, for the header. */
  user?: { name: string; admin: boolean } | undefined;
  /** CSRF token for forms and API calls from page scripts. */
  csrfToken?: string | undefined;
  scripts?: string[];
}

/** The page frame shared by every hub page. */
export function layout(options: LayoutOptions): string {
  const { user } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${options.csrfToken ? html`<meta name="csrf-token" content="${options.csrfToken}">` : ''}
<title>${options.title} · Refinery</title>
<link rel="stylesheet" href="/hub/static/refinery.css">
</head>
<body>
<header class="topbar">
  <a class="brand" href="/hub/home">Refinery</a>
  ${user
    ? html`<nav>
    <a href="/hub/home">Home</a>
    <a href="/hub/token">Tokens</a>
    ${user.admin ? html`<a href="/hub/admin">Admin</a>` : ''}
    <span class="who">${user.name}</span>
    <form method="post" action="/hub/logout" class="inline"><input type="hidden" name="_xsrf" value="${options.csrfToken ?? ''}"><button class="link">Sign out</button></form>
  </nav>`
    : ''}
</header>
<main>
${options.body}
</main>
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</body>
</html>`.value;
}
