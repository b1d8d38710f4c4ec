// src/publish/render: notebook → page. What a reader of the page sees, read from the page the way a
// browser parses it (parse5); the browser itself is in render-browser.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PAGE_CSP, renderNotebook, type RenderOptions } from '../../src/publish/render/index.js';
import { HIGHLIGHT_LIMITS } from '../../src/publish/render/highlight.js';
import { MATH_LIMITS } from '../../src/publish/render/math.js';
import { tocList } from '../../src/publish/render/page.js';
import { MAX_NESTING } from '../../src/publish/render/sanitize.js';
import { RenderAbortedError, renderInWorker } from '../../src/publish/render/worker.js';
import { NotebookError } from '../../src/publish/validate.js';
import { validateNotebook } from '../../src/publish/validate.js';
import { attr, auditPage, elements, hasClass, sha256, textOf, walk, type Audit } from './fixtures/audit.js';
import { bytes, code, display, error, fixture, GIF_1x1, md, notebook, PNG_1x1, raw, result, stream, type Json } from './fixtures/notebooks.js';

type Element = Parameters<Parameters<typeof walk>[1]>[0];

const OPTIONS: RenderOptions = { title: 'Quarterly sales', downloadUrl: '/p/sales/download', author: 'alice', published: '2026-11-25T10:00:00Z', version: 3 };

function render(nb: Json | Buffer, options: Partial<RenderOptions> = {}): { html: string; audit: Audit } {
  const { notebook: valid } = validateNotebook(Buffer.isBuffer(nb) ? nb : bytes(nb), { maxBytes: 50_000_000 });
  const html = renderNotebook(valid, { ...OPTIONS, ...options });
  return { html, audit: auditPage(html) };
}

/** The page is clean: parses without a single error, nothing executable, one <style> allowed by the CSP. */
function assertClean(audit: Audit): void {
  assert.deepEqual(audit.parseErrors, [], 'the page is well-formed HTML');
  assert.deepEqual(audit.findings, [], 'nothing on the page runs or loads');
  assert.equal(audit.styles.length, 1, 'one <style>: the page stylesheet');
  assert.ok(PAGE_CSP.includes(`'${sha256(audit.styles[0]!)}'`), 'the CSP allows the page stylesheet by its hash');
}

const byClass = (audit: Audit, cls: string) => {
  const out: Element[] = [];
  walk(audit.document, (el) => {
    if (hasClass(el, cls)) out.push(el);
  });
  return out;
};

