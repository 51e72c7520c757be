// A minimal `kustomize build`, implementing exactly the features deploy/kubernetes and otel-collector use:
// resources (files and kustomization directories), namespace, configMapGenerator (files, with the
// content-hash name suffix and the rewrite of configMap volume references), and inline JSON 6902
// patches (add, remove, replace, test) selected by kind and name. Anything else throws, so a manifest
// that starts using another feature fails here instead of being silently mis-expanded.
// Where `kubectl kustomize` exists, test/deploy/kubernetes.test.ts checks this against it.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

export interface KObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  configMapGenerator?: Array<{ name: string; files: string[] }>;
  patches?: Array<{ target: { kind: string; name: string }; patch: string }>;
}

interface Built {
  objects: KObject[];
  /** generator name -> name with the hash suffix, for reference rewriting in parent kustomizations */
  generated: Map<string, string>;
}

const SUPPORTED_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'configMapGenerator', 'patches']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

/** Expands the kustomization in `dir` into its Kubernetes objects. */
export function kustomizeBuild(dir: string): KObject[] {
  return build(resolve(dir)).objects;
}

function build(dir: string): Built {
  const file = join(dir, 'kustomization.yaml');
  const k = parseYaml(readFileSync(file, 'utf8')) as Kustomization;
  for (const key of Object.keys(k)) {
    if (!SUPPORTED_KEYS.has(key)) throw new Error(`${file}: "${key}" is not implemented by test/deploy/kustomize.ts`);
  }
  const objects: KObject[] = [];
  const generated = new Map<string, string>();
  for (const entry of k.resources ?? []) {
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) {
      const child = build(path);
      objects.push(...child.objects);
      for (const [from, to] of child.generated) generated.set(from, to);
    } else {
      for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
        if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]!.message}`);
        const value = doc.toJS() as KObject | null;
        if (value) objects.push(value);
      }
    }
  }
  for (const generator of k.configMapGenerator ?? []) {
    const extra = Object.keys(generator).filter((key) => key !== 'name' && key !== 'files');
    if (extra.length > 0) throw new Error(`${file}: configMapGenerator.${extra[0]} is not implemented`);
    const data: Record<string, string> = {};
    for (const spec of generator.files) {
      const eq = spec.indexOf('=');
      const [key, path] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [basename(spec), spec];
      data[key] = readFileSync(resolve(dir, path), 'utf8');
    }
    const name = `${generator.name}-${configMapHash(data)}`;
    objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data });
    generated.set(generator.name, name);
  }
  if (k.namespace !== undefined) {
    for (const object of objects) if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = k.namespace;
  }
  for (const { target, patch, ...rest } of k.patches ?? []) {
    if (Object.keys(rest).length > 0 || Object.keys(target).some((key) => key !== 'kind' && key !== 'name')) {
      throw new Error(`${file}: only patches with an inline JSON 6902 patch and a kind/name target are implemented`);
    }
    const matches = objects.filter((o) => o.kind === target.kind && o.metadata.name === target.name);
    if (matches.length === 0) throw new Error(`${file}: patch target ${target.kind}/${target.name} not found`);
    const ops = parseYaml(patch) as JsonPatchOp[];
    for (const object of matches) for (const op of ops) applyOp(object, op);
  }
  for (const object of objects) rewriteConfigMapRefs(object, generated);
  return { objects, generated };
}

/**
 * kustomize's ConfigMap name suffix (api/hasher/hasher.go): sha256 of Go's json.Marshal of
 * {data, kind, name}, first 10 hex digits with 0,1,3,a,e mapped to g,h,k,m,t. Its lookup of
 * "metadata/name" as one path segment finds nothing, so the name hashed is always "".
 */
export function configMapHash(data: Record<string, string>): string {
  const sorted = Object.fromEntries(Object.keys(data).sort().map((key) => [key, data[key]]));
  // Go's encoder escapes <, > and & (and U+2028/9); JSON.stringify does not.
  const json = JSON.stringify({ data: sorted, kind: 'ConfigMap', name: '' }).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  const hex = createHash('sha256').update(json).digest('hex').slice(0, 10);
  return hex.replace(/[013ae]/g, (c) => ({ '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' })[c]!);
}

function rewriteConfigMapRefs(object: KObject, generated: ReadonlyMap<string, string>): void {
  const volumes = (object as { spec?: { template?: { spec?: { volumes?: Array<{ configMap?: { name: string } }> } } } }).spec
    ?.template?.spec?.volumes;
  for (const volume of volumes ?? []) {
    const to = volume.configMap && generated.get(volume.configMap.name);
    if (to) volume.configMap!.name = to;
  }
}

interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'test';
  path: string;
  value?: unknown;
}

/** RFC 6902 add/remove/replace/test on one object, with RFC 6901 pointers. */
function applyOp(root: object, { op, path, value }: JsonPatchOp): void {
  const tokens = path.split('/').slice(1).map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
  const last = tokens.pop();
  if (last === undefined) throw new Error(`patch path ${path}: the whole document cannot be patched here`);
  let parent: unknown = root;
  for (const token of tokens) {
    parent = (parent as Record<string, unknown>)[token];
    if (parent === undefined || parent === null) throw new Error(`patch path ${path}: ${token} does not exist`);
  }
  const list = Array.isArray(parent) ? (parent as unknown[]) : undefined;
  const record = parent as Record<string, unknown>;
  const index = list ? (last === '-' ? list.length : Number(last)) : -1;
  if (list && (!Number.isInteger(index) || index < 0 || index > list.length)) throw new Error(`patch path ${path}: bad index`);
  const exists = list ? index < list.length : Object.hasOwn(record, last);
  const current = list ? list[index] : record[last];
  switch (op) {
    case 'test':
      if (JSON.stringify(current) !== JSON.stringify(value)) {
        throw new Error(`patch test ${path} failed: ${JSON.stringify(current)} is not ${JSON.stringify(value)}`);
      }
      return;
    case 'remove':
      if (!exists) throw new Error(`patch remove ${path}: nothing there`);
      if (list) list.splice(index, 1);
      else delete record[last];
      return;
    case 'replace':
      if (!exists) throw new Error(`patch replace ${path}: nothing there`);
      if (list) list[index] = structuredClone(value);
      else record[last] = structuredClone(value);
      return;
    case 'add':
      if (list) list.splice(index, 0, structuredClone(value));
      else record[last] = structuredClone(value);
      return;
    default:
      throw new Error(`patch op ${String(op)} is not implemented`);
  }
}
