import { html, type SafeHtml } from './html.js';

/** Which top-level section a page belongs to, to mark it in the navigation. */
export type Section = 'home' | 'token' | 'password' | 'admin'
  | 'publications' | 'storage';

export interface LayoutOptions {
  title: string;
  body: SafeHtml;
  /** Signed-in user, for the header. `admin` = may open the admin page. */
  user?: { name: string; admin: boolean } | undefined;
  /** CSRF token for forms and API calls from page scripts. */
  csrfToken?: string | undefined;
  scripts?: string[];
  section?: Section | undefined;
}

const NAV: ReadonlyArray<{ section: Section; href: string; text: string; adminOnly?: boolean }> = [
  { section: 'home', href: '/hub/home', text: 'Home' },
  { section: 'publications', href: '/hub/publications', text: 'Publications' },
  { section: 'storage', href: '/hub/storage', text: 'Storage' },
  { section: 'token', href: '/hub/token', text: 'Tokens' },
  { section: 'password', href: '/hub/password', text: 'Password' },
  { section: 'admin', href: '/hub/admin', text: 'Admin', adminOnly: true },
];

/** The page frame shared by every hub page. */
export function layout(options: LayoutOptions): string {
  const { user } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
${options.csrfToken ? html`<meta name="csrf-token" content="${options.csrfToken}">` : ''}
<title>${options.title} · Refinery</title>
<link rel="stylesheet" href="/hub/static/refinery.css">
<link rel="icon" href="/hub/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="topbar">
  <div class="topbar-inner">
  <a class="brand" href="/hub/home"><span class="brand-mark" aria-hidden="true"></span>Refinery</a>
  ${user
    ? html`<nav class="mainnav" aria-label="Main"><ul>
    ${NAV.filter((item) => !item.adminOnly || user.admin).map(
      (item) => html`<li><a href="${item.href}"${item.section === options.section ? html` aria-current="page"` : ''}>${item.text}</a></li>`,
    )}
  </ul></nav>
  <div class="account">
    <span class="who">Signed in as <strong>${user.name}</strong></span>
    <form method="post" action="/hub/logout" class="inline"><input type="hidden" name="_xsrf" value="${options.csrfToken ?? ''}"><button class="link" id="sign-out">Sign out</button></form>
  </div>`
    : ''}
  </div>
</header>
<main id="main" tabindex="-1">
${options.body}
</main>
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</body>
</html>`.value;
}
