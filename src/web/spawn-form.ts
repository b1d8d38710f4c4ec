// The spawn form's HTML: image cards, sizes, offered profiles with their options, the person's own
// environment variables and a review of the resolved plan, a pure function of a view model. What
// the fields mean and how a posted form is read: spawn-form-fields.ts.
import type { ImageConfig, OfferedProfileConfig, SizeConfig } from '../profiles/schema.js';
import type { SpawnPlan } from '../profiles/plan.js';
import { html, type SafeHtml } from './html.js';
import { formatBytes, formatCpu } from '../util/units.js';
import { clusterRequestSchema } from '../clusters/request.js';
import { describeMemory } from '../profiles/cluster-choices.js';
import { clusterFieldset } from './spawn-form-cluster.js';
import { defaultChoice, FORM_MARKER, optionField, UNLISTED, type EnvRow, type FieldErrors, type FormCatalog, type FormValues } from './spawn-form-fields.js';

/** Without JavaScript, this many empty variable rows are offered (with it, "Add a variable"). */
const EMPTY_ENV_ROWS = 3;
/** More images than this get a search box. */
const SEARCH_THRESHOLD = 6;

export interface SpawnFormModel {
  /** Where the form posts (with ?next=). */
  action: string;
  cancelHref: string;
  heading: SafeHtml;
  /** Whose server, for the API the review panel asks. */
  user: string;
  server: string;
  xsrf: string;
  form: FormCatalog;
  values: FormValues;
  errors: FieldErrors;
  /** Last settings that no longer apply (shown at the top). */
  warnings: string[];
  /** The plan for the values shown (null when they do not resolve). */
  plan: Record<string, unknown> | null;
  /** Phase notes: still stopping, the last start failed. */
  notes: SafeHtml[];
}

const id = (...parts: string[]): string => parts.join('--').replace(/[^A-Za-z0-9_-]/g, '_');

/** The `<p>` under a field that shows its problem (empty and hidden until there is one). */
function errorSlot(field: string, elementId: string, message: string | undefined): SafeHtml {
  return html`<p class="field-error" id="${elementId}" data-error-for="${field}"${message ? '' : html` hidden`}>${message ?? ''}</p>`;
}

/** "1 CPU · 2 GB" from limits (else guarantees). */
export function resourcesLine(size: { cpu?: { guarantee?: number | undefined; limit?: number | undefined } | undefined; memory?: { guarantee?: number | undefined; limit?: number | undefined } | undefined; gpu?: number | undefined }): string {
  const parts: string[] = [];
  const cpu = size.cpu?.limit ?? size.cpu?.guarantee;
  const memory = size.memory?.limit ?? size.memory?.guarantee;
  if (cpu !== undefined) parts.push(formatCpu(cpu));
  if (memory !== undefined) parts.push(formatBytes(memory));
  if (size.gpu) parts.push(`${size.gpu} GPU${size.gpu > 1 ? 's' : ''}`);
  return parts.join(' · ');
}

function guaranteeLine(size: SizeConfig): string {
  const parts: string[] = [];
  if (size.cpu?.guarantee !== undefined && size.cpu.limit !== undefined && size.cpu.guarantee !== size.cpu.limit) parts.push(formatCpu(size.cpu.guarantee));
  if (size.memory?.guarantee !== undefined && size.memory.limit !== undefined && size.memory.guarantee !== size.memory.limit) parts.push(formatBytes(size.memory.guarantee));
  return parts.length ? `${parts.join(', ')} guaranteed` : '';
}

function contentsOf(image: ImageConfig): { name: string; version: string | null }[] {
  return image.contents.map((c) => (typeof c === 'string' ? { name: c, version: null } : { name: c.name, version: c.version ?? null }));
}