describe('the realistic notebook, as a reader sees it', () => {
  const { html, audit } = render(fixture('realistic.ipynb'));
  const doc = audit.document;

  test('a clean page: well-formed, nothing executable, stylesheet allowed by hash', () => {
    assertClean(audit);
    assert.ok(html.startsWith('<!DOCTYPE html>\n<html lang="en" data-theme="auto">'));
  });

  test('the header: title, author, date, version, kernel, download link', () => {
    assert.equal(textOf(elements(doc, 'title')[0]!), 'Quarterly sales');
    assert.equal(textOf(byClass(audit, 'rf-title')[0]!), 'Quarterly sales');
    assert.equal(textOf(byClass(audit, 'rf-meta')[0]!), 'by alicepublished Nov 25, 2026version 3Python 3 (ipykernel)');
    assert.equal(attr(elements(doc, 'time')[0]!, 'datetime'), '2026-11-25T10:00:00.000Z');
    const download = byClass(audit, 'rf-download')[0]!;
    assert.equal(attr(download, 'href'), '/p/sales/download');
    assert.equal(attr(download, 'download'), 'Quarterly_sales.ipynb');
    assert.equal(textOf(download), 'Download .ipynb');
  });

  test('execution counts like JupyterLab: [n]: before inputs and results, [ ]: for a cell never run', () => {
    const inputs = byClass(audit, 'rf-input').map((row) => textOf(row.childNodes[0]!));
    assert.deepEqual(inputs, ['[1]:', '[2]:', '[3]:', '[4]:', '[5]:', '[6]:', '[7]:', '[8]:', '[9]:', '[ ]:']);
    const outPrompts = byClass(audit, 'rf-out-prompt').map(textOf);
    assert.deepEqual(outPrompts, ['[2]:', '[3]:', '[4]:', '[5]:', '[8]:']);
  });

  test('code is highlighted as Python', () => {
    const source = byClass(audit, 'rf-source')[0]!;
    const keywords = elements(source, 'span').filter((s) => hasClass(s, 'hljs-keyword')).map(textOf);
    assert.deepEqual(keywords.slice(0, 4), ['import', 'as', 'import', 'as']);
    assert.equal(attr(elements(source, 'code')[0]!, 'class'), 'language-python');
  });

  test('math is typeset by KaTeX into MathML, inline and display, with the TeX kept as annotation', () => {
    const maths = elements(doc, 'math');
    const tex = maths.map((m) => textOf(elements(m, 'annotation')[0]!));
    assert.ok(tex.includes('m = \\frac{r - c}{r}'), `inline math; got ${JSON.stringify(tex)}`);
    assert.ok(tex.includes('\\bar{x} = \\frac{1}{n} \\sum_{i=1}^{n} x_i'));
    assert.ok(tex.some((t) => t.startsWith('\\begin{align}')), 'a bare align environment is typeset');
    assert.ok(tex.includes('\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}'), 'a text/latex output is typeset');
    const display = maths.filter((m) => attr(m, 'display') === 'block');
    assert.ok(display.length >= 3);
    assert.ok(elements(doc, 'mfrac').length >= 3, 'fractions are real MathML');
    const rendered = byClass(audit, 'rf-rendered').map(textOf).join('\n');
    assert.equal(/\$\$|\\\[/.test(rendered), false, 'no raw $$ or \\[ delimiters left in rendered text');
  });

  test('the DataFrame is a table; the PNG and SVG outputs are <img> with data: URIs', () => {
    const table = elements(doc, 'table').find((t) => hasClass(t, 'dataframe'))!;
    assert.ok(table);
    assert.deepEqual(elements(elements(table, 'thead')[0]!, 'th').map(textOf), ['', 'month', 'region', 'revenue', 'cost', 'margin']);
    const imgs = elements(doc, 'img');
    const png = imgs.find((i) => attr(i, 'src')!.startsWith('data:image/png;base64,iVBORw0KGgo') && attr(i, 'width') === '560');
    assert.ok(png, 'the chart is an <img> with a data: URI and the width the notebook asked for');
    assert.equal(attr(png, 'alt'), '<IPython.core.display.Image object>');
    assert.ok(imgs.some((i) => attr(i, 'src')!.startsWith('data:image/svg+xml;base64,')), 'the SVG output is an image');
    assert.equal(elements(doc, 'svg').length, 0, 'never inline SVG');
  });

  test('streams: stdout merged, stderr tinted; the traceback keeps its colours as classes', () => {
    const stdout = byClass(audit, 'rf-stdout').map(textOf);
    assert.ok(stdout.includes('Q1: 1414.6\nQ2: 1458.6\nQ3: 1486.7\nQ4: 1457.4\n'));
    assert.deepEqual(byClass(audit, 'rf-stderr').map(textOf), ['warning: Q4 data is preliminary\n']);
    const traceback = byClass(audit, 'rf-error-output')[0]!;
    assert.match(textOf(traceback), /ValueError: periods must be positive, got 0$/);
    assert.match(textOf(traceback), /----> 6 growth\(df\.revenue, 0\)/);
    const classes = new Set(elements(traceback, 'span').flatMap((s) => (attr(s, 'class') ?? '').split(' ')));
    for (const c of ['ansi-red-fg', 'ansi-green-fg', 'ansi-cyan-fg', 'ansi-yellow-fg', 'ansi-c28-fg', 'ansi-bold']) assert.ok(classes.has(c), `${c} in ${[...classes].join(' ')}`);
    assert.equal(html.includes('\u001b'), false, 'no raw escape characters');
  });

  test('other outputs: JSON pretty-printed, markdown rendered, JavaScript not run but mentioned', () => {
    assert.equal(textOf(byClass(audit, 'rf-json')[0]!), '{\n  "regions": [\n    "North",\n    "South",\n    "East",\n    "West"\n  ],\n  "rows": 48\n}');
    assert.ok(elements(doc, 'strong').some((s) => textOf(s) === 'Best region:'));
    assert.ok(byClass(audit, 'rf-note').some((n) => textOf(n) === 'JavaScript output not shown'));
    assert.equal(byClass(audit, 'rf-outputs').map(textOf).join('').includes('hello from a notebook'), false);
  });

  test('markdown: attachment image, GFM table, task list, code fence, raw cell', () => {
    const badge = elements(doc, 'img').find((i) => attr(i, 'alt') === 'logo')!;
    assert.match(attr(badge, 'src')!, /^data:image\/png;base64,iVBORw0KGgo/);
    const tables = elements(doc, 'table').filter((t) => !hasClass(t, 'dataframe'));
    assert.ok(tables.some((t) => elements(t, 'td').map(textOf).join(',') === 'load,done,clean,done,model,to do'));
    const boxes = elements(doc, 'input');
    assert.deepEqual(boxes.map((b) => [attr(b, 'type'), attr(b, 'checked') !== undefined, attr(b, 'disabled') !== undefined]), [['checkbox', true, true], ['checkbox', false, true]]);
    assert.ok(elements(doc, 'code').some((c) => attr(c, 'class') === 'language-python' && textOf(c).startsWith('df.to_csv(')));
    assert.equal(textOf(byClass(audit, 'rf-raw')[0]!), 'Raw cell: passed through untouched by nbconvert.');
  });

  test('a table of contents from the headings, nested, pointing at the headings', () => {
    const nav = byClass(audit, 'rf-toc-side')[0]!;
    const links = elements(nav, 'a');
    assert.deepEqual(links.map(textOf), ['Quarterly sales analysis', 'Setup', 'Data', 'Trend', 'Notes', 'Conclusion']);
    assert.deepEqual(links.map((a) => attr(a, 'href')), ['#Quarterly-sales-analysis', '#Setup', '#Data', '#Trend', '#Notes', '#Conclusion']);
    const ids = new Set<string>();
    walk(doc, (el) => {
      const id = attr(el, 'id');
      if (id) ids.add(id);
    });
    for (const a of links) assert.ok(ids.has(attr(a, 'href')!.slice(1)), `${attr(a, 'href')} has a target`);
    // Setup is a child of the h1's entry; Conclusion (h3) a child of Notes (h2)
    const top = elements(nav, 'ol')[0]!;
    assert.equal(top.childNodes.filter((n) => (n as Element).tagName === 'li').length, 1);
    // a link written for JupyterLab ("#Data") lands on the heading
    assert.ok(elements(doc, 'a').some((a) => attr(a, 'href') === '#Data' && textOf(a) === 'the data section'));
    // the inline copy for narrow screens has the same entries
    assert.deepEqual(elements(byClass(audit, 'rf-toc-inline')[0]!, 'a').map(textOf), links.map(textOf));
  });

  test('rendering is deterministic', () => {
    assert.equal(render(fixture('realistic.ipynb')).html, html);
  });
});

describe('outputs', () => {
  const outputBody = (outputs: Json[], meta: Json = {}) => {
    const { audit } = render(notebook([code('x', outputs)], meta));
    assertClean(audit);
    return { audit, body: byClass(audit, 'rf-output').map((o) => o.childNodes[1] as Element) };
  };

  test("JupyterLab's MIME order: html, markdown, latex, svg, png, jpeg, gif, json, plain", () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>').toString('base64');
    const cases: [Json, (body: Element) => boolean][] = [
      [{ 'text/plain': 'p', 'image/png': PNG_1x1, 'text/html': '<b>h</b>' }, (b) => elements(b, 'b').length === 1 && elements(b, 'img').length === 0],
      [{ 'text/plain': 'p', 'text/markdown': '*m*', 'text/latex': '$x$' }, (b) => elements(b, 'em').length === 1],
      [{ 'text/plain': 'p', 'text/latex': '$x^2$', 'image/png': PNG_1x1 }, (b) => elements(b, 'math').length === 1],
      [{ 'image/png': PNG_1x1, 'image/svg+xml': Buffer.from(svg, 'base64').toString() }, (b) => attr(elements(b, 'img')[0]!, 'src')!.startsWith('data:image/svg+xml')],
      [{ 'image/jpeg': PNG_1x1, 'image/png': PNG_1x1 }, (b) => attr(elements(b, 'img')[0]!, 'src')!.startsWith('data:image/png')],
      [{ 'image/gif': GIF_1x1, 'application/json': {} }, (b) => attr(elements(b, 'img')[0]!, 'src')!.startsWith('data:image/gif')],
      [{ 'application/json': { a: 1 }, 'text/plain': "{'a': 1}" }, (b) => textOf(b) === '{\n  "a": 1\n}'],
      [{ 'text/plain': 'just text' }, (b) => textOf(b) === 'just text'],
    ];
    for (const [data, check] of cases) {
      const { body } = outputBody([display(data)]);
      assert.ok(check(body[0]!), `for ${Object.keys(data).join(', ')}`);
    }
  });

  test('image sizes come only from numbers in the metadata', () => {
    const sized = (meta: Json) => {
      const img = elements(outputBody([display({ 'image/png': PNG_1x1 }, { 'image/png': meta })]).body[0]!, 'img')[0]!;
      return [attr(img, 'width'), attr(img, 'height')];
    };
    assert.deepEqual(sized({ width: 320.4, height: '200' }), ['320', '200']);
    assert.deepEqual(sized({ width: '100 onload=alert(1)', height: -5 }), [undefined, undefined]);
    assert.deepEqual(sized({ width: '"><script>', height: 1e9 }), [undefined, undefined]);
    const unconfined = elements(outputBody([display({ 'image/png': PNG_1x1 }, { 'image/png': { unconfined: true } })]).body[0]!, 'img')[0]!;
    assert.equal(attr(unconfined, 'class'), 'rf-unconfined');
  });

  test('image data that is not base64 is not put in the page', () => {
    const { body } = outputBody([display({ 'image/png': 'iVBOR" onerror="alert(1)' })]);
    assert.equal(elements(body[0]!, 'img').length, 0);
    assert.equal(textOf(body[0]!), 'Invalid image/png data');
    // base64 split over lines (older notebooks) is fine
    const { body: ok } = outputBody([display({ 'image/png': [PNG_1x1.slice(0, 20) + '\n', PNG_1x1.slice(20) + '\n'] })]);
    assert.equal(attr(elements(ok[0]!, 'img')[0]!, 'src'), `data:image/png;base64,${PNG_1x1}`);
  });

  test('streams: consecutive pieces merged, carriage returns and backspaces applied', () => {
    const { audit } = outputBody([stream('stdout', '10%\r50%\r100%\n'), stream('stdout', ['done', '\n']), stream('stderr', 'oops\n'), stream('stdout', 'abc\b\bX\n')]);
    assert.deepEqual(byClass(audit, 'rf-stdout').map(textOf), ['100%\ndone\n', 'aX\n']);
    assert.deepEqual(byClass(audit, 'rf-stderr').map(textOf), ['oops\n']);
  });

  test('ANSI colours become classes (16, 256 and 24-bit), text stays escaped', () => {
    const { body } = outputBody([stream('stdout', '\u001b[1;31mbold red\u001b[0m \u001b[38;5;208morange\u001b[0m \u001b[38;2;255;0;0mtrue red\u001b[0m \u001b[42m<b>&amp;</b>\u001b[0m \u001b[7minverse\u001b[0m')]);
    const spans = elements(body[0]!, 'span').map((s) => [attr(s, 'class'), textOf(s)]);
    assert.deepEqual(spans, [
      ['ansi-red-fg ansi-bold', 'bold red'],
      ['ansi-c208-fg', 'orange'],
      ['ansi-c196-fg', 'true red'],
      ['ansi-green-bg', '<b>&amp;</b>'],
      ['ansi-black-fg ansi-white-bg', 'inverse'],
    ]);
    assert.equal(elements(body[0]!, 'b').length, 0);
  });

  test('errors: the traceback, or ename: evalue when there is none', () => {
    const { audit } = outputBody([error('KeyError', "'x'", [])]);
    assert.equal(textOf(byClass(audit, 'rf-error-output')[0]!), "KeyError: 'x'");
  });

  test('what is not shown says so', () => {
    const notes = (data: Json) => byClass(outputBody([display(data)]).audit, 'rf-note').map(textOf);
    assert.deepEqual(notes({ 'application/javascript': 'alert(1)', 'text/plain': '<IPython.core.display.Javascript object>' }), ['JavaScript output not shown']);
    assert.deepEqual(notes({ 'application/vnd.jupyter.widget-view+json': { model_id: 'x' }, 'text/plain': 'IntSlider(value=0)' }), ['Interactive widget not shown (it needs a running kernel)']);
    assert.deepEqual(notes({ 'application/vnd.plotly.v1+json': {} }), ['Output of type application/vnd.plotly.v1+json not shown']);
    assert.deepEqual(notes({ 'text/html': '<div id="plot"></div><script>Plotly.newPlot("plot")</script>' }), ['Scripts in this output were not run']);
  });

  test('hidden inputs and outputs are folded, not dropped', () => {
    const nb = notebook([
      code('secret = 1', [stream('stdout', 'shown\n')], { metadata: { jupyter: { source_hidden: true } } }),
      code('y', [stream('stdout', 'hidden\n')], { metadata: { jupyter: { outputs_hidden: true } } }),
      code('z', [stream('stdout', 'old\n')], { metadata: { collapsed: true } }),
    ]);
    const { audit } = render(nb);
    assert.deepEqual(elements(audit.document, 'summary').map(textOf), ['Code hidden', 'Output hidden (1 item)', 'Output hidden (1 item)']);
    assert.equal(elements(audit.document, 'details').filter((d) => attr(d, 'open') !== undefined).length, 0);
  });
});

