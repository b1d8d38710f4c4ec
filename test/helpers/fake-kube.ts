/**
 * A fake Kubernetes API server for the Kubernetes cluster backends' tests: node:http on 127.0.0.1,
 * answering the calls src/clusters/kubernetes/client.ts makes the way the real one does:
 *
 *   POST   .../namespaces/<ns>/<plural>            201; 409 AlreadyExists; 422 Invalid; 400 unknown field (fieldValidation=Strict)
 *   GET    .../namespaces/<ns>/<plural>[?labelSelector=a=b,c!=d,e,!f]   a <Kind>List with the collection's resourceVersion
 *   GET    .../namespaces/<ns>/<plural>/<name>     200; 404 NotFound
 *   PATCH  .../<name>[/status]  application/merge-patch+json only (415 otherwise); with a status
 *                                subresource, the main resource ignores status and /status everything else
 *   DELETE .../<name>                               200; 404; the garbage collector then deletes dependents
 *                                                    (ownerReferences by uid), at once instead of soon
 *   401 without the bearer token. Every object gets uid, resourceVersion (one counter, as etcd's
 *   revision), creationTimestamp; Secrets' stringData is folded into base64 data.
 *
 * VALIDATION, on every create and patch (and on what tests put in to play the operators): core kinds
 * against the Kubernetes v1.33 API types as strict JSON Schema (`kubernetes-validate`'s
 * _definitions.json), custom resources against their CRD's openAPIV3Schema (DaskCluster from
 * dask-kubernetes, SparkConnect from the Spark operator) read as the API server reads a structural
 * schema: unknown fields are errors under fieldValidation=Strict unless x-kubernetes-preserve-unknown-fields,
 * x-kubernetes-int-or-string means integer or string; the metadata of every object against ObjectMeta
 * (so ownerReferences need apiVersion, kind, name and uid), plus the name and label syntax rules the
 * API server checks in code. The schemas come from scripts/setup.sh --test (.tools/k8s-schemas).
 *
 * Not here: watches (the backends poll), server-side apply, defaulting, finalizers' controllers.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../../src/host/repo-root.js';

export const SCHEMA_DIR = join(repoRoot(), '.tools', 'k8s-schemas');
const DEFS_ID = 'https://kubernetes.io/api/_definitions.json';

export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { uid: string; kind: string; name: string; apiVersion: string }[];
    deletionTimestamp?: string;
    finalizers?: string[];
    [k: string]: unknown;
  };
  [field: string]: unknown;
};

interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  validate: ValidateFunction;
  statusSubresource: boolean;
  /** Service names are DNS-1035 labels; most others DNS-1123 subdomains. */
  nameRule: 'label1035' | 'subdomain';
}