function imageCard(image: ImageConfig, model: SpawnFormModel): SafeHtml {
  const inputId = id('image', image.name);
  const contents = contentsOf(image);
  const search = [image.display_name, image.name, image.description, ...contents.map((c) => `${c.name} ${c.version ?? ''}`)].join(' ').toLowerCase();
  const sizes = model.form.sizesByImage.get(image.name) ?? [];
  const profiles = model.form.profiles.filter((p) => p.images.includes(image.name)).map((p) => p.profile.slug);
  const describedBy = [`${inputId}-desc`, contents.length ? `${inputId}-contents` : '', image.deprecated ? `${inputId}-deprecated` : '', image.recommended ? `${inputId}-badge` : ''].filter(Boolean).join(' ');
  return html`<label class="choice-card image-card${image.deprecated ? ' is-deprecated' : ''}" for="${inputId}" data-image-card data-search="${search}" data-sizes="${sizes.join(' ')}" data-profiles="${profiles.join(' ')}">
  <input class="choice-input" type="radio" name="image" id="${inputId}" value="${image.name}"${model.values.image === image.name ? html` checked` : ''} aria-labelledby="${inputId}-title" aria-describedby="${describedBy}">
  <span class="choice-head">
    <span class="choice-mark" aria-hidden="true"></span>
    <span class="choice-title" id="${inputId}-title" data-title>${image.display_name}</span>
    ${image.recommended ? html`<span class="badge recommended" id="${inputId}-badge">Recommended</span>` : ''}
  </span>
  <span class="choice-desc" id="${inputId}-desc">${image.description || html`<span class="muted"><code>${image.name}</code></span>`}</span>
  ${contents.length
    ? html`<span class="chips" id="${inputId}-contents"><span class="sr-only">Contains: </span>${contents.map((c, i) => html`<span class="chip">${c.name}${c.version ? html` <span class="chip-version">${c.version}</span>` : ''}${i < contents.length - 1 ? html`<span class="sr-only">, </span>` : ''}</span>`)}</span>`
    : ''}
  ${image.deprecated ? html`<span class="deprecation" id="${inputId}-deprecated"><span class="deprecation-label">Deprecated:</span> ${image.deprecated}</span>` : ''}
</label>`;
}

function sizeCard(size: SizeConfig, model: SpawnFormModel): SafeHtml {
  const inputId = id('size', size.name);
  const allowedNow = model.form.sizesByImage.get(model.values.image);
  const selectedImage = model.form.images.find((i) => i.name === model.values.image);
  const unavailable = allowedNow !== undefined && !allowedNow.includes(size.name);
  const guarantee = guaranteeLine(size);
  return html`<label class="choice-card size-card" for="${inputId}" data-size-card${size.default ? html` data-default` : ''}>
  <input class="choice-input" type="radio" name="size" id="${inputId}" value="${size.name}"${model.values.size === size.name ? html` checked` : ''} aria-labelledby="${inputId}-title" aria-describedby="${inputId}-res${size.description ? ` ${inputId}-desc` : ''} ${inputId}-note">
  <span class="choice-head">
    <span class="choice-mark" aria-hidden="true"></span>
    <span class="choice-title" id="${inputId}-title" data-title>${size.display_name}</span>
  </span>
  <span class="size-resources" id="${inputId}-res" data-resources>${resourcesLine(size) || 'No limits'}</span>
  ${guarantee ? html`<span class="size-guarantee">${guarantee}</span>` : ''}
  ${size.description ? html`<span class="choice-desc" id="${inputId}-desc">${size.description}</span>` : ''}
  <span class="size-note" id="${inputId}-note" data-role="unavailable"${unavailable ? '' : html` hidden`}>Not available with ${selectedImage?.display_name ?? 'this image'}</span>
</label>`;
}