describe('markdown', () => {
  test('math: macros persist across the cells of one notebook, never into another', () => {
    const nb = notebook([md('$\\newcommand{\\RR}{\\mathbb{R}}$ and $\\newcommand{\\R}{\\mathcal{R}}$'), md('$x \\in \\RR$, $\\R$')]);
    const { audit } = render(nb);
    assertClean(audit);
    const mis = elements(audit.document, 'mi').map((m) => [attr(m, 'mathvariant'), textOf(m)]);
    assert.ok(mis.some(([v, t]) => v === 'double-struck' && t === 'R'), '\\RR from the first cell works in the second');
    assert.ok(mis.some(([v, t]) => v === 'script' && t === 'R'), '\\newcommand may redefine an existing command, as in MathJax');
    const other = render(notebook([md('$\\RR$')])).audit;
    assert.equal(byClass(other, 'katex-error').length + elements(other.document, 'mtext').filter((m) => textOf(m) === '\\RR').length > 0, true, 'the macro did not leak into another render');
  });

  test('math delimiters as in JupyterLab: $ $, $$ $$, \\( \\), \\[ \\], environments; errors in red', () => {
    const { audit } = render(notebook([md('a $ x $ b \\(y\\) c $$z$$ d \\[w\\]\n\n\\begin{equation}\nE=mc^2\n\\end{equation}\n\n$\\frac{1}{$')]));
    const tex = elements(audit.document, 'annotation').map(textOf);
    assert.deepEqual(tex, ['x', 'y', 'z', 'w', '\\begin{equation}\nE=mc^2\n\\end{equation}']);
    const err = byClass(audit, 'katex-error')[0]!;
    assert.equal(textOf(err), '\\frac{1}{');
    assert.match(attr(err, 'title')!, /KaTeX parse error/);
    assertClean(audit);
  });

  test('heading ids as JupyterLab makes them, unique across cells; the ¶ link beside each', () => {
    const { audit } = render(notebook([md('# Intro\n## The $x$ variable'), md('# Intro')]));
    const main = elements(audit.document, 'main')[0]!;
    const ids = ['h1', 'h2'].flatMap((t) => elements(main, t)).map((h) => attr(h, 'id'));
    assert.deepEqual(ids, ['Intro', 'Intro-1', 'The-$x$-variable']);
    const anchors = byClass(audit, 'anchor-link').map((a) => attr(a, 'href'));
    assert.deepEqual(anchors.sort(), ['#Intro', '#Intro-1', '#The-$x$-variable']);
  });

  test('links and images: http(s) kept, script URLs dropped, remote images become links', () => {
    const { audit } = render(notebook([md('[ok](https://example.org) [bad](javascript:alert(1)) ![remote](https://example.org/a.png) ![gif](data:image/gif;base64,' + GIF_1x1 + ')')]));
    assertClean(audit);
    const links = elements(audit.document, 'a').filter((a) => !hasClass(a, 'rf-download') && !attr(a, 'href')?.startsWith('#'));
    assert.deepEqual(links.map((a) => [attr(a, 'href'), textOf(a), attr(a, 'rel')]), [
      ['https://example.org', 'ok', 'nofollow noopener noreferrer'],
      ['https://example.org/a.png', '[image: remote]', 'nofollow noopener noreferrer'],
    ]);
    assert.ok(textOf(audit.document).includes('[bad](javascript:alert(1))'), 'the unsafe link is left as text');
    assert.equal(elements(audit.document, 'img').filter((i) => attr(i, 'src')!.startsWith('data:image/gif')).length, 1);
  });

  test('attachments: by name (URL-encoded too), image types only, only the cell’s own', () => {
    const att = { 'a b.png': { 'image/png': PNG_1x1 }, 'page.html': { 'text/html': '<script>alert(1)</script>' } };
    const nb = notebook([
      md('![one](attachment:a%20b.png) ![two](attachment:page.html) ![three](attachment:__proto__) <img src="attachment:a b.png" alt="raw">', { attachments: att }),
      md('![four](attachment:a%20b.png)'),
    ]);
    const { audit } = render(nb);
    assertClean(audit);
    const imgs = elements(audit.document, 'img').map((i) => attr(i, 'alt'));
    assert.deepEqual(imgs, ['one', 'raw']);
    assert.deepEqual(byClass(audit, 'missing-image').map(textOf), ['[image: two]', '[image: three]', '[image: four]']);
  });

  test('cell tags are shown, escaped', () => {
    const { audit } = render(notebook([md('x', { metadata: { tags: ['parameters', '<b>bold</b>'] } })]));
    assert.deepEqual(elements(byClass(audit, 'rf-tags')[0]!, 'li').map(textOf), ['parameters', '<b>bold</b>']);
    assert.equal(elements(audit.document, 'b').length, 0);
  });

  test('text/markdown outputs do not add to the table of contents', () => {
    const { audit } = render(notebook([md('# One'), md('## Two'), code('x', [display({ 'text/markdown': '# Output heading' })])]));
    assert.deepEqual(elements(byClass(audit, 'rf-toc-side')[0]!, 'a').map(textOf), ['One', 'Two']);
  });
});

