/**
 * Notebook validation for Publish: bytes in, a typed nbformat 4.5 notebook out, or a NotebookError
 * that says precisely what is wrong and where (`cells[3].outputs[0].output_type: must be one of ...`).
 *
 * What it does, in order (each step the way the `nbformat` Python package does it):
 *   1. size limit, UTF-8 (a leading BOM is tolerated), JSON syntax with line and column;
 *   2. the major version: only nbformat 4 (3 and older need JupyterLab to convert them first);
 *   3. upgrade 4.0–4.4 to 4.5 like `nbformat.v4.convert.upgrade` (the only change between those minors
 *      is the cell `id`, so every cell gets one); repair missing or repeated cell ids in 4.5 notebooks
 *      like `nbformat.validator._normalize(repair_duplicate_cell_ids=True)`, which `nbformat.read` uses;
 *   4. validate against the official nbformat v4.5 JSON schema (draft-04, copied unchanged from the
 *      nbformat package into src/publish/schema/, see the LICENSE beside it). Notebooks from a future
 *      4.x minor are validated against the relaxed schema, as nbformat does: unknown properties, cell
 *      types and output types are allowed.
 *
 * The first violation is reported; when a cell or an output matches none of the schema's variants
 * (a `oneOf`), the cell is validated against the variant its `cell_type` / `output_type` names, so the
 * message points at the real problem instead of "must match exactly one schema in oneOf" (nbformat's
 * `better_validation_error` does the same).
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv-draft-04';
import type { ParseError } from 'jsonc-parser';
import { AJV_OPTIONS, SCHEMA_FILE, schemaDir, VALIDATOR_FILE } from './schema/generate.js';

// Loaded when needed (sync): ajv only for notebooks from a future minor version (the v4.5 schema is
// precompiled, see schema/generate.ts), jsonc-parser only to locate a JSON syntax error.
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------
// The notebook, typed (nbformat 4.5)

/** A string, or the same split into lines (each keeping its `\n`), as nbformat stores text. */
export type MultilineString = string | string[];

/** MIME type → data. Text types are MultilineString; `application/json` and `*+json` may be any JSON. */
export type MimeBundle = Record<string, unknown>;

export interface KernelSpec {
  name: string;
  display_name: string;
  language?: string;
  [key: string]: unknown;
}

export interface LanguageInfo {
  name: string;
  codemirror_mode?: string | Record<string, unknown>;
  file_extension?: string;
  mimetype?: string;
  pygments_lexer?: string;
  [key: string]: unknown;
}

export interface NotebookMetadata {
  kernelspec?: KernelSpec;
  language_info?: LanguageInfo;
  title?: string;
  authors?: unknown[];
  [key: string]: unknown;
}

export interface CellMetadata {
  name?: string;
  tags?: string[];
  jupyter?: { source_hidden?: boolean; outputs_hidden?: boolean; [key: string]: unknown };
  collapsed?: boolean;
  scrolled?: boolean | 'auto';
  format?: string;
  [key: string]: unknown;
}

/** Attachment name → MIME bundle (base64 for binary types). */
export type Attachments = Record<string, MimeBundle>;

export interface RawCell {
  id: string;
  cell_type: 'raw';
  metadata: CellMetadata;
  source: MultilineString;
  attachments?: Attachments;
}

export interface MarkdownCell {
  id: string;
  cell_type: 'markdown';
  metadata: CellMetadata;
  source: MultilineString;
  attachments?: Attachments;
}

export interface CodeCell {
  id: string;
  cell_type: 'code';
  metadata: CellMetadata;
  source: MultilineString;
  outputs: Output[];
  execution_count: number | null;
}

export type Cell = RawCell | MarkdownCell | CodeCell;

export type OutputMetadata = Record<string, unknown>;

export interface ExecuteResult {
  output_type: 'execute_result';
  execution_count: number | null;
  data: MimeBundle;
  metadata: OutputMetadata;
}

export interface DisplayData {
  output_type: 'display_data';
  data: MimeBundle;
  metadata: OutputMetadata;
}

export interface StreamOutput {
  output_type: 'stream';
  name: string;
  text: MultilineString;
}