function profileItem(entry: FormCatalog['profiles'][number], model: SpawnFormModel): SafeHtml {
  const { profile, images } = entry;
  const inputId = id('profile', profile.slug);
  const checked = model.values.profile === profile.slug;
  const everyImage = images.length === model.form.images.length;
  const imageNames = images.map((n) => model.form.images.find((i) => i.name === n)?.display_name ?? n);
  const options = Object.entries(profile.profile_options);
  return html`<div class="profile-item${checked ? ' is-checked' : ''}" data-profile-item="${profile.slug}" data-images="${images.join(' ')}"${profile.default ? html` data-default` : ''}>
  <div class="profile-choice">
    <input type="radio" name="profile" id="${inputId}" value="${profile.slug}"${checked ? html` checked` : ''} aria-describedby="${profile.description ? `${inputId}-desc` : ''}${everyImage ? '' : ` ${inputId}-for`}">
    <label for="${inputId}">${profile.display_name}</label>
  </div>
  ${profile.description ? html`<p class="profile-desc" id="${inputId}-desc">${profile.description}</p>` : ''}
  ${everyImage ? '' : html`<p class="hint nojs-only" id="${inputId}-for">With ${imageNames.join(', ')}</p>`}
  ${options.length
    ? html`<div class="profile-options" data-profile-options="${profile.slug}">
    ${options.map(([key, option]) => optionField_(profile, key, option, model, checked))}
  </div>`
    : ''}
</div>`;
}

/**
 * The regex as an HTML `pattern`: both the hub and HTML match it against the whole value, but HTML
 * compiles with the `v` flag. Undefined when the browser could not compile it (the page script
 * still checks with the hub's rules).
 */
export function htmlPattern(regex: string): string | undefined {
  const pattern = regex;
  try {
    new RegExp(`^(?:${pattern})$`, 'v');
    return pattern;
  } catch {
    return undefined;
  }
}

function optionField_(profile: OfferedProfileConfig, key: string, option: OfferedProfileConfig['profile_options'][string], model: SpawnFormModel, profileChecked: boolean): SafeHtml {
  const name = optionField(profile.slug, key);
  const selectId = id('opt', profile.slug, key);
  const value = model.values.options[profile.slug]?.[key] ?? defaultChoice(option);
  const typed = model.values.unlisted[profile.slug]?.[key] ?? '';
  const error = profileChecked ? model.errors[`options.${key}`] : undefined;
  const unlisted = option.unlisted_choice?.enabled ? option.unlisted_choice : undefined;
  const otherId = `${selectId}--other`;
  const otherLabel = unlisted ? unlisted.display_name_in_choices ?? `${unlisted.display_name}…` : '';
  const regex = unlisted?.validation_regex;
  const pattern = regex ? htmlPattern(regex) : undefined;
  const regexMessage = unlisted?.validation_regex_error_message ?? (regex ? `Use a value that matches ${regex}.` : '');
  const choices = Object.entries(option.choices);
  const choiceDescribed = choices.some(([, c]) => c.description);
  // the problem belongs to the typed value when "Other…" is chosen, else to the select
  const onOther = !!unlisted && value === UNLISTED;
  const errorId = `${selectId}-error`;
  return html`<div class="field option-field" data-option-key="${key}">
  <label for="${selectId}">${option.display_name}</label>
  <select id="${selectId}" name="${name}" data-option-select${unlisted ? html` data-other-input="${otherId}"` : ''}${error && !onOther ? html` aria-invalid="true"` : ''} aria-describedby="${errorId}${choiceDescribed ? ` ${selectId}-hint` : ''}">
    ${choices.map(([choiceKey, choice]) => html`<option value="${choiceKey}"${value === choiceKey ? html` selected` : ''} data-description="${choice.description}">${choice.display_name}</option>`)}
    ${unlisted ? html`<option value="${UNLISTED}"${value === UNLISTED ? html` selected` : ''} data-description="">${otherLabel}</option>` : ''}
  </select>
  ${choiceDescribed ? html`<p class="hint" id="${selectId}-hint" data-choice-hint>${choices.find(([k]) => k === value)?.[1].description ?? ''}</p>` : ''}
  ${unlisted
    ? html`<div class="other-field" data-other-for="${selectId}">
    <label for="${otherId}">${unlisted.display_name}</label>
    <input type="text" id="${otherId}" name="${name}--unlisted-choice" value="${typed}" autocomplete="off" autocapitalize="none" spellcheck="false"${regex ? html` data-regex="${regex}" title="${regexMessage}"` : ''}${pattern ? html` pattern="${pattern}"` : ''} data-regex-message="${regexMessage}" data-label="${option.display_name}"
      aria-describedby="${errorId} ${otherId}-hint"${error && onOther ? html` aria-invalid="true"` : ''}>
    <p class="hint" id="${otherId}-hint">${regex ? (unlisted.validation_regex_error_message ? regexMessage : html`Must match <code>${regex}</code>.`) : 'Any value.'}<span class="nojs-only"> Used when “${otherLabel}” is chosen above.</span></p>
    ${errorSlot(`options.${key}`, errorId, error)}
  </div>`
    : errorSlot(`options.${key}`, errorId, error)}
</div>`;
}