describe('the page', () => {
  test('table of contents nesting stays well-formed when levels skip', () => {
    const toc = tocList([
      { level: 2, id: 'a', text: 'A' },
      { level: 4, id: 'b', text: 'B' },
      { level: 3, id: 'c', text: 'C' },
      { level: 1, id: 'd', text: 'D' },
      { level: 3, id: 'e', text: 'E' },
    ]);
    assert.equal(toc, '<ol><li><a href="#a">A</a><ol><li><a href="#b">B</a></li><li><a href="#c">C</a></li></ol></li><li><a href="#d">D</a><ol><li><a href="#e">E</a></li></ol></li></ol>');
    assert.deepEqual(auditPage(`<!DOCTYPE html><title>t</title>${toc}`).parseErrors, []);
  });

  test('options: theme, no table of contents for one heading, toc forced, noindex', () => {
    const one = notebook([md('# Only')]);
    assert.match(render(one, { theme: 'dark' }).html, /^<!DOCTYPE html>\n<html lang="en" data-theme="dark">/);
    assert.match(render(one, { theme: 'light' }).html, /<meta name="color-scheme" content="light">/);
    assert.equal(byClass(render(one).audit, 'rf-toc-side').length, 0);
    assert.equal(byClass(render(one, { toc: true }).audit, 'rf-toc-side').length, 1);
    assert.match(render(one).html, /<meta name="robots" content="noindex, nofollow">/);
    assert.doesNotMatch(render(one, { noindex: false }).html, /name="robots"/);
    assert.match(render(one).html, /<meta name="referrer" content="no-referrer">/);
  });

  test('the download link only takes a path or an http(s) URL', () => {
    const { notebook: nb } = validateNotebook(bytes(notebook([])), { maxBytes: 1e6 });
    for (const bad of ['javascript:alert(1)', 'JAVASCRIPT:x', 'data:text/html,x', '//evil.example/x', ' /x', 'vbscript:x', '']) {
      assert.throws(() => renderNotebook(nb, { ...OPTIONS, downloadUrl: bad }), TypeError, bad);
    }
    for (const good of ['/p/x/download?v=2', 'download', './x.ipynb', 'https://hub.example/p/x.ipynb']) {
      assert.ok(renderNotebook(nb, { ...OPTIONS, downloadUrl: good }).includes(`href="${good}"`));
    }
    const named = auditPage(renderNotebook(nb, { ...OPTIONS, title: '../../etc/passwd "x"', downloadName: 'a/b<c>.ipynb' }));
    assert.equal(attr(byClass(named, 'rf-download')[0]!, 'download'), 'a_b_c.ipynb');
  });

  test('another language: R is highlighted as R; an unknown one is plain text', () => {
    const r = render(notebook([code('x <- c(1, 2)\nfunction(a) a + 1', [])], { language_info: { name: 'R' }, kernelspec: { name: 'ir', display_name: 'R', language: 'R' } }));
    assert.ok(byClass(r.audit, 'hljs-keyword').some((k) => textOf(k) === 'function'));
    const unknown = render(notebook([code('if x then y', [])], { language_info: { name: 'brainfreeze' }, kernelspec: { name: 'k', display_name: 'K' } }));
    assert.equal(elements(byClass(unknown.audit, 'rf-source')[0]!, 'span').length, 0);
    assert.equal(textOf(byClass(unknown.audit, 'rf-source')[0]!), 'if x then y');
  });

  test('cells and outputs from a future nbformat minor are named, not dropped', () => {
    const nb = notebook([{ id: 'd1', cell_type: 'diagram', metadata: {}, source: 'A->B' }, code('x', [{ output_type: 'hologram' }])]);
    nb.nbformat_minor = 9;
    const { audit } = render(nb);
    assertClean(audit);
    assert.deepEqual(byClass(audit, 'rf-note').map(textOf), ['A cell of type “diagram” is not supported', 'Output of type “hologram” is not supported']);
  });

  test('an output too deeply nested to print does not take the page down', () => {
    const deep = `${'['.repeat(20_000)}1${']'.repeat(20_000)}`;
    const nb = JSON.stringify(notebook([code('x', [result(1, { 'application/json': '@DEEP@' })]), md('# After')])).replace('"@DEEP@"', deep);
    const html = renderNotebook(validateNotebook(Buffer.from(nb), { maxBytes: 1e7 }).notebook, OPTIONS);
    const audit = auditPage(html);
    assert.ok(byClass(audit, 'rf-note').some((n) => textOf(n) === 'This output could not be displayed'));
    assert.ok(elements(audit.document, 'h1').some((h) => attr(h, 'id') === 'After'), 'the rest of the page is there');
  });

  test('raw cells are text', () => {
    const { audit } = render(notebook([raw('<script>alert(1)</script>\n\\section{x}')]));
    assertClean(audit);
    assert.equal(textOf(byClass(audit, 'rf-raw')[0]!), '<script>alert(1)</script>\n\\section{x}');
  });
});

