import { html } from './html.js';
import { layout } from './layout.js';

/** A plain page with a title and one message, for errors and notices. */
export function renderMessagePage(title: string, message: string, link?: { href: string; text: string }): string {
  return layout({
    title,
    body: html`<section class="card narrow"><h1>${title}</h1><p>${message}</p>${link ? html`<p><a class="button" href="${link.href}">${link.text}</a></p>` : ''}</section>`,
  });
}