export interface ErrorOutput {
  output_type: 'error';
  ename: string;
  evalue: string;
  traceback: string[];
}

export type Output = ExecuteResult | DisplayData | StreamOutput | ErrorOutput;

/**
 * A valid nbformat 4.5 notebook. Only a notebook from a future 4.x minor (`nbformat_minor` > 5) can
 * carry cells or outputs of types not listed here; the renderer shows those as "not supported".
 */
export interface Notebook {
  nbformat: 4;
  nbformat_minor: number;
  metadata: NotebookMetadata;
  cells: Cell[];
}

export interface ValidatedNotebook {
  notebook: Notebook;
  /** True when the file was nbformat 4.0–4.4 and has been upgraded to 4.5 (cell ids added). */
  upgraded: boolean;
  /** `nbformat_minor` as it was in the file. */
  originalMinor: number;
  /** What was changed to make the notebook valid, in words (upgrade, repaired cell ids); usually empty. */
  changes: string[];
}

export interface ValidationLimits {
  /** Largest accepted file, in bytes. Messages print sizes in decimal units (1 MB = 1,000,000 bytes). */
  maxBytes: number;
}

export type NotebookErrorCode = 'too_large' | 'not_utf8' | 'not_json' | 'unsupported_version' | 'invalid';

/**
 * Why a file is not an acceptable notebook. `message` is ready for a person:
 * `<path>: <reason>` when the problem is at a place in the document, else just the reason.
 */
export class NotebookError extends Error {
  override readonly name = 'NotebookError';
  constructor(
    /** too_large → HTTP 413; the others → 400/422. */
    readonly code: NotebookErrorCode,
    /** What is wrong, without the path. */
    readonly reason: string,
    /** Where, as a JSON path (`cells[3].outputs[0].output_type`); '' for the whole document. */
    readonly path = '',
    /** For JSON syntax errors: 1-based line and column. */
    readonly position?: { line: number; column: number },
  ) {
    super(path ? `${path}: ${reason}` : reason);
  }
}

// ---------------------------------------------------------------------------------------------
// Entry point

export function validateNotebook(bytes: Buffer, limits: ValidationLimits): ValidatedNotebook {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('validateNotebook: bytes must be a Buffer');
  if (!(Number.isFinite(limits.maxBytes) && limits.maxBytes > 0)) throw new TypeError('validateNotebook: maxBytes must be a positive number');
  if (bytes.length > limits.maxBytes) {
    const [size, limit] = formatSizes(bytes.length, limits.maxBytes);
    throw new NotebookError('too_large', `the notebook is ${size}; the limit is ${limit}`);
  }
  if (bytes.length === 0) throw new NotebookError('not_json', 'the file is empty');
  if (!isUtf8(bytes)) {
    throw new NotebookError('not_utf8', `not valid UTF-8 text (first bad byte at offset ${firstInvalidUtf8Byte(bytes)}); notebooks are saved as UTF-8`);
  }
  let text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw jsonSyntaxError(text, err);
  }
  if (!isObject(doc)) {
    throw new NotebookError('invalid', `a notebook is a JSON object; this file holds ${describeType(doc)}`);
  }

  // The version decides everything else, so it is checked first.
  const major = doc.nbformat;
  if (major === undefined) throw new NotebookError('invalid', 'is required: this does not look like a Jupyter notebook', 'nbformat');
  if (!Number.isInteger(major)) throw new NotebookError('invalid', `must be an integer; found ${describeType(major)}`, 'nbformat');
  if ((major as number) < 4) {
    throw new NotebookError('unsupported_version', `nbformat ${major} is not supported: save the notebook with JupyterLab 3 or newer`, 'nbformat');
  }
  if ((major as number) > 4) {
    throw new NotebookError('unsupported_version', `nbformat ${major} is not supported: this version reads nbformat 4 notebooks (4.0 to 4.5)`, 'nbformat');
  }
  const minor = doc.nbformat_minor;
  if (minor === undefined) throw new NotebookError('invalid', 'is required (a v4 notebook must include its minor version)', 'nbformat_minor');
  if (!Number.isInteger(minor) || (minor as number) < 0) {
    throw new NotebookError('invalid', `must be a non-negative integer; found ${describeType(minor)}`, 'nbformat_minor');
  }
  const originalMinor = minor as number;
  const changes: string[] = [];

  if (originalMinor < CURRENT_MINOR) {
    // nbformat.v4.convert.upgrade: "if from_minor < 5: for cell in nb.cells: cell.id = random_cell_id()".
    // Ids here are derived from position and content instead of random, so a re-render gives the
    // same anchors.
    if (Array.isArray(doc.cells)) {
      const taken = new Set<string>();
      doc.cells.forEach((cell, i) => {
        if (isObject(cell)) cell.id = newCellId(i, cell, taken);
      });
    }
    doc.nbformat_minor = CURRENT_MINOR;
    changes.push(`upgraded from nbformat 4.${originalMinor} to 4.${CURRENT_MINOR} (cell ids added)`);
  } else {
    repairCellIds(doc, changes);
  }

  const schema = originalMinor > CURRENT_MINOR ? schemas('relaxed') : schemas('strict');
  if (!schema.validate(doc)) throw schemaError(doc, schema, schema.validate.errors ?? []);

  return { notebook: doc as unknown as Notebook, upgraded: originalMinor < CURRENT_MINOR, originalMinor, changes };
}