function envRow(row: EnvRow, index: number, error: string | undefined): SafeHtml {
  const n = index + 1;
  return html`<div class="env-row" data-env-row>
  <div class="env-name">
    <label class="sr-only" for="env-name-${index}">Name of variable ${n}</label>
    <input type="text" id="env-name-${index}" name="env-name-${index}" value="${row.name}" placeholder="NAME" autocomplete="off" autocapitalize="none" spellcheck="false" class="mono" maxlength="255"
      aria-describedby="env-error-${index}"${error ? html` aria-invalid="true"` : ''}>
  </div>
  <span class="env-eq" aria-hidden="true">=</span>
  <div class="env-value">
    <label class="sr-only" for="env-value-${index}">Value of variable ${n}</label>
    <input type="text" id="env-value-${index}" name="env-value-${index}" value="${row.value}" placeholder="value" autocomplete="off" autocapitalize="none" spellcheck="false" class="mono">
  </div>
  <button type="button" class="icon-button" data-action="remove-env" hidden aria-label="Remove variable ${n}" title="Remove variable"><span aria-hidden="true">×</span></button>
  ${errorSlot(`env-row.${index}`, `env-error-${index}`, error)}
</div>`;
}

/** Each row's problem: its own, or the resolver's `env.NAME` on the first row with that name. */
function envRowErrors(values: FormValues, errors: FieldErrors): (string | undefined)[] {
  return values.env.map((row, i) => errors[`env-row.${i}`] ?? (row.name && values.env.findIndex((r) => r.name === row.name) === i ? errors[`env.${row.name}`] : undefined));
}

/** Where a field's problem is shown, for the summary's links. */
function fieldAnchor(field: string, model: SpawnFormModel): string {
  if (field === 'image') return 'image-group';
  if (field === 'size') return 'size-group';
  if (field === 'profile') return 'profile-group';
  if (field.startsWith('options.')) {
    const key = field.slice('options.'.length);
    const profile = model.form.profiles.find((p) => p.profile.slug === model.values.profile)?.profile;
    const option = profile?.profile_options[key];
    if (profile && option) return model.values.options[profile.slug]?.[key] === UNLISTED && option.unlisted_choice?.enabled ? `${id('opt', profile.slug, key)}--other` : id('opt', profile.slug, key);
    return 'profile-group';
  }
  if (field === 'cluster_workers') return 'cluster-workers';
  if (field === 'cluster_worker_cores') return 'cluster-worker-cores';
  if (field === 'cluster_worker_memory') return 'cluster-worker-memory';
  if (field.startsWith('env-row.')) return `env-name-${field.slice('env-row.'.length)}`;
  if (field.startsWith('env.')) {
    const index = model.values.env.findIndex((r) => r.name === field.slice(4));
    return index >= 0 ? `env-name-${index}` : 'env-group';
  }
  return 'spawn-form';
}

