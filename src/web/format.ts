import { html, type SafeHtml } from './html.js';

const UNITS: ReadonlyArray<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['week', 7 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
];

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** "3 minutes ago", "in 7 days", "just now". */
export function relativeTime(iso: string, now = Date.now()): string {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  if (Math.abs(seconds) < 45) return 'just now';
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'minute') return relative.format(Math.round(seconds / size), unit);
  }
  return 'just now';
}

/** "2025-03-01 14:05 UTC": exact, for tooltips and places where relative is vague. */
export function absoluteTime(iso: string): string {
  return `${iso.replace('T', ' ').slice(0, 16)} UTC`;
}

/** A <time> showing a relative time, with the exact time as its tooltip; `empty` when there is none. */
export function timeTag(iso: string | null | undefined, empty = 'never'): SafeHtml {
  if (!iso || Number.isNaN(Date.parse(iso))) return html`<span class="muted">${empty}</span>`;
  return html`<time datetime="${iso}" title="${absoluteTime(iso)}">${relativeTime(iso)}</time>`;
}

export type Phase = 'running' | 'starting' | 'stopping' | 'stopped';

export const PHASE_LABEL: Readonly<Record<Phase, string>> = {
  running: 'Running',
  starting: 'Starting',
  stopping: 'Stopping',
  stopped: 'Stopped',
};

/** The coloured status pill for a server's phase. */
export function statusPill(phase: Phase): SafeHtml {
  return html`<span class="status status-${phase}" data-role="status">${PHASE_LABEL[phase]}</span>`;
}