// ---------------------------------------------------------------------------------------------
// Cell ids

const CURRENT_MINOR = 5;
const CELL_ID = /^[a-zA-Z0-9-_]{1,64}$/;

function newCellId(index: number, cell: Record<string, unknown>, taken: Set<string>): string {
  const source = Array.isArray(cell.source) ? cell.source.join('') : String(cell.source ?? '');
  const hash = createHash('sha256').update(`${index}\0${source}`).digest('hex');
  for (let len = 8; len <= hash.length; len += 4) {
    const id = hash.slice(0, len);
    if (!taken.has(id)) {
      taken.add(id);
      return id;
    }
  }
  // Not reachable in practice (a 64-hex-digit collision); keep the id unique anyway.
  const id = `${hash.slice(0, 40)}-${index}`;
  taken.add(id);
  return id;
}

/** nbformat's normalisation for 4.5+: cells without an id get one, a repeated id is replaced. */
function repairCellIds(doc: Record<string, unknown>, changes: string[]): void {
  if (!Array.isArray(doc.cells)) return;
  const cells = doc.cells as unknown[];
  const taken = new Set<string>();
  for (const cell of cells) if (isObject(cell) && typeof cell.id === 'string') taken.add(cell.id);
  const seen = new Set<string>();
  let missing = 0;
  cells.forEach((cell, i) => {
    if (!isObject(cell)) return;
    if (!('id' in cell)) {
      cell.id = newCellId(i, cell, taken);
      missing += 1;
    } else if (typeof cell.id === 'string' && CELL_ID.test(cell.id)) {
      if (seen.has(cell.id)) {
        const old = cell.id;
        cell.id = newCellId(i, cell, taken);
        changes.push(`cells[${i}].id: "${old}" was already used by an earlier cell; renamed to "${cell.id}"`);
      }
      seen.add(cell.id as string);
    }
  });
  if (missing > 0) changes.push(`${missing} cell${missing === 1 ? '' : 's'} had no id; ids added`);
}

// ---------------------------------------------------------------------------------------------
// The schema

interface SchemaSet {
  key: string;
  validate: ValidateFunction;
  /** A validator for one definition (`code_cell`, `stream`, ...), compiled on first use. */
  definition(name: string): ValidateFunction | undefined;
  /** Names of the definitions a `cell` or `output` may be. */
  cellTypes: string[];
  outputTypes: string[];
}

const schemaSets = new Map<string, SchemaSet>();

/** The copy of the official schema (src/publish/schema/nbformat.v4.5.schema.json). */
export function schemaPath(): string {
  return join(schemaDir(), SCHEMA_FILE);
}