describe('bounded work for hostile notebooks', () => {
  test('HTML nested deeper than browsers nest is not parsed (the parser is quadratic in depth)', () => {
    const deep = '<b><i>'.repeat(60_000);
    const { audit } = render(notebook([code('x', [display({ 'text/html': deep })]), md(`<div>${'<span>'.repeat(MAX_NESTING + 5)}x`)]));
    assertClean(audit);
    const notes = byClass(audit, 'rf-note').map(textOf);
    assert.deepEqual(notes, [`This content is nested more than ${MAX_NESTING} levels deep and is not shown`, `This content is nested more than ${MAX_NESTING} levels deep and is not shown`]);
    // comments and scripts do not count, ordinary depth passes
    const fine = render(notebook([code('x', [display({ 'text/html': `<!-- ${'<b>'.repeat(2000)} --><script>${'<i>'.repeat(2000)}</script>${'<div>'.repeat(100)}ok` })])]));
    assert.equal(byClass(fine.audit, 'rf-note').filter((n) => textOf(n).includes('nested')).length, 0);
  });

  test('unclosed math delimiters are text', () => {
    const { audit } = render(notebook([md(`${'\\( '.repeat(30_000)}end`)]));
    assert.ok(textOf(byClass(audit, 'rf-markdown')[0]!).trimEnd().endsWith('( end'));
    assert.equal(elements(audit.document, 'math').length, 0);
  });

  test('past the math limits, formulas are shown as TeX source', () => {
    const saved = { ...MATH_LIMITS };
    MATH_LIMITS.expressions = 3;
    try {
      const { audit } = render(notebook([md('$a$ $b$ $c$ $d$ $e$')]));
      assert.equal(elements(audit.document, 'math').length, 3);
      assert.deepEqual(byClass(audit, 'math-source').map(textOf), ['d', 'e']);
    } finally {
      Object.assign(MATH_LIMITS, saved);
    }
  });

  test('past the highlighting budget, code is shown uncoloured', () => {
    const saved = { ...HIGHLIGHT_LIMITS };
    try {
      HIGHLIGHT_LIMITS.cellLength = 10;
      let audit = render(notebook([code('import os', []), code('import os, sys', [])])).audit;
      assert.deepEqual(byClass(audit, 'hljs-keyword').map(textOf), ['import'], 'only the short cell is highlighted');
      Object.assign(HIGHLIGHT_LIMITS, saved, { pageMs: 0 });
      audit = render(notebook([code('import os', [])])).audit;
      assert.equal(byClass(audit, 'hljs-keyword').length, 0);
    } finally {
      Object.assign(HIGHLIGHT_LIMITS, saved);
    }
  });
});

describe('renderInWorker', () => {
  test('the same page as in-process, off the main thread', async () => {
    const { html } = await renderInWorker(fixture('realistic.ipynb'), { maxBytes: 25_000_000 }, OPTIONS);
    assert.equal(html, render(fixture('realistic.ipynb')).html);
  });

  test('a NotebookError comes back as a NotebookError; the deadline ends the worker', async () => {
    await assert.rejects(renderInWorker(bytes(notebook([code('x', [], { execution_count: 'one' })])), { maxBytes: 1e6 }, OPTIONS), (err: unknown) => {
      assert.ok(err instanceof NotebookError);
      assert.equal(err.code, 'invalid');
      assert.equal(err.path, 'cells[0].execution_count');
      return true;
    });
    await assert.rejects(renderInWorker(fixture('realistic.ipynb'), { maxBytes: 25_000_000 }, OPTIONS, { timeoutMs: 1 }), RenderAbortedError);
  });
});
