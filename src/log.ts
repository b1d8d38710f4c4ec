import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * Field paths that may carry secrets. pino replaces their values before anything is written, so a
 * careless `log.info({ headers })` cannot leak a token.
 */
const REDACT = [
  'password', '*.password', 'token', '*.token', 'api_token', '*.api_token',
  'secret', '*.secret', 'client_secret', '*.client_secret',
  'headers.authorization', 'headers.cookie', 'req.headers.authorization', 'req.headers.cookie',
  'res.headers["set-cookie"]', 'env.JUPYTERHUB_API_TOKEN', '*.env.JUPYTERHUB_API_TOKEN',
  'env.AWS_SECRET_ACCESS_KEY', '*.env.AWS_SECRET_ACCESS_KEY', 'secretAccessKey', '*.secretAccessKey', 'secret_key', '*.secret_key',
];

/**
 * JSON lines for log collectors; readable lines when a person watches a terminal. `format` (config
 * `log_format`) or the environment's `REFINERY_LOG_FORMAT=json|pretty` says otherwise.
 */
export function createLogger(options: { level?: string; name?: string; destination?: NodeJS.WritableStream; format?: 'auto' | 'pretty' | 'json' } = {}): Logger {
  const level = options.level ?? process.env.REFINERY_LOG_LEVEL ?? 'info';
  const base = { level, name: options.name ?? 'refinery', redact: { paths: REDACT, censor: '[secret]' } };
  if (options.destination) return pino(base, options.destination as pino.DestinationStream);
  const chosen = process.env.REFINERY_LOG_FORMAT ?? (options.format && options.format !== 'auto' ? options.format : undefined);
  const format = chosen ?? (process.stdout.isTTY ? 'pretty' : 'json');
  if (format === 'pretty') return pino(base, pretty({ colorize: true, ignore: 'pid,hostname,name', translateTime: 'HH:MM:ss', sync: true }));
  return pino(base);
}

/** A logger that drops everything; for tests and tools that want silence. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
