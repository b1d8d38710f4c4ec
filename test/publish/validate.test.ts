// src/publish/validate.ts: bytes → a valid nbformat 4.5 notebook, or a NotebookError that names the
// problem and its place. Checked against the official schema and, where the Python package is
// installed, against nbformat's own verdict on the same files.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { schemaDir, VALIDATOR_FILE, validatorSource } from '../../src/publish/schema/generate.js';
import { NotebookError, schemaPath, validateNotebook, type ValidatedNotebook } from '../../src/publish/validate.js';
import { bytes, code, display, fixture, md, notebook, raw, result, stream, type Json } from './fixtures/notebooks.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const NBFORMAT = join(REPO, 'envs/base/lib/python3.11/site-packages/nbformat');
const PYTHON = join(REPO, 'envs/base/bin/python');
const LIMITS = { maxBytes: 25_000_000 };

function rejects(input: Buffer | Json, expected: string | RegExp, limits = LIMITS): NotebookError {
  const buffer = Buffer.isBuffer(input) ? input : bytes(input);
  try {
    validateNotebook(buffer, limits);
  } catch (err) {
    assert.ok(err instanceof NotebookError, `expected a NotebookError, got ${String(err)}`);
    if (typeof expected === 'string') assert.equal(err.message, expected);
    else assert.match(err.message, expected);
    return err;
  }
  assert.fail(`expected the notebook to be rejected with ${String(expected)}`);
}

function accepts(input: Buffer | Json): ValidatedNotebook {
  return validateNotebook(Buffer.isBuffer(input) ? input : bytes(input), LIMITS);
}

describe('the schema', () => {
  test('the copy in src/publish/schema is the one the nbformat package ships', { skip: !existsSync(NBFORMAT) && 'envs/base is not set up' }, () => {
    const installed = readFileSync(join(NBFORMAT, 'v4/nbformat.v4.5.schema.json'), 'utf8');
    assert.equal(readFileSync(schemaPath(), 'utf8'), installed);
    const license = readFileSync(join(schemaPath(), '..', 'LICENSE'), 'utf8');
    assert.match(license, /BSD 3-Clause License/);
    assert.match(license, /Jupyter Development Team/);
  });

  test('the precompiled validator is what ajv makes from that schema today (else: node dist/src/publish/schema/generate.js)', () => {
    assert.equal(readFileSync(join(schemaDir(), VALIDATOR_FILE), 'utf8'), validatorSource());
  });
});