const CORE: { group: string; version: string; plural: string; kind: string; def: string; nameRule?: 'label1035' }[] = [
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', def: 'io.k8s.api.core.v1.Pod' },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', def: 'io.k8s.api.core.v1.Service', nameRule: 'label1035' },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', def: 'io.k8s.api.core.v1.Secret' },
  { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', def: 'io.k8s.api.core.v1.ConfigMap' },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', def: 'io.k8s.api.apps.v1.Deployment' },
  { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy', def: 'io.k8s.api.networking.v1.NetworkPolicy' },
  { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', def: 'io.k8s.api.apps.v1.StatefulSet' },
];

const CRD_FILES = ['crds/daskclusters.yaml', 'crds/sparkconnects.yaml'];

type Schema = Record<string, unknown>;

/**
 * A CRD's openAPIV3Schema as plain JSON Schema with the API server's reading of it: objects accept no
 * unknown fields unless preserve-unknown-fields; int-or-string; the root's metadata is left to ObjectMeta.
 */
export function structuralToJsonSchema(schema: Schema, root = true): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-') || key === 'description' || key === 'format') continue;
    out[key] = value;
  }
  if (schema['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  const props = schema.properties as Record<string, Schema> | undefined;
  if (props) {
    out.properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, root && k === 'metadata' ? {} : structuralToJsonSchema(v, false)]));
  }
  if (root) {
    // apiVersion, kind and metadata are always allowed at the root, whether the CRD lists them or not
    out.properties = { ...(out.properties as Record<string, Schema> | undefined), apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: {} };
  }
  if (schema.items && typeof schema.items === 'object') out.items = structuralToJsonSchema(schema.items as Schema, false);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') out.additionalProperties = structuralToJsonSchema(schema.additionalProperties as Schema, false);
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
    if (Array.isArray(schema[k])) out[k] = (schema[k] as Schema[]).map((s) => structuralToJsonSchema(s, false));
  }
  if (schema.type === 'object' && schema.additionalProperties === undefined && schema['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  return out;
}

function pathOf(instancePath: string): string {
  return instancePath.split('/').slice(1).map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg.replace(/~1/g, '/').replace(/~0/g, '~')}`)).join('').replace(/^\./, '');
}

/** Problems as the API server words them: unknown fields (400 under Strict) apart from invalid values (422). */
function describe(errors: ErrorObject[] | null | undefined, prefix = ''): { unknown: string[]; invalid: string[] } {
  const unknown = new Set<string>();
  const invalid = new Set<string>();
  const join = (p: string) => [prefix, p].filter(Boolean).join('.');
  for (const e of errors ?? []) {
    const at = join(pathOf(e.instancePath));
    if (e.keyword === 'additionalProperties') unknown.add(`unknown field "${[at, (e.params as { additionalProperty: string }).additionalProperty].filter(Boolean).join('.')}"`);
    else if (e.keyword === 'required') invalid.add(`${join([pathOf(e.instancePath), (e.params as { missingProperty: string }).missingProperty].filter(Boolean).join('.'))}: Required value`);
    else if (e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if') invalid.add(`${at || '<root>'}: Invalid value: ${e.message ?? e.keyword}`);
  }
  return { unknown: [...unknown], invalid: [...invalid] };
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** What the API server checks in code about names and labels (ValidateObjectMeta). */
function metaProblems(meta: Obj['metadata'], rule: ResourceType['nameRule']): string[] {
  const out: string[] = [];
  const name = meta.name;
  if (rule === 'label1035' && !(LABEL_1035.test(name) && name.length <= 63)) out.push(`metadata.name: Invalid value: "${name}": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (at most 63)`);
  if (rule === 'subdomain' && !(SUBDOMAIN.test(name) && name.length <= 253)) out.push(`metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`);
  for (const [key, value] of Object.entries(meta.labels ?? {})) {
    const slash = key.lastIndexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : '';
    const base = slash >= 0 ? key.slice(slash + 1) : key;
    if ((prefix && !(SUBDOMAIN.test(prefix) && prefix.length <= 253)) || !(LABEL_NAME.test(base) && base.length <= 63)) out.push(`metadata.labels: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.' (at most 63)`);
    if (value !== '' && !(LABEL_NAME.test(value) && value.length <= 63)) out.push(`metadata.labels: Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)`);
  }
  return out;
}

/** RFC 7386. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

class HttpError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly causes: string[] = []) {
    super(message);
  }
}

function matches(labels: Record<string, string>, selector: string): boolean {
  for (const raw of selector.split(',').map((s) => s.trim()).filter(Boolean)) {
    let m: RegExpExecArray | null;
    if ((m = /^([^!=]+)!=(.*)$/.exec(raw))) {
      if (labels[m[1]!.trim()] === m[2]!.trim()) return false;
    } else if ((m = /^([^!=]+)==?(.*)$/.exec(raw))) {
      if (labels[m[1]!.trim()] !== m[2]!.trim()) return false;
    } else if (raw.startsWith('!')) {
      if (raw.slice(1) in labels) return false;
    } else if (!(raw in labels)) return false;
  }
  return true;
}

export interface FakeKubeOptions {
  /** Bearer token the server requires. Default: a random one (see `.token`). */
  token?: string;
  schemaDir?: string;
}

export class FakeKube {
  readonly token: string;
  /** Every request, `METHOD path?query`, in order. */
  readonly requests: string[] = [];
  private server: Server | null = null;
  private readonly ajv: Ajv2020;
  private readonly types = new Map<string, ResourceType>();
  private readonly objects = new Map<string, Obj>();
  private readonly metaValidator: ValidateFunction;
  private revision = 1000;
  private port = 0;