function schemas(kind: 'strict' | 'relaxed'): SchemaSet {
  const existing = schemaSets.get(kind);
  if (existing) return existing;
  const schema = JSON.parse(readFileSync(schemaPath(), 'utf8')) as Record<string, unknown>;
  const defs = schema.definitions as Record<string, Record<string, unknown>>;
  const refsOf = (def: string) => ((defs[def]!.oneOf as { $ref: string }[]) ?? []).map((r) => r.$ref.replace('#/definitions/', ''));
  let set: SchemaSet;
  if (kind === 'strict') {
    // The v4.5 schema compiled ahead of time by ajv (schema/generate.ts): loading it is ~10x quicker
    // than compiling the schema at start-up.
    const compiled = require(join(schemaDir(), VALIDATOR_FILE)) as Record<string, ValidateFunction>;
    set = {
      key: 'nbformat-4.5',
      validate: compiled.notebook!,
      definition: (name) => (Object.hasOwn(compiled, name) ? compiled[name] : undefined),
      cellTypes: refsOf('cell'),
      outputTypes: refsOf('output'),
    };
  } else {
    // nbformat.validator.get_validator for a notebook from a future minor version.
    relaxAdditionalProperties(schema);
    (defs.cell!.oneOf as unknown[]).push({ $ref: '#/definitions/unrecognized_cell' });
    (defs.output!.oneOf as unknown[]).push({ $ref: '#/definitions/unrecognized_output' });
    // strict: false because the official schema carries keywords draft-04 does not define ("item",
    // "source_hidden" beside "properties"); draft-04 validators ignore unknown keywords, and so does ajv then.
    const AjvDraft04 = require('ajv-draft-04') as typeof import('ajv-draft-04');
    const ajv = new AjvDraft04.default(AJV_OPTIONS);
    const key = 'nbformat-4.5-relaxed';
    ajv.addSchema(schema, key);
    const validate = ajv.getSchema(key);
    if (!validate) throw new Error('nbformat schema failed to compile');
    set = {
      key,
      validate,
      definition: (name) => (name in defs ? ajv.getSchema(`${key}#/definitions/${name}`) : undefined),
      cellTypes: refsOf('cell'),
      outputTypes: refsOf('output'),
    };
  }
  schemaSets.set(kind, set);
  return set;
}

