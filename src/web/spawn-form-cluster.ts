// The spawn form's cluster card: workers, cores and memory per worker for the cluster the chosen image
// starts, each a number field (a slider beside it with JavaScript) showing its value and the limit the
// person's quota leaves. The fields are the user_options keys themselves (cluster_workers, …), so
// the form and the REST API say the same thing.
import { html, type SafeHtml } from './html.js';
import type { ClusterSizing } from '../profiles/plan.js';
import { CLUSTER_BOUNDS, describeMemory } from '../profiles/cluster-choices.js';

const GiB = 1024 ** 3;

/** What the cluster fields show, as typed (text, so a refused value is shown again as it was). */
export interface ClusterValues {
  workers: string;
  worker_cores: string;
  /** GiB. */
  worker_memory: string;
}

export function clusterValues(sizing: ClusterSizing): ClusterValues {
  return { workers: String(sizing.workers), worker_cores: String(sizing.worker_cores), worker_memory: String(Number((sizing.worker_memory / GiB).toFixed(2))) };
}

const KIND_NAME: Record<string, string> = { spark: 'Spark', dask: 'Dask' };

/** "1 of at most 4 workers", as the page script writes it too. */
function limitLine(value: string, max: number, unit: string): string {
  return `${value} of at most ${max} ${unit}`;
}

interface Control {
  field: 'cluster_workers' | 'cluster_worker_cores' | 'cluster_worker_memory';
  key: keyof ClusterValues;
  label: string;
  unit: string;
  min: number;
  step: number;
  max: number;
}

function control(c: Control, value: string, error: string | undefined): SafeHtml {
  const inputId = `cluster-${c.key.replace('_', '-')}`;
  const describedBy = `${inputId}-limit ${inputId}-error`;
  return html`<div class="field cluster-control" data-cluster-control="${c.key}">
  <label for="${inputId}">${c.label}</label>
  <div class="slider-row">
    <input type="range" id="${inputId}-range" min="${c.min}" max="${c.max}" step="${c.step}" value="${value}" data-range-for="${inputId}" aria-hidden="true" tabindex="-1" hidden>
    <input type="number" id="${inputId}" name="${c.field}" min="${c.min}" max="${c.max}" step="${c.step}" value="${value}" inputmode="decimal" data-unit="${c.unit}" aria-describedby="${describedBy}"${error ? html` aria-invalid="true"` : ''}>
  </div>
  <p class="hint" id="${inputId}-limit" data-limit="${c.key}">${limitLine(value, c.max, c.unit)}</p>
  <p class="field-error" id="${inputId}-error" data-error-for="${c.field}"${error ? '' : html` hidden`}>${error ?? ''}</p>
</div>`;
}

/** The quota in a sentence: "at most 4 workers, 6 cores and 12 GiB across all your clusters". */
function quotaLine(sizing: ClusterSizing): string {
  const q = sizing.quota;
  const parts = [
    q.max_workers !== undefined ? `${q.max_workers} workers` : '',
    q.max_cores !== undefined ? `${q.max_cores} cores` : '',
    q.max_memory !== undefined ? describeMemory(q.max_memory) : '',
  ].filter(Boolean);
  return parts.length ? `Your quota: at most ${parts.join(', ')} across all your clusters at once (the ${sizing.kind === 'spark' ? 'master' : 'scheduler'} counts too).` : 'Your clusters have no quota.';
}

/**
 * The card for the chosen image's cluster; `sizings` has every image's default cluster so the page
 * script can switch with the image. Without JavaScript the card is always there (the image may be
 * changed on the same page) and says which images it applies to.
 */
export function clusterFieldset(sizings: Record<string, ClusterSizing>, imageNames: Record<string, string>, image: string, values: ClusterValues | null, errors: Record<string, string | undefined>): SafeHtml {
  const images = Object.keys(sizings);
  if (images.length === 0) return html``;
  const sizing = sizings[image] ?? sizings[images[0]!]!;
  const shown = values ?? clusterValues(sizing);
  const kind = KIND_NAME[sizing.kind] ?? sizing.kind;
  const controls: Control[] = [
    { field: 'cluster_workers', key: 'workers', label: 'Workers', unit: 'workers', min: CLUSTER_BOUNDS.workers.min, step: 1, max: sizing.max.workers },
    { field: 'cluster_worker_cores', key: 'worker_cores', label: 'Cores per worker', unit: 'cores per worker', min: CLUSTER_BOUNDS.worker_cores.min, step: 1, max: sizing.max.worker_cores },
    { field: 'cluster_worker_memory', key: 'worker_memory', label: 'Memory per worker (GiB)', unit: 'GiB per worker', min: CLUSTER_BOUNDS.worker_memory.min / GiB, step: 0.5, max: sizing.max.worker_memory / GiB },
  ];
  const data = JSON.stringify(Object.fromEntries(images.map((name) => [name, { ...sizings[name], values: clusterValues(sizings[name]!) }])));
  return html`<fieldset class="group" id="cluster-group" data-role="cluster" data-sizings="${data}" data-image="${image}"${sizings[image] ? '' : html` data-none`}>
    <legend><span class="group-title">Cluster</span><span class="group-hint">A private <span data-cluster-kind>${kind}</span> cluster starts with your server and stops with it.</span></legend>
    <p class="hint nojs-only">With ${images.map((n) => imageNames[n] ?? n).join(' and ')}; other images start no cluster.</p>
    <div class="card cluster-card">
      <div class="cluster-controls">
        ${controls.map((c) => control(c, shown[c.key], errors[c.field]))}
      </div>
      <p class="hint cluster-quota" data-role="cluster-quota">${quotaLine(sizing)}</p>
    </div>
  </fieldset>`;
}
