// Published notebooks are untrusted. Every known XSS payload, in every place a notebook can carry
// it, must leave a page with nothing that runs, loads or submits: read the page as a browser's parser
// would (parse5) and look. The same pages in a real browser: xss-browser.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PAGE_CSP, renderNotebook } from '../../src/publish/render/index.js';
import { NotebookError, validateNotebook } from '../../src/publish/validate.js';
import { attr, auditPage, elements, hasClass, sha256, textOf, walk, type Audit } from './fixtures/audit.js';
import { bytes, code, display, md, notebook, type Json } from './fixtures/notebooks.js';
import { HTML_PAYLOADS, MARKDOWN_PAYLOADS, xssNotebook, xssOptions } from './fixtures/xss-payloads.js';

const HUB = 'http://127.0.0.1:1';
const OPTIONS = { title: 'XSS', downloadUrl: '/p/x/download' };

function renderJson(nb: Json, options = OPTIONS): { html: string; audit: Audit } {
  const { notebook: valid } = validateNotebook(bytes(nb), { maxBytes: 50_000_000 });
  const html = renderNotebook(valid, options);
  return { html, audit: auditPage(html) };
}

function assertSafe(audit: Audit, label: string): void {
  assert.deepEqual(audit.findings, [], `${label}: nothing executable or loading`);
  assert.deepEqual(audit.parseErrors, [], `${label}: well-formed`);
  assert.equal(audit.styles.length, 1, `${label}: only the page's own <style>`);
  assert.ok(PAGE_CSP.includes(sha256(audit.styles[0]!)), `${label}: the <style> is the page's own`);
}

/** No class or id of the page's own chrome (rf-*) inside the notebook part of the page. */
function assertNoSpoofing(audit: Audit, label: string): void {
  const main = elements(audit.document, 'main')[0]!;
  walk(main, (el) => {
    const id = attr(el, 'id') ?? '';
    assert.ok(!/^rf-/i.test(id), `${label}: id ${id} is reserved for the page`);
    const classes = (attr(el, 'class') ?? '').split(/\s+/);
    for (const c of ['rf-download', 'rf-title', 'rf-header', 'rf-meta']) assert.ok(!classes.includes(c), `${label}: class ${c} is reserved`);
  });
  assert.equal(elements(audit.document, 'a').filter((a) => hasClass(a, 'rf-download')).length, 1, `${label}: one download link`);
}

describe('each payload, in each place it can appear', () => {
  HTML_PAYLOADS.forEach((payload, i) => {
    const p = payload.replace(/HUB/g, HUB);
    test(`html ${i}: ${payload.slice(0, 70)}`, () => {
      for (const [where, nb] of [
        ['text/html output', notebook([code('x', [display({ 'text/html': p })])])],
        ['markdown cell', notebook([md(`para\n\n${p}\n\nafter`)])],
        ['inline in markdown', notebook([md(`before ${p} after`)])],
        ['text/markdown output', notebook([code('x', [display({ 'text/markdown': p })])])],
      ] as const) {
        const { audit } = renderJson(nb);
        assertSafe(audit, `${where}: ${payload}`);
        assertNoSpoofing(audit, `${where}: ${payload}`);
      }
    });
  });

  MARKDOWN_PAYLOADS.forEach((payload, i) => {
    const p = payload.replace(/HUB/g, HUB);
    test(`markdown ${i}: ${payload.slice(0, 70)}`, () => {
      for (const nb of [notebook([md(p)]), notebook([code('x', [display({ 'text/markdown': p, 'text/latex': p })])])]) {
        const { audit } = renderJson(nb);
        assertSafe(audit, payload);
        assertNoSpoofing(audit, payload);
        // KaTeX with trust off: no link, no id, no class, no style of the author's making inside math
        for (const m of elements(audit.document, 'math')) {
          walk(m, (el) => {
            assert.equal(attr(el, 'href'), undefined);
            assert.ok(!(attr(el, 'id') ?? '').length, 'no id inside math');
          });
          assert.equal(elements(m, 'a').length, 0);
        }
      }
    });
  });
});

