// Sizes and CPU counts as people read them, in messages and pages alike.

/** A number with at most `digits` decimals and no trailing zeros: 2, 1.5, 0.25. */
function trim(value: number, digits = 2): string {
  return String(Number(value.toFixed(digits)));
}

/**
 * Bytes as people read them: "2 GB" for 2G (decimal units when the number is round in them),
 * "1.5 GiB" for 1.5Gi, "512 MB".
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return String(bytes);
  if (bytes < 1000) return `${bytes} B`;
  const decimal = ['kB', 'MB', 'GB', 'TB', 'PB'];
  const binary = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  for (let power = decimal.length; power >= 1; power--) {
    const d = bytes / 1000 ** power;
    if (d >= 1 && Math.abs(d * 10 - Math.round(d * 10)) < 1e-9) return `${trim(d, 1)} ${decimal[power - 1]}`;
    const b = bytes / 1024 ** power;
    if (b >= 1 && Math.abs(b * 10 - Math.round(b * 10)) < 1e-9) return `${trim(b, 1)} ${binary[power - 1]}`;
  }
  const power = Math.min(decimal.length, Math.floor(Math.log10(bytes) / 3));
  return `${trim(bytes / 1000 ** power, 1)} ${decimal[power - 1]}`;
}

/** "1 CPU", "0.5 CPU", "4 CPUs". */
export function formatCpu(cores: number): string {
  return `${trim(cores)} ${cores > 1 ? 'CPUs' : 'CPU'}`;
}
