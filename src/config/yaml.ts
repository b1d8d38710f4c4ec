import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from './errors.js';

/** Parse a YAML document that must be a mapping; syntax errors name the line and column. */
export function parseYamlMapping(text: string, file: string): Record<string, unknown> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(file, doc.errors.map((e) => {
      const at = e.linePos?.[0];
      return `${at ? `line ${at.line}, column ${at.col}: ` : ''}${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`;
    }));
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(file, ['the top level must be a mapping of keys (name: value)']);
  }
  return raw as Record<string, unknown>;
}