describe('accepting notebooks', () => {
  test('a notebook written by Jupyter passes unchanged, typed', () => {
    const out = accepts(fixture('realistic.ipynb'));
    assert.equal(out.upgraded, false);
    assert.deepEqual(out.changes, []);
    assert.equal(out.notebook.nbformat, 4);
    assert.equal(out.notebook.nbformat_minor, 5);
    const first = out.notebook.cells[0]!;
    assert.equal(first.cell_type, 'markdown');
    assert.equal(first.id, 'cell-00');
    const codeCell = out.notebook.cells.find((c) => c.cell_type === 'code');
    assert.ok(codeCell && codeCell.cell_type === 'code' && codeCell.outputs.length > 0);
  });

  test('a UTF-8 byte order mark is tolerated', () => {
    const nb = notebook([md('# Hi')]);
    const out = accepts(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes(nb)]));
    assert.equal(out.notebook.cells.length, 1);
  });

  test('notebooks 4.0 to 4.4 are upgraded to 4.5 the way nbformat does it: every cell gets an id', () => {
    for (const minor of [0, 1, 2, 3, 4]) {
      const nb = notebook([md('# A'), code('x = 1', [stream('stdout', 'x\n')]), raw('r')]);
      nb.nbformat_minor = minor;
      for (const cell of nb.cells as Json[]) delete cell.id;
      const out = accepts(nb);
      assert.equal(out.upgraded, true);
      assert.equal(out.originalMinor, minor);
      assert.equal(out.notebook.nbformat_minor, 5);
      const ids = out.notebook.cells.map((c) => c.id);
      assert.equal(new Set(ids).size, 3, 'ids are unique');
      for (const id of ids) assert.match(id, /^[a-zA-Z0-9-_]{1,64}$/);
      assert.deepEqual(out.changes, [`upgraded from nbformat 4.${minor} to 4.5 (cell ids added)`]);
      // the same file gives the same ids (stable anchors when a page is rendered again)
      assert.deepEqual(accepts(nb).notebook.cells.map((c) => c.id), ids);
    }
  });

  test('a 4.4 notebook with identical cells still gets distinct ids', () => {
    const nb = notebook([md('same'), md('same'), md('same')]);
    nb.nbformat_minor = 4;
    for (const cell of nb.cells as Json[]) delete cell.id;
    assert.equal(new Set(accepts(nb).notebook.cells.map((c) => c.id)).size, 3);
  });

  test('an upgraded notebook is still checked: a 4.4 notebook with a bad output is rejected', () => {
    const nb = notebook([code('x', [{ output_type: 'pyout', data: {} }])]);
    nb.nbformat_minor = 4;
    rejects(nb, 'cells[0].outputs[0].output_type: must be one of execute_result, display_data, stream, error');
  });

  test('4.5 cells without an id, or with a repeated one, are repaired like nbformat.read does', () => {
    const nb = notebook([md('a'), md('b'), md('c')]);
    delete (nb.cells as Json[])[1]!.id;
    (nb.cells as Json[])[2]!.id = (nb.cells as Json[])[0]!.id;
    const out = accepts(nb);
    const ids = out.notebook.cells.map((c) => c.id);
    assert.equal(new Set(ids).size, 3);
    assert.equal(ids[0], (nb.cells as Json[])[0]!.id, 'the first use of an id keeps it');
    assert.equal(out.upgraded, false);
    assert.equal(out.changes.length, 2);
    assert.match(out.changes.join('\n'), /cells\[2\]\.id: ".*" was already used by an earlier cell; renamed/);
    assert.match(out.changes.join('\n'), /1 cell had no id; ids added/);
  });

  test('a notebook from a future 4.x minor is read with the relaxed schema, as nbformat does', () => {
    const nb = notebook([
      md('a', { new_field: true }),
      { id: 'x1', cell_type: 'diagram', metadata: {}, source: 'A -> B' },
      code('x', [{ output_type: 'hologram', data: {} }]),
    ]);
    nb.nbformat_minor = 7;
    const out = accepts(nb);
    assert.equal(out.originalMinor, 7);
    assert.equal(out.upgraded, false);
    // relaxed is not lax: types are still checked
    const bad = notebook([code('x', [], { execution_count: 'one' })]);
    bad.nbformat_minor = 7;
    rejects(bad, 'cells[0].execution_count: must be an integer or null; found the string "one"');
  });
});