function relaxAdditionalProperties(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(relaxAdditionalProperties);
  } else if (isObject(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'additionalProperties') node[k] = true;
      else relaxAdditionalProperties(v);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Readable schema errors

function schemaError(doc: unknown, set: SchemaSet, errors: ErrorObject[]): NotebookError {
  const found = decisiveError(doc, set, errors, '');
  return new NotebookError('invalid', found.reason, formatPath(doc, found.pointer));
}

/**
 * With allErrors off, ajv stops at the first failing keyword; inside a oneOf it also keeps the errors
 * of the variants it tried, and pushes the oneOf's own error last. So the last error is the one that
 * decided the outcome.
 */
function decisiveError(doc: unknown, set: SchemaSet, errors: ErrorObject[], prefix: string): { pointer: string; reason: string } {
  const err = errors[errors.length - 1];
  if (!err) return { pointer: prefix, reason: 'is not valid' };
  const pointer = prefix + err.instancePath;
  if (err.keyword === 'oneOf') {
    // schemaPath is relative to the $ref'd definition ("#/oneOf"), so tell the variants by their refs.
    const refs = Array.isArray(err.schema) ? (err.schema as { $ref?: unknown }[]).map((s) => s?.$ref) : [];
    const kind = refs.includes('#/definitions/code_cell') ? 'cell' : refs.includes('#/definitions/stream') ? 'output' : null;
    if (kind) return variantError(doc, set, kind, err.data, pointer);
    return { pointer, reason: `must be ${alternatives(err.schema)}; found ${describeType(err.data)}` };
  }
  return { pointer: pointer + childPointer(err), reason: describeError(err) };
}

/** A cell or an output that matched no variant: check it against the variant its type names. */
function variantError(doc: unknown, set: SchemaSet, kind: 'cell' | 'output', data: unknown, pointer: string): { pointer: string; reason: string } {
  const typeKey = kind === 'cell' ? 'cell_type' : 'output_type';
  const names = kind === 'cell' ? set.cellTypes : set.outputTypes;
  const typeOf = (name: string) => (kind === 'cell' ? name.replace(/_cell$/, '') : name);
  const known = names.filter((n) => !n.startsWith('unrecognized_')).map(typeOf);
  if (!isObject(data)) return { pointer, reason: `a ${kind} must be an object; found ${describeType(data)}` };
  const type = data[typeKey];
  if (type === undefined) return { pointer: `${pointer}/${typeKey}`, reason: 'is required' };
  let ref: string | undefined;
  if (typeof type === 'string' && known.includes(type)) ref = kind === 'cell' ? `${type}_cell` : type;
  else if (names.includes(`unrecognized_${kind}`) && typeof type === 'string') ref = `unrecognized_${kind}`;
  else return { pointer: `${pointer}/${typeKey}`, reason: `must be one of ${known.join(', ')}` };
  const validate = set.definition(ref);
  if (!validate || validate(data)) return { pointer, reason: `does not match the schema for a ${kind} of type ${String(type)}` };
  return decisiveError(doc, set, validate.errors ?? [], pointer);
}

/** For `required` and `additionalProperties` the problem is a property of the object at instancePath. */
function childPointer(err: ErrorObject): string {
  const p = err.params as Record<string, unknown>;
  if (err.keyword === 'required' && typeof p.missingProperty === 'string') return `/${escapePointer(p.missingProperty)}`;
  if (err.keyword === 'additionalProperties' && typeof p.additionalProperty === 'string') return `/${escapePointer(p.additionalProperty)}`;
  return '';
}

function describeError(err: ErrorObject): string {
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties': {
      const props = Object.keys(((err.parentSchema as Record<string, unknown> | undefined)?.properties as object | undefined) ?? {});
      return props.length ? `is not allowed here (allowed: ${props.join(', ')})` : 'is not allowed here';
    }
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`;
    case 'type': {
      const types = String(p.type).split(',');
      return `must be ${types.map(typeName).join(' or ')}; found ${describeType(err.data)}`;
    }
    case 'pattern': {
      const pattern = String(p.pattern);
      if (pattern === '^[a-zA-Z0-9-_]+$') return 'must contain only letters, digits, "-" and "_"';
      if (pattern === '^[^,]+$') return 'must be non-empty and contain no commas';
      if (pattern === '^.+$') return 'must be non-empty and on one line';
      return `must match the pattern ${pattern}`;
    }
    case 'minLength':
      return `must be at least ${String(p.limit)} character${p.limit === 1 ? '' : 's'} long`;
    case 'maxLength':
      return `must be at most ${String(p.limit)} characters long`;
    case 'minimum':
      return `must be ${String(p.limit)} or more; found ${JSON.stringify(err.data)}`;
    case 'maximum':
      return `must be ${String(p.limit)} or less; found ${JSON.stringify(err.data)}`;
    case 'uniqueItems':
      return `must not repeat a value (items ${Math.min(Number(p.i), Number(p.j))} and ${Math.max(Number(p.i), Number(p.j))} are the same)`;
    default:
      return err.message ?? 'is not valid';
  }
}

function alternatives(schemaList: unknown): string {
  if (!Array.isArray(schemaList)) return 'one of the allowed forms';
  const names = schemaList.map((s) => {
    if (!isObject(s) || typeof s.type !== 'string') return null;
    const items = isObject(s.items) && typeof s.items.type === 'string' ? s.items.type : null;
    return s.type === 'array' && items ? `an array of ${items}s` : typeName(s.type);
  });
  return names.every(Boolean) ? names.join(' or ') : 'one of the allowed forms';
}

function typeName(type: string): string {
  switch (type) {
    case 'integer':
      return 'an integer';
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'null':
      return 'null';
    case 'boolean':
      return 'true or false';
    default:
      return `a ${type}`;
  }
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? 'a string' : `the string ${JSON.stringify(value)}`;
    case 'number':
      return `the number ${value}`;
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** JSON pointer → `cells[3].outputs[0].data["image/png"]`, using the document to tell arrays from objects. */
export function formatPath(doc: unknown, pointer: string): string {
  if (!pointer) return '';
  const segments = pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = '';
  let node: unknown = doc;
  for (const seg of segments) {
    if (Array.isArray(node) && /^\d+$/.test(seg)) {
      out += `[${seg}]`;
      node = node[Number(seg)];
    } else {
      out += /^[A-Za-z_$][\w$]*$/.test(seg) ? `${out ? '.' : ''}${seg}` : `[${JSON.stringify(seg)}]`;
      node = isObject(node) && Object.hasOwn(node, seg) ? node[seg] : undefined;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON syntax errors with a position

const LENIENT_CODES: Record<string, string> = {
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'expected a property name in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: 'expected ":"',
  CommaExpected: 'expected ","',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: 'unexpected text after the end of the notebook',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'incomplete number',
  InvalidUnicode: 'invalid \\u escape',
  InvalidEscapeCharacter: 'invalid escape sequence',
  InvalidCharacter: 'control character in a string (it must be escaped)',
};

function jsonSyntaxError(text: string, err: unknown): NotebookError {
  const v8 = err instanceof Error ? err.message : String(err);
  // Node 20 says e.g. `Expected ',' or '}' after property value in JSON at position 123`, or
  // `Unexpected token '}', "...the text..." is not valid JSON` (no position), or `Unexpected end of JSON input`.
  const at = /\s+in JSON at position (\d+)/.exec(v8);
  let reason = v8.replace(/\s+in JSON at position \d+.*$/s, '').replace(/, (?:\.\.\.)?".*" is not valid JSON$/s, '');
  let offset: number | undefined = at ? Number(at[1]) : undefined;
  if (/^Unexpected end of JSON input/.test(v8)) {
    reason = 'unexpected end of the file (is it truncated?)';
    offset = text.length;
  }
  if (offset === undefined) {
    // V8 did not say where (and its token may be a confusing "\n"): ask a second parser, which
    // reports the first error's offset (no comments, no trailing commas: plain JSON).
    const jsonc = require('jsonc-parser') as typeof import('jsonc-parser');
    const errors: ParseError[] = [];
    jsonc.parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    if (first) {
      offset = first.offset;
      const token = /^Unexpected token '(.)'$/s.exec(reason)?.[1];
      // keep V8's wording when it names the character found at that place
      if (token && token.trim() && text[offset] === token) reason = `Unexpected token ${token}`;
      else {
        const code = jsonc.printParseErrorCode(first.error);
        reason =
          code === 'InvalidSymbol'
            ? `unexpected ${JSON.stringify(text.slice(first.offset, first.offset + Math.min(first.length, 20)))}`
            : (LENIENT_CODES[code] ?? reason);
      }
    }
  }
  if (offset !== undefined && offset >= text.trimEnd().length) reason = 'unexpected end of the file (is it truncated?)';
  reason = reason.replace(/[\r\n]+/g, ' ');
  if (offset === undefined) return new NotebookError('not_json', `not valid JSON: ${reason}`);
  const position = lineColumn(text, offset);
  return new NotebookError('not_json', `not valid JSON: ${reason} at line ${position.line}, column ${position.column}`, '', position);
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) {
    line += 1;
    lineStart = i + 1;
  }
  return { line, column: end - lineStart + 1 };
}

/**
 * Offset of the first byte of the first invalid UTF-8 sequence. ok(k): the first k bytes are valid
 * UTF-8, or become valid with at most 3 more bytes (k may cut a multi-byte character). ok is true up
 * to the start of the bad sequence and false after it, so a binary search finds that start.
 */
function firstInvalidUtf8Byte(bytes: Uint8Array): number {
  const n = bytes.length;
  const ok = (k: number): boolean => {
    for (let end = k; end <= Math.min(k + 3, n); end++) if (isUtf8(bytes.subarray(0, end))) return true;
    return false;
  };
  let lo = 0;
  let hi = n;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (ok(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** "31.2 MB" and "25 MB" (decimal units); exact byte counts when rounding would make them look equal. */
export function formatSizes(size: number, limit: number): [string, string] {
  const fmt = (n: number) => {
    if (n >= 1e6) return `${trimZero((n / 1e6).toFixed(1))} MB`;
    if (n >= 1e3) return `${trimZero((n / 1e3).toFixed(1))} kB`;
    return `${n} bytes`;
  };
  const [a, b] = [fmt(size), fmt(limit)];
  if (a !== b) return [a, b];
  return [`${size.toLocaleString('en-US')} bytes`, `${limit.toLocaleString('en-US')} bytes`];
}

function trimZero(s: string): string {
  return s.endsWith('.0') ? s.slice(0, -2) : s;
}
