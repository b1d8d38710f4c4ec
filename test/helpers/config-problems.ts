// What the configuration loader says about a file it refuses (asserting that it does refuse it).
import assert from 'node:assert/strict';
import { ConfigError, parseConfigText } from '../../src/config/load.js';

export function configProblems(text: string, file = '/etc/refinery/refinery.yaml'): string {
  try {
    parseConfigText(text, file);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`accepted:\n${text}`);
}
