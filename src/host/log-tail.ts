// Logs of processes the hub starts: each start appends a header line, and a failure shows the
// lines written since the last one.
import { open } from 'node:fs/promises';

const LOG_TAIL_LINES = 20;
const LOG_TAIL_LINE_MAX = 400;
/** Starts the line a launcher writes before each run, so a tail shows only the latest run. */
export const RUN_HEADER = '[refinery] ';

/** The last lines of this run of a server's log (after the last "[refinery] starting" header), long lines cut. */
export async function readLogTail(logPath: string, lines = LOG_TAIL_LINES): Promise<string> {
  let handle;
  try {
    handle = await open(logPath, 'r');
    const { size } = await handle.stat();
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    let text = buf.toString('utf8');
    const header = text.lastIndexOf(`\n${RUN_HEADER}`);
    if (header >= 0) text = text.slice(text.indexOf('\n', header + 1) + 1);
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-lines)
      .map((l) => (l.length > LOG_TAIL_LINE_MAX ? `${l.slice(0, LOG_TAIL_LINE_MAX)} …[cut]` : l))
      .join('\n');
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}