describe('rejecting files', () => {
  test('too large: sizes in MB, checked before anything is parsed', () => {
    const err = rejects(Buffer.alloc(31_200_000, 0x20), 'the notebook is 31.2 MB; the limit is 25 MB');
    assert.equal(err.code, 'too_large');
    rejects(Buffer.alloc(25_000_001, 0x20), 'the notebook is 25,000,001 bytes; the limit is 25,000,000 bytes');
    rejects(Buffer.alloc(2048, 0x20), 'the notebook is 2 kB; the limit is 1 kB', { maxBytes: 1000 });
  });

  test('empty, not UTF-8, not JSON: said plainly, with the line and column', () => {
    assert.equal(rejects(Buffer.alloc(0), 'the file is empty').code, 'not_json');
    const latin1 = Buffer.concat([Buffer.from('{"cells": ["caf'), Buffer.from([0xe9]), Buffer.from('"]}')]);
    const err = rejects(latin1, 'not valid UTF-8 text (first bad byte at offset 15); notebooks are saved as UTF-8');
    assert.equal(err.code, 'not_utf8');

    const trailingComma = '{\n  "nbformat": 4,\n  "cells": [\n    1,\n  ]\n}';
    const e1 = rejects(Buffer.from(trailingComma), /^not valid JSON: .+ at line 5, column 3$/);
    assert.deepEqual(e1.position, { line: 5, column: 3 });
    assert.equal(e1.code, 'not_json');

    // V8 says "Unexpected token" without a position; the position is found anyway
    const badToken = '{\n  "nbformat": 4,\n  "cells": tru\n}';
    rejects(Buffer.from(badToken), /^not valid JSON: .+ at line 3, column 12$/);
    rejects(Buffer.from('{\n  "a": 1\n}\n}'), /^not valid JSON: .+ at line 4, column 1$/);
    rejects(Buffer.from('{"cells": [1, 2'), 'not valid JSON: unexpected end of the file (is it truncated?) at line 1, column 16');
    rejects(Buffer.from('[1, 2]'), 'a notebook is a JSON object; this file holds an array');
  });

  test('versions: only nbformat 4', () => {
    const v3 = { nbformat: 3, nbformat_minor: 0, metadata: {}, worksheets: [] };
    assert.equal(rejects(v3, 'nbformat: nbformat 3 is not supported: save the notebook with JupyterLab 3 or newer').code, 'unsupported_version');
    assert.equal(rejects(v3, /./).reason, 'nbformat 3 is not supported: save the notebook with JupyterLab 3 or newer');
    rejects({ ...notebook([]), nbformat: 5 }, /^nbformat: nbformat 5 is not supported/);
    rejects({ cells: [], metadata: {} }, 'nbformat: is required: this does not look like a Jupyter notebook');
    rejects({ nbformat: '4', nbformat_minor: 5, cells: [], metadata: {} }, 'nbformat: must be an integer; found the string "4"');
    rejects({ nbformat: 4, cells: [], metadata: {} }, 'nbformat_minor: is required (a v4 notebook must include its minor version)');
  });
});

describe('schema violations: the first one, with its JSON path', () => {
  const cases: [string, () => Json, string][] = [
    ['an unknown output type', () => notebook([md('a'), md('b'), md('c'), code('x', [{ output_type: 'pyout', data: {}, metadata: {} }])]), 'cells[3].outputs[0].output_type: must be one of execute_result, display_data, stream, error'],
    ['an unknown cell type', () => notebook([md('a'), { id: 'h', cell_type: 'heading', metadata: {}, source: 'x', level: 1 }]), 'cells[1].cell_type: must be one of raw, markdown, code'],
    ['a cell without cell_type', () => notebook([{ id: 'h', metadata: {}, source: 'x' }]), 'cells[0].cell_type: is required'],
    ['a stream without a name', () => notebook([code('x', [{ output_type: 'stream', text: 'hi' }])]), 'cells[0].outputs[0].name: is required'],
    ['an execution count as text', () => notebook([code('x', [], { execution_count: '3' })]), 'cells[0].execution_count: must be an integer or null; found the string "3"'],
    ['a negative execution count', () => notebook([code('x', [result(-1, { 'text/plain': 'x' })])]), 'cells[0].outputs[0].execution_count: must be 0 or more; found -1'],
    ['a v3 property on a code cell', () => notebook([code('x', [], { prompt_number: 3 })]), 'cells[0].prompt_number: is not allowed here (allowed: id, cell_type, metadata, source, outputs, execution_count)'],
    ['a tag with a comma', () => notebook([md('x', { metadata: { tags: ['a,b'] } })]), 'cells[0].metadata.tags[0]: must be non-empty and contain no commas'],
    ['a repeated tag', () => notebook([md('x', { metadata: { tags: ['a', 'b', 'a'] } })]), 'cells[0].metadata.tags: must not repeat a value (items 0 and 2 are the same)'],
    ['image data that is not text', () => notebook([code('x', [display({ 'image/png': 5 })])]), 'cells[0].outputs[0].data["image/png"]: must be a string or an array of strings; found the number 5'],
    ['a cell id with a space', () => notebook([md('x', { id: 'my cell' })]), 'cells[0].id: must contain only letters, digits, "-" and "_"'],
    ['a cell id that is too long', () => notebook([md('x', { id: 'a'.repeat(65) })]), 'cells[0].id: must be at most 64 characters long'],
    ['no metadata', () => ({ nbformat: 4, nbformat_minor: 5, cells: [] }), 'metadata: is required'],
    ['a kernelspec without display_name', () => notebook([], { kernelspec: { name: 'python3' } }), 'metadata.kernelspec.display_name: is required'],
    ['cells that are not a list', () => ({ ...notebook([]), cells: {} }), 'cells: must be an array; found an object'],
    ['a traceback that is not a list of strings', () => notebook([code('x', [{ output_type: 'error', ename: 'E', evalue: 'v', traceback: [1] }])]), 'cells[0].outputs[0].traceback[0]: must be a string; found the number 1'],
    ['a cell that is not an object', () => notebook([md('a'), 'oops' as unknown as Json]), 'cells[1]: must be an object; found the string "oops"'],
    ['a markdown cell with outputs', () => notebook([md('a', { outputs: [] })]), 'cells[0].outputs: is not allowed here (allowed: id, cell_type, metadata, attachments, source)'],
    ['a raw cell source that is a number', () => notebook([raw('x', { source: 12 })]), 'cells[0].source: must be a string or an array of strings; found the number 12'],
    ['an unknown top-level property', () => ({ ...notebook([]), worksheets: [] }), 'worksheets: is not allowed here (allowed: metadata, nbformat_minor, nbformat, cells)'],
    ['an output metadata that is a list', () => notebook([code('x', [display({ 'text/plain': 'x' }, [] as unknown as Json)])]), 'cells[0].outputs[0].metadata: must be an object; found an array'],
  ];
  for (const [name, make, message] of cases) {
    test(name, () => {
      const err = rejects(make(), message);
      assert.equal(err.code, 'invalid');
      assert.ok(err.path.length > 0, 'the error has a path');
    });
  }
});

