import { readFileSync } from 'node:fs';

/** The JupyterHub REST API version Refinery implements; reported where JupyterHub reports its version, so clients accept it. */
export const JUPYTERHUB_API_VERSION = '5.5.4';

/** Refinery's own version, from package.json. */
export const REFINERY_VERSION: string = (() => {
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // try the next location (src/ vs dist/src/)
    }
  }
  return 'unknown';
})();