/** What a field is called on the page, for the list of problems at the top. */
function fieldLabel(field: string, model: SpawnFormModel): string {
  if (field === 'image') return 'Image';
  if (field === 'size') return 'Size';
  if (field === 'profile') return 'Profile';
  if (field.startsWith('options.')) {
    const profile = model.form.profiles.find((p) => p.profile.slug === model.values.profile)?.profile;
    return profile?.profile_options[field.slice('options.'.length)]?.display_name ?? 'Profile option';
  }
  if (field === 'cluster_workers') return 'Cluster workers';
  if (field === 'cluster_worker_cores') return 'Cores per worker';
  if (field === 'cluster_worker_memory') return 'Memory per worker';
  if (field.startsWith('env-row.')) return `Variable ${Number(field.slice('env-row.'.length)) + 1}`;
  if (field.startsWith('env.')) return `Variable ${field.slice('env.'.length)}`;
  return 'Start';
}

/** "spark: 2 workers × 1 core, 1 GiB each, Spark Connect" (the page script writes the same). */
export function clusterLine(c: Record<string, unknown>): string {
  const kind = String(c.kind ?? c.type ?? c.name ?? 'cluster');
  const parsed = clusterRequestSchema.safeParse(Object.fromEntries(Object.entries(c).filter(([k]) => k !== 'source')));
  if (!parsed.success) return kind;
  const r = parsed.data;
  const cores = `${r.worker.cores} core${r.worker.cores === 1 ? '' : 's'}`;
  return `${kind}: ${r.workers} worker${r.workers === 1 ? '' : 's'} × ${cores}, ${describeMemory(r.worker.memory)} each${r.connect ? ', Spark Connect' : ''}`;
}

const SOURCE_LABEL = (source: string): string => (source === 'you' ? 'set by you' : `from ${source}`);