test('nbformat agrees: every file accepted here is valid for nbformat and every one rejected is not', { skip: !(existsSync(PYTHON) && existsSync(NBFORMAT)) && 'envs/base is not set up' }, () => {
  const samples: Json[] = [
    notebook([md('# ok'), code('x', [stream('stdout', 'x'), display({ 'image/png': 'iVBOR' }), result(1, { 'text/plain': ['a', 'b'] })])]),
    notebook([code('x', [{ output_type: 'pyout', data: {}, metadata: {} }])]),
    notebook([md('x', { metadata: { tags: ['a,b'] } })]),
    notebook([code('x', [], { execution_count: '3' })]),
    notebook([code('x', [], { prompt_number: 3 })]),
    notebook([code('x', [{ output_type: 'stream', text: 'hi' }])]),
    notebook([], { kernelspec: { name: 'python3' } }),
    notebook([md('x', { id: 'my cell' })]),
    notebook([md('a', { outputs: [] })]),
    notebook([raw('r', { metadata: { format: 'text/latex' } }), md('m', { attachments: { 'a.png': { 'image/png': 'iVBOR' } } })]),
    notebook([code('x', [display({ 'application/json': { a: [1, { b: null }] }, 'application/vnd.custom+json': 3 })])]),
    notebook([code('x', [display({ 'text/plain': 5 })])]),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'nbformat-'));
  try {
    const files = samples.map((nb, i) => {
      const file = join(dir, `${i}.ipynb`);
      writeFileSync(file, JSON.stringify(nb));
      return file;
    });
    const script = [
      'import json, sys, nbformat',
      'for f in sys.argv[1:]:',
      '    nb = nbformat.read(f, as_version=nbformat.NO_CONVERT)',
      '    try:',
      '        nbformat.validate(nb)',
      '        print("valid")',
      '    except nbformat.ValidationError:',
      '        print("invalid")',
    ].join('\n');
    const verdicts = execFileSync(PYTHON, ['-c', script, ...files], { encoding: 'utf8' }).trim().split('\n');
    samples.forEach((nb, i) => {
      let ours = 'valid';
      try {
        validateNotebook(bytes(nb), LIMITS);
      } catch (err) {
        if (!(err instanceof NotebookError)) throw err;
        ours = 'invalid';
      }
      assert.equal(ours, verdicts[i], `sample ${i}: nbformat says ${verdicts[i]}, Refinery says ${ours}: ${JSON.stringify(nb).slice(0, 200)}`);
    });
    assert.ok(verdicts.includes('valid') && verdicts.includes('invalid'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
