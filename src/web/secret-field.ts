import { html, type SafeHtml } from './html.js';

/**
 * A secret shown once (a new token, a generated password, a share link): read-only, selected
 * whole on focus, with a Copy button that forms.js reveals and wires up.
 */
export function copyableSecret(id: string, label: string | SafeHtml, value: string): SafeHtml {
  return html`<div class="secret">
    <label for="${id}" class="sr-only">${label}</label>
    <input id="${id}" type="text" readonly value="${value}" autocomplete="off" spellcheck="false" data-select-on-focus>
    <button type="button" class="primary" data-copy="${id}" hidden>Copy</button>
    <span class="copy-status" data-copy-status="${id}" aria-live="polite"></span>
  </div>`;
}
