import { z } from 'zod';

/** "512M", "2G", "1.5Gi", or a number of bytes. */
export const byteSize = z.union([z.number().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return Math.round(value);
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?$/i.exec(value.trim());
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `expected a size like 512M, 2G or 1.5Gi, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  const unit = (match[2] ?? '').toUpperCase();
  const power = { '': 0, K: 1, M: 2, G: 3, T: 4 }[unit.replace('I', '') as '' | 'K' | 'M' | 'G' | 'T'];
  const base = unit.endsWith('I') || unit === '' ? 1024 : 1000;
  return Math.round(Number(match[1]) * base ** power);
});