  constructor(options: FakeKubeOptions = {}) {
    this.token = options.token ?? randomUUID();
    const dir = options.schemaDir ?? SCHEMA_DIR;
    const defsPath = join(dir, 'kubernetes', '_definitions.json');
    if (!existsSync(defsPath) || !CRD_FILES.every((f) => existsSync(join(dir, f)))) {
      throw new Error(`FakeKube: the Kubernetes schemas are missing in ${dir}; fetch them with: bash scripts/setup.sh --test`);
    }
    // allErrors: report every problem at once, as the API server does; formats are not the point here
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    this.ajv.addSchema(JSON.parse(readFileSync(defsPath, 'utf8')) as Schema);
    this.metaValidator = this.def('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    for (const c of CORE) {
      this.types.set(this.key(c.group, c.plural), { ...c, validate: this.def(c.def), statusSubresource: c.kind !== 'Secret' && c.kind !== 'ConfigMap', nameRule: c.nameRule ?? 'subdomain' });
    }
    for (const file of CRD_FILES) {
      const crd = parseYaml(readFileSync(join(dir, file), 'utf8')) as { spec: { group: string; names: { plural: string; kind: string }; versions: { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: Schema }; subresources?: { status?: unknown } }[] } };
      const version = crd.spec.versions.find((v) => v.storage) ?? crd.spec.versions[0]!;
      this.types.set(this.key(crd.spec.group, crd.spec.names.plural), {
        group: crd.spec.group, version: version.name, plural: crd.spec.names.plural, kind: crd.spec.names.kind,
        validate: this.ajv.compile(structuralToJsonSchema(version.schema.openAPIV3Schema)),
        statusSubresource: Boolean(version.subresources?.status), nameRule: 'subdomain',
      });
    }
  }

  /** A validator for one of the Kubernetes API types (`io.k8s.api.core.v1.PodTemplateSpec`). */
  def(name: string): ValidateFunction {
    const fn = this.ajv.getSchema(`${DEFS_ID}#/$defs/${name}`);
    if (!fn) throw new Error(`no Kubernetes type ${name}`);
    return fn;
  }

  /** Problems of a value against a Kubernetes API type: for parts a CRD leaves schemaless. */
  check(defName: string, value: unknown, prefix = ''): string[] {
    const fn = this.def(defName);
    if (fn(value)) return [];
    const d = describe(fn.errors, prefix);
    return [...d.unknown, ...d.invalid];
  }

  private key(group: string, plural: string): string {
    return `${group}/${plural}`;
  }

  private objectKey(t: ResourceType, ns: string, name: string): string {
    return `${t.group}/${t.plural}/${ns}/${name}`;
  }

  private type(plural: string): ResourceType {
    for (const t of this.types.values()) if (t.plural === plural) return t;
    throw new Error(`FakeKube: unknown resource ${plural}`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // --- what tests use to look and to play the operators ------------------------------------------

  get(plural: string, ns: string, name: string): Obj | undefined {
    const o = this.objects.get(this.objectKey(this.type(plural), ns, name));
    return o ? structuredClone(o) : undefined;
  }

  list(plural: string, ns?: string, selector = ''): Obj[] {
    const t = this.type(plural);
    return [...this.objects.entries()]
      .filter(([k, o]) => k.startsWith(`${t.group}/${t.plural}/`) && (ns === undefined || o.metadata.namespace === ns) && matches(o.metadata.labels ?? {}, selector))
      .map(([, o]) => structuredClone(o));
  }

  /** Everything stored, as `<plural>/<name>`. */
  names(): string[] {
    return [...this.objects.values()].map((o) => `${this.typeOfObject(o).plural}/${o.metadata.name}`).sort();
  }

  /** Create an object as a controller would (validated like any create). */
  put(object: Obj): Obj {
    const t = this.typeOfObject(object);
    return this.create(t, object.metadata.namespace ?? 'default', structuredClone(object), { keepStatus: true });
  }

  /** Set (merge) an object's status, as its operator or kubelet would; validated. */
  setStatus(plural: string, ns: string, name: string, status: Record<string, unknown>): Obj {
    const t = this.type(plural);
    const current = this.objects.get(this.objectKey(t, ns, name));
    if (!current) throw new Error(`FakeKube: no ${plural}/${name}`);
    const next = { ...structuredClone(current), status: mergePatch(current.status, status) } as Obj;
    this.validate(t, next, true);
    return this.store(t, next);
  }

  /** Delete as a client would (with garbage collection); false when it was not there. */
  remove(plural: string, ns: string, name: string): boolean {
    try {
      this.deleteObject(this.type(plural), ns, name);
      return true;
    } catch {
      return false;
    }
  }

  // --- the API -------------------------------------------------------------------------------

  private typeOfObject(o: Obj): ResourceType {
    const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') as [string, string] : ['', o.apiVersion];
    for (const t of this.types.values()) if (t.group === group && t.version === version && t.kind === o.kind) return t;
    throw new Error(`FakeKube: unknown kind ${o.apiVersion} ${o.kind}`);
  }

  private validate(t: ResourceType, o: Obj, strict: boolean): void {
    const problems = describe(t.validate(o) ? [] : t.validate.errors);
    const meta = describe(this.metaValidator(o.metadata) ? [] : this.metaValidator.errors, 'metadata');
    const unknown = [...problems.unknown, ...meta.unknown];
    const invalid = [...problems.invalid, ...meta.invalid, ...metaProblems(o.metadata, t.nameRule)];
    const what = `${t.kind}${t.group ? `.${t.group}` : ''} "${o.metadata.name}"`;
    if (invalid.length) throw new HttpError(422, 'Invalid', `${what} is invalid: ${invalid.join(', ')}`, invalid);
    // without Strict the real server drops unknown fields with a warning; the backends always ask for Strict
    if (strict && unknown.length) throw new HttpError(400, 'BadRequest', `${what}: strict decoding error: ${unknown.join(', ')}`, unknown);
  }

  private store(t: ResourceType, o: Obj): Obj {
    o.metadata.resourceVersion = String(++this.revision);
    this.objects.set(this.objectKey(t, o.metadata.namespace!, o.metadata.name), o);
    return structuredClone(o);
  }

  private create(t: ResourceType, ns: string, o: Obj, opts: { keepStatus?: boolean; strict?: boolean } = {}): Obj {
    if (!o || typeof o !== 'object' || !o.metadata || typeof o.metadata !== 'object') throw new HttpError(400, 'BadRequest', 'the object has no metadata');
    if (o.metadata.namespace && o.metadata.namespace !== ns) throw new HttpError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    if (!o.metadata.name) throw new HttpError(422, 'Invalid', `${t.kind} is invalid: metadata.name: Required value: name or generateName is required`);
    const wanted = t.group ? `${t.group}/${t.version}` : t.version;
    if (o.apiVersion !== wanted || o.kind !== t.kind) throw new HttpError(400, 'BadRequest', `the API version in the data (${o.apiVersion}) or kind (${o.kind}) does not match the expected ${wanted} ${t.kind}`);
    if (this.objects.has(this.objectKey(t, ns, o.metadata.name))) {
      throw new HttpError(409, 'AlreadyExists', `${t.plural}${t.group ? `.${t.group}` : ''} "${o.metadata.name}" already exists`);
    }
    if (t.statusSubresource && !opts.keepStatus) delete o.status;
    if (t.kind === 'Secret' && o.stringData && typeof o.stringData === 'object') {
      const data = { ...((o.data as Record<string, string> | undefined) ?? {}) };
      for (const [k, v] of Object.entries(o.stringData as Record<string, string>)) data[k] = Buffer.from(String(v)).toString('base64');
      o.data = data;
      delete o.stringData;
    }
    this.validate(t, o, opts.strict ?? true);
    o.metadata = { ...o.metadata, namespace: ns, uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    return this.store(t, o);
  }

  private patch(t: ResourceType, ns: string, name: string, patch: unknown, sub: string | undefined, strict: boolean): Obj {
    const current = this.objects.get(this.objectKey(t, ns, name));
    if (!current) throw new HttpError(404, 'NotFound', `${t.plural}${t.group ? `.${t.group}` : ''} "${name}" not found`);
    let next = mergePatch(structuredClone(current), patch) as Obj;
    if (t.statusSubresource) {
      // the main resource never changes status, /status never changes anything else
      next = sub === 'status' ? { ...structuredClone(current), status: next.status } : { ...next, status: structuredClone(current.status) };
      if (next.status === undefined) delete next.status;
    }
    next.metadata = { ...next.metadata, name, namespace: ns, uid: current.metadata.uid!, creationTimestamp: current.metadata.creationTimestamp };
    this.validate(t, next, strict);
    return this.store(t, next);
  }

  private deleteObject(t: ResourceType, ns: string, name: string): Obj {
    const k = this.objectKey(t, ns, name);
    const current = this.objects.get(k);
    if (!current) throw new HttpError(404, 'NotFound', `${t.plural}${t.group ? `.${t.group}` : ''} "${name}" not found`);
    if (current.metadata.finalizers?.length) {
      current.metadata.deletionTimestamp ??= new Date().toISOString();
      return this.store(t, current);
    }
    this.objects.delete(k);
    this.collectGarbage(current.metadata.uid!);
    return current;
  }

  /** Dependents of a deleted owner go too (background propagation, done at once). */
  private collectGarbage(ownerUid: string): void {
    for (const o of [...this.objects.values()]) {
      if (o.metadata.ownerReferences?.some((r) => r.uid === ownerUid)) {
        try {
          this.deleteObject(this.typeOfObject(o), o.metadata.namespace!, o.metadata.name);
        } catch {
          // already gone through another owner
        }
      }
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const fail = (e: HttpError) => send(e.code, {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: e.reason, code: e.code,
      ...(e.causes.length ? { details: { causes: e.causes.map((message) => ({ message })) } } : {}),
    });
    try {
      if (req.headers.authorization !== `Bearer ${this.token}`) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(url.pathname);
      if (!m) throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
      const [, coreVersion, group = '', groupVersion, ns, plural, name, sub] = m as unknown as [string, string | undefined, string | undefined, string | undefined, string, string, string | undefined, string | undefined];
      const t = this.types.get(this.key(group, plural));
      if (!t || t.version !== (coreVersion ?? groupVersion) || (sub !== undefined && sub !== 'status')) throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
      if (sub === 'status' && !t.statusSubresource) throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
      const body = (): unknown => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new HttpError(400, 'BadRequest', 'the request body is not JSON');
        }
      };
      const strict = url.searchParams.get('fieldValidation') === 'Strict';
      if (req.method === 'GET' && name === undefined) {
        const items = this.list(plural, ns, url.searchParams.get('labelSelector') ?? '').map((o) => {
          const { apiVersion: _a, kind: _k, ...rest } = o;
          return rest;
        });
        return send(200, { apiVersion: t.group ? `${t.group}/${t.version}` : t.version, kind: `${t.kind}List`, metadata: { resourceVersion: String(this.revision) }, items });
      }
      if (req.method === 'POST' && name === undefined) return send(201, this.create(t, ns, body() as Obj, { strict }));
      if (name === undefined) throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not allowed on a collection here`);
      if (req.method === 'GET') {
        const o = this.objects.get(this.objectKey(t, ns, name));
        if (!o) throw new HttpError(404, 'NotFound', `${t.plural}${t.group ? `.${t.group}` : ''} "${name}" not found`);
        return send(200, o);
      }
      if (req.method === 'PATCH') {
        if (req.headers['content-type'] !== 'application/merge-patch+json') throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json`);
        return send(200, this.patch(t, ns, name, body(), sub, strict));
      }
      if (req.method === 'DELETE') return send(200, this.deleteObject(t, ns, name));
      throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not allowed`);
    } catch (error) {
      if (error instanceof HttpError) return fail(error);
      return fail(new HttpError(500, 'InternalError', error instanceof Error ? error.message : String(error)));
    }
  }
}

export async function startFakeKube(options: FakeKubeOptions = {}): Promise<FakeKube> {
  return new FakeKube(options).start();
}

// ---------------------------------------------------------------------------------------------------
// Stand-ins for what the Dask and Spark operators and the kubelet do with the backends' objects, in the
// fake API server: pods made from the specs the backends wrote (so those specs are validated again, as
// whole Pods, against the Kubernetes schema) and the statuses the operators would report.

/** The namespace the operator stand-ins below work in. */
export const NS = 'hub';

type PodTemplate = { metadata?: { labels?: Record<string, string> }; spec: Record<string, unknown> };

const ready = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };

/** A pod from a template, owned by `owner` (so the garbage collector takes it with its cluster). */
export function makePod(fake: FakeKube, owner: Obj, name: string, template: PodTemplate, extraLabels: Record<string, string>): Obj {
  return fake.put({
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: NS, labels: { ...owner.metadata.labels, ...template.metadata?.labels, ...extraLabels },
      ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid! }],
    },
    spec: structuredClone(template.spec),
  });
}

export function podReady(fake: FakeKube, name: string): void {
  fake.setStatus('pods', NS, name, ready);
}

export function podWaiting(fake: FakeKube, name: string, reason: string, message: string): void {
  fake.setStatus('pods', NS, name, { phase: 'Pending', containerStatuses: [{ name: 'worker', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, message } } }] });
}

/** The Dask operator: the scheduler pod (ready), and `workers` worker pods, the first `readyWorkers` ready. */
export function daskOperator(fake: FakeKube, name: string, workers: number, readyWorkers = workers): void {
  const cluster = fake.get('daskclusters', NS, name)!;
  const spec = cluster.spec as { scheduler: PodTemplate; worker: PodTemplate };
  fake.setStatus('daskclusters', NS, name, { phase: 'Running' });
  if (!fake.get('pods', NS, `${name}-scheduler`)) {
    makePod(fake, cluster, `${name}-scheduler`, spec.scheduler, { 'dask.org/cluster-name': name, 'dask.org/component': 'scheduler' });
    podReady(fake, `${name}-scheduler`);
  }
  daskWorkers(fake, name, workers, readyWorkers);
}

export function daskWorkers(fake: FakeKube, name: string, workers: number, readyWorkers = workers): void {
  const cluster = fake.get('daskclusters', NS, name)!;
  const spec = cluster.spec as { worker: PodTemplate };
  const existing = fake.list('pods', NS, `dask.org/cluster-name=${name},dask.org/component=worker`).map((p) => p.metadata.name).sort();
  for (const pod of existing.slice(workers)) fake.remove('pods', NS, pod);
  for (let i = 0; i < workers; i++) {
    const pod = `${name}-default-worker-${i}`;
    if (!fake.get('pods', NS, pod)) makePod(fake, cluster, pod, spec.worker, { 'dask.org/cluster-name': name, 'dask.org/component': 'worker' });
    if (i < readyWorkers) podReady(fake, pod);
  }
}

/** The Spark operator: the Connect server pod and its executors, and the SparkConnect's status. */
export function sparkConnectOperator(fake: FakeKube, name: string, running: number): void {
  const conn = fake.get('sparkconnects', NS, name)!;
  const spec = conn.spec as { server: { template: PodTemplate }; executor: { template: PodTemplate }; image: string };
  if (!fake.get('pods', NS, `${name}-server`)) {
    const template = structuredClone(spec.server.template);
    (template.spec.containers as { image?: string }[])[0]!.image = spec.image;
    makePod(fake, conn, `${name}-server`, template, { 'spark-role': 'connect-server' });
    podReady(fake, `${name}-server`);
  }
  for (let i = 1; i <= running; i++) {
    const pod = `${name}-exec-${i}`;
    if (fake.get('pods', NS, pod)) continue;
    const template = structuredClone(spec.executor.template);
    (template.spec.containers as { image?: string }[])[0]!.image = spec.image;
    makePod(fake, fake.get('pods', NS, `${name}-server`)!, pod, template, { 'spark-role': 'executor' });
    podReady(fake, pod);
  }
  fake.setStatus('sparkconnects', NS, name, {
    state: 'Ready', executors: { running }, server: { podName: `${name}-server`, serviceName: `${name}-server` },
    conditions: [{ type: 'ServerPodReady', status: 'True', reason: 'ServerPodReady', message: 'Server pod is ready', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
  });
}

/** The Deployment controller and kubelet for the standalone Spark cluster: pods from both Deployments' templates. */
export function standaloneControllers(fake: FakeKube, name: string): void {
  for (const role of ['master', 'worker'] as const) {
    const deployment = fake.get('deployments', NS, `${name}-${role}`);
    if (!deployment) continue;
    const spec = deployment.spec as { replicas: number; template: PodTemplate };
    const existing = fake.list('pods', NS, `refinery.io/cluster-id=${name},refinery.io/role=${role === 'master' ? 'head' : 'worker'}`).map((p) => p.metadata.name).sort();
    for (const pod of existing.slice(spec.replicas)) fake.remove('pods', NS, pod);
    for (let i = 0; i < spec.replicas; i++) {
      const pod = `${name}-${role}-${i}`;
      if (fake.get('pods', NS, pod)) continue;
      makePod(fake, deployment, pod, spec.template, {});
      podReady(fake, pod);
    }
    fake.setStatus('deployments', NS, `${name}-${role}`, { replicas: spec.replicas, readyReplicas: spec.replicas });
  }
}