/** The resolved plan as people may see it (secrets hidden), as the review panel shows it. */
export function renderPlan(plan: Record<string, unknown>): SafeHtml {
  const p = plan as unknown as Omit<SpawnPlan, 'env'> & { env: Record<string, { value: string | null; secret: boolean; source: string }> };
  const cpu = p.resources.cpu;
  const memory = p.resources.memory;
  const range = (g: number | undefined, l: number | undefined, f: (n: number) => string): string =>
    g !== undefined && l !== undefined ? (g === l ? f(l) : `${f(g)} guaranteed, up to ${f(l)}`) : l !== undefined ? `up to ${f(l)}` : g !== undefined ? `${f(g)} guaranteed` : 'no limit';
  const env = Object.entries(p.env).sort(([a], [b]) => a.localeCompare(b));
  return html`${p.warnings.length ? html`<ul class="plan-warnings">${p.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : ''}
<dl class="plan-facts">
  <div><dt>Image</dt><dd>${p.image.display_name} <code>${p.image.name}</code></dd></div>
  ${p.size ? html`<div><dt>Size</dt><dd>${p.size.display_name}</dd></div>` : ''}
  <div><dt>CPU</dt><dd>${range(cpu.guarantee, cpu.limit, formatCpu)}</dd></div>
  <div><dt>Memory</dt><dd>${range(memory.guarantee, memory.limit, formatBytes)}</dd></div>
  ${p.resources.gpu ? html`<div><dt>GPU</dt><dd>${p.resources.gpu}</dd></div>` : ''}
  ${p.default_url ? html`<div><dt>Opens</dt><dd><code>${p.default_url}</code></dd></div>` : ''}
</dl>
<h3>Environment</h3>
${env.length
    ? html`<ul class="plan-env">${env.map(([name, entry]) => html`<li><code class="env-key">${name}</code> <span class="env-val">${entry.secret ? html`<span class="secret-value">hidden</span>` : entry.value === '' ? html`<span class="muted">(empty)</span>` : entry.value}</span> <span class="plan-source">${SOURCE_LABEL(entry.source)}</span></li>`)}</ul>`
    : html`<p class="muted">No extra variables.</p>`}
${p.applied.length ? html`<h3>Profiles applied</h3><ul class="plan-list">${p.applied.map((a) => html`<li>${a.replace(/^profile /, '')}</li>`)}</ul>` : ''}
${p.volumes.length ? html`<h3>Volumes</h3><ul class="plan-list">${p.volumes.map((v) => html`<li><code>${v.mount_path}</code>${v.read_only ? ' (read-only)' : ''} <span class="plan-source">${SOURCE_LABEL(v.source)}</span></li>`)}</ul>` : ''}
${p.clusters.length ? html`<h3>Clusters</h3><ul class="plan-list">${p.clusters.map((c) => html`<li>${clusterLine(c)} <span class="plan-source">${SOURCE_LABEL(c.source)}</span></li>`)}</ul>` : ''}
${p.storage ? html`<h3>Object storage</h3><p>Credentials for this server <span class="plan-source">${SOURCE_LABEL(p.storage.source)}</span></p>` : ''}`;
}

export function renderSpawnForm(model: SpawnFormModel): SafeHtml {
  const { form, values, errors } = model;
  const errorList = Object.entries(errors);
  const selectedImage = form.images.find((i) => i.name === values.image);
  const selectedSize = form.sizes.find((s) => s.name === values.size);
  const selectedProfile = form.profiles.find((p) => p.profile.slug === values.profile);
  const offersProfiles = selectedImage ? form.profiles.some((p) => p.images.includes(selectedImage.name)) : form.profiles.length > 0;
  const search = form.images.length > SEARCH_THRESHOLD;
  const envRows = [...values.env, ...Array.from({ length: EMPTY_ENV_ROWS }, () => ({ name: '', value: '' }))];
  const rowErrors = envRowErrors(values, errors);
  return html`<form method="post" action="${model.action}" id="spawn-form" class="spawn-form" novalidate data-user="${model.user}" data-server="${model.server}">
<input type="hidden" name="_xsrf" value="${model.xsrf}">
<input type="hidden" name="${FORM_MARKER}" value="1">
<div class="page-header">
  <div><h1>${model.heading}</h1><p class="muted">Pick an image and a size. Your choices are remembered for the next start.</p></div>
</div>
${model.notes}
${errorList.length
    ? html`<div class="notice danger error-summary" role="alert" tabindex="-1" id="error-summary">
  <h2>${errorList.length === 1 ? 'One thing needs fixing' : `${errorList.length} things need fixing`}</h2>
  <ul>${errorList.map(([field, message]) => html`<li><a href="#${fieldAnchor(field, model)}">${fieldLabel(field, model)}: ${message}</a></li>`)}</ul>
</div>`
    : ''}
${model.warnings.length
    ? html`<div class="notice warning" role="status" id="spawn-warnings"><h2>Your last settings changed</h2><ul class="plain">${model.warnings.map((w) => html`<li>${w}</li>`)}</ul></div>`
    : ''}
<div class="spawn-layout">
<div class="spawn-main">
  <fieldset class="group" id="image-group" aria-describedby="image-error">
    <legend><span class="group-title">Image</span><span class="group-hint">What your server runs: the software that is ready to import.</span></legend>
    ${errorSlot('image', 'image-error', errors.image)}
    ${search
    ? html`<div class="image-search" data-role="image-search" hidden>
      <label for="image-filter" class="sr-only">Search images</label>
      <input type="search" id="image-filter" placeholder="Search ${form.images.length} images by name or contents" autocomplete="off" spellcheck="false" aria-controls="image-cards" aria-describedby="image-filter-count">
      <span class="muted small" id="image-filter-count" aria-live="polite" data-role="image-count"></span>
    </div>`
    : ''}
    <div class="choice-grid image-grid" id="image-cards">
      ${form.images.map((image) => imageCard(image, model))}
    </div>
    <p class="empty-note" data-role="no-images" hidden>No image matches your search.</p>
  </fieldset>

  ${form.sizes.length
    ? html`<fieldset class="group" id="size-group" aria-describedby="size-error">
    <legend><span class="group-title">Size</span><span class="group-hint">Processor and memory for your server. Larger sizes may take longer to start.</span></legend>
    ${errorSlot('size', 'size-error', errors.size)}
    <div class="choice-grid size-grid">
      ${form.sizes.map((size) => sizeCard(size, model))}
    </div>
  </fieldset>`
    : ''}

  ${clusterFieldset(form.clusters, Object.fromEntries(form.images.map((i) => [i.name, i.display_name])), values.image, values.cluster, errors)}

  ${form.profiles.length
    ? html`<fieldset class="group" id="profile-group" aria-describedby="profile-error" data-role="profiles"${offersProfiles ? '' : html` data-none`}>
    <legend><span class="group-title">Profile</span><span class="group-hint">Extra setup for your work, with its own options.</span></legend>
    ${errorSlot('profile', 'profile-error', errors.profile)}
    <p class="hint nojs-only"${offersProfiles ? html` hidden` : ''}>${selectedImage?.display_name ?? 'This image'} has no profiles to choose from.</p>
    <div class="profile-list">
      ${form.profiles.map((entry) => profileItem(entry, model))}
    </div>
  </fieldset>`
    : ''}

  <fieldset class="group" id="env-group">
    <legend><span class="group-title">Your environment variables</span><span class="group-hint">Added to your server’s environment. Names use letters, digits and “_”; variables set by your administrator cannot be replaced.</span></legend>
    <div class="env-head" aria-hidden="true" data-role="env-head"><span>Name</span><span></span><span>Value</span><span></span></div>
    <div class="env-rows" data-role="env-rows" data-next-index="${envRows.length}">
      ${envRows.map((row, i) => envRow(row, i, rowErrors[i]))}
    </div>
    <p class="muted small env-empty" data-role="env-empty" hidden>No variables of your own.</p>
    <button type="button" class="sm" data-action="add-env" hidden><span aria-hidden="true">+</span> Add a variable</button>
  </fieldset>
</div>

<aside class="spawn-aside" aria-labelledby="summary-title">
  <div class="card summary-card">
    <h2 id="summary-title">Your server</h2>
    <dl class="summary-list">
      <div><dt>Image</dt><dd data-summary="image">${selectedImage?.display_name ?? '—'}</dd></div>
      ${form.sizes.length ? html`<div><dt>Size</dt><dd data-summary="size">${selectedSize ? html`${selectedSize.display_name} <span class="muted">${resourcesLine(selectedSize)}</span>` : '—'}</dd></div>` : ''}
      ${form.profiles.length ? html`<div data-summary-row="profile"${offersProfiles ? '' : html` hidden`}><dt>Profile</dt><dd data-summary="profile">${selectedProfile?.profile.display_name ?? '—'}</dd></div>` : ''}
    </dl>
    <div class="summary-actions">
      <button class="primary block" id="start" data-start>Start server</button>
      <a class="button link" href="${model.cancelHref}">Cancel</a>
    </div>
    <details class="review" id="review">
      <summary>Review what will start</summary>
      <div class="review-body" id="review-body" data-role="plan" aria-busy="false"${model.plan ? html` data-has-plan` : ''}>
        ${model.plan ? renderPlan(model.plan) : html`<p class="muted">Fix the marked fields to see what will start.</p>`}
      </div>
    </details>
  </div>
</aside>
<div class="start-bar">
  <p class="start-bar-summary" data-summary="bar">${[selectedImage?.display_name, selectedSize?.display_name].filter(Boolean).join(' · ')}</p>
  <button class="primary" data-start>Start server</button>
</div>
</div>
</form>`;
}