describe('everything at once, including the places the renderer fills in itself', () => {
  const { html, audit } = renderJson(xssNotebook(HUB), xssOptions());

  test('the page is clean', () => {
    assertSafe(audit, 'xss notebook');
    assertNoSpoofing(audit, 'xss notebook');
  });

  test('nothing points at the hub except plain links, which send no referrer', () => {
    walk(audit.document, (el) => {
      for (const a of el.attrs) {
        if (!a.value.includes('127.0.0.1:1') || ['title', 'alt'].includes(a.name)) continue;
        assert.equal(el.tagName, 'a', `only links may point at another origin: ${el.tagName} ${a.name}`);
        assert.equal(a.name, 'href');
        assert.match(attr(el, 'rel') ?? '', /noreferrer/);
      }
    });
  });

  test('text the renderer writes itself is escaped, and shown as text', () => {
    const text = textOf(audit.document);
    assert.equal(textOf(elements(audit.document, 'title')[0]!), '</title><script>alert("page-title")</script><!--');
    assert.ok(text.includes('by <img src=x onerror=alert("owner")>'));
    assert.ok(text.includes('published "><script>alert("date")</script>'));
    assert.ok(text.includes('<img src=x onerror=alert("kernel")>'), 'kernel name');
    const tags = elements(audit.document, 'ul').filter((u) => hasClass(u, 'rf-tags')).flatMap((u) => elements(u, 'li').map(textOf));
    assert.deepEqual(tags, ['<script>alert("tag")</script>', '" onmouseover="alert(1)', "' onfocus='alert(1)' autofocus='", '<img src=x onerror=alert("tag-img")>']);
    assert.ok(text.includes('</code></pre><script>alert("source")</script><pre><code>'), 'code source');
    assert.ok(text.includes('<img src=x onerror=alert("stream")>'), 'stream text');
    assert.ok(text.includes('<img src=x onerror=alert("ename")>: <script>alert("evalue")</script>'), 'ename: evalue');
    assert.ok(text.includes('"</pre><script>alert(\\"json\\")</script>"'), 'JSON keys');
    assert.ok(text.includes('</pre><script>alert("plain")</script>'), 'text/plain');
    assert.ok(text.includes('Output of type <img src=x onerror=alert("mime-key")> not shown'), 'MIME type names');
    assert.ok(text.includes('<script>alert("raw")</script>'), 'raw cell');
    const download = elements(audit.document, 'a').find((a) => hasClass(a, 'rf-download'))!;
    assert.equal(attr(download, 'href'), '/p/x/download?name="><script>alert(1)</script>');
    assert.equal(attr(download, 'download'), 'script_alert_1_script.ipynb');
    assert.ok(!html.includes('<script'), 'no "<script" anywhere in the markup');
  });

  test('language names from the notebook never reach the markup unescaped', () => {
    for (const c of elements(audit.document, 'code')) {
      const cls = attr(c, 'class');
      if (cls !== undefined) assert.match(cls, /^language-[a-z0-9-]+$/);
    }
  });

  test('image metadata: only numbers become sizes', () => {
    for (const img of elements(audit.document, 'img')) {
      for (const a of ['width', 'height']) {
        const v = attr(img, a);
        if (v !== undefined) assert.match(v, /^\d+$/);
      }
      assert.match(attr(img, 'src')!, /^data:image\/(png|jpeg|gif|webp|bmp|svg\+xml);base64,[A-Za-z0-9+/]+=*$/);
    }
  });

  test('attachments: names and MIME types from the notebook are not trusted', () => {
    const text = textOf(audit.document);
    for (const label of ['[image: b]', '[image: d]', '[image: e]', '[image: f]']) assert.ok(text.includes(label), label);
    // the SVG attachment is shown as an image (scripts never run in <img>), the name with markup resolves
    const srcs = elements(audit.document, 'img').map((i) => attr(i, 'src')!);
    assert.ok(srcs.some((s) => s.startsWith('data:image/svg+xml;base64,')));
  });

  test('JavaScript outputs are never put on the page', () => {
    const notes = elements(audit.document, 'span').filter((s) => hasClass(s, 'rf-note')).map(textOf);
    assert.ok(notes.filter((n) => n === 'JavaScript output not shown').length >= 2);
    assert.ok(notes.includes('Scripts in this output were not run'));
    assert.ok(!textOf(audit.document).includes('alert("javascript output")'));
  });
});

test('the audit itself finds each kind of problem (so a clean audit means something)', () => {
  const page = (body: string) => `<!DOCTYPE html><html><head><title>t</title></head><body>${body}</body></html>`;
  const bad: [string, RegExp][] = [
    ['<script>alert(1)</script>', /forbidden element <script>/],
    ['<img src="x.png" onerror="alert(1)">', /event handler onerror/],
    ['<a href=" java\tscript:alert(1)">x</a>', /href with a script URL/],
    ['<a href="data:text/html,x">x</a>', /href with a data: URL/],
    ['<img src="http://127.0.0.1:1/x.png">', /src that would load/],
    ['<div style="color:red">x</div>', /style attribute/],
    ['<iframe srcdoc="x"></iframe>', /forbidden element <iframe>/],
    ['<meta http-equiv="refresh" content="0">', /<meta http-equiv>/],
    ['<base href="http://x/">', /forbidden element <base>/],
    ['<svg><circle r="1"/></svg>', /inline SVG/],
    ['<math><mi xlink:href="javascript:alert(1)">x</mi></math>', /xlink:href with a script URL/],
    ['<form action="/x"><input></form>', /forbidden element <form>/],
    ['<template><img src=x onerror=alert(1)></template>', /event handler onerror/],
  ];
  for (const [body, finding] of bad) {
    const audit = auditPage(page(body));
    assert.ok(audit.findings.some((f) => finding.test(f.what)), `${body}: expected ${finding}, got ${JSON.stringify(audit.findings)}`);
  }
  assert.ok(auditPage('<p>unclosed <b>x</p>').parseErrors.length > 0, 'parse errors are reported');
  assert.deepEqual(auditPage(page('<p><a href="https://example.org">ok</a> <img src="data:image/png;base64,iVBOR" alt=""></p>')).findings, []);
});

test('execution counts cannot carry markup: the schema rejects anything but an integer', () => {
  for (const count of ['<script>alert(1)</script>', '1 onload=alert(1)', 1.5]) {
    assert.throws(() => validateNotebook(bytes(notebook([code('x', [], { execution_count: count })])), { maxBytes: 1e6 }), NotebookError);
  }
  assert.throws(() => validateNotebook(bytes(notebook([md('x', { id: '"><script>' })])), { maxBytes: 1e6 }), /cells\[0\]\.id: must contain only letters/);
});

test('the CSP the page is served with: no script, nothing but its own style and data: images', () => {
  const directives = Object.fromEntries(PAGE_CSP.split(/;\s*/).map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
  assert.equal(directives['default-src'], "'none'");
  assert.match(directives['style-src']!, /^'sha256-[A-Za-z0-9+/]+=*'$/);
  assert.equal(directives['img-src'], 'data:');
  assert.equal(directives['base-uri'], "'none'");
  assert.equal(directives['form-action'], "'none'");
  assert.equal(directives['script-src'], undefined, 'script falls back to default-src none');
  assert.doesNotMatch(PAGE_CSP, /unsafe/);
});
