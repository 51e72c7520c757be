// Validation of Kubernetes objects against the Kubernetes JSON schemas, as compiled into the
// kubernetes-models packages (generated from the Kubernetes OpenAPI spec, about 1.32; the
// prometheus-operator CRDs for ServiceMonitor), plus the "strict" check those schemas lack:
// the OpenAPI schemas allow unknown fields, so a misspelt `readOnlyRootFilesytem` would pass them.
// The same packages ship TypeScript interfaces, and TypeScript rejects unknown properties in an
// object literal, so each object is also type-checked as a literal of its kind's interface.
import { join } from 'node:path';
import ts from 'typescript';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { REPO } from '../helpers/processes.js';
import type { KObject } from './kustomize.js';

interface Kind {
  validate(object: KObject): void;
  /** Module and interface name for the strict (unknown field) check. */
  types: [module: string, name: string];
}

function kind(Model: new (data: never) => { validate(): void }, types: [string, string]): Kind {
  return { validate: (object) => new Model(object as never).validate(), types };
}

/** Every kind the manifests use; a new kind must be added here deliberately. */
const KINDS: Readonly<Record<string, Kind>> = {
  'v1/Namespace': kind(Namespace, ['kubernetes-models/v1/Namespace', 'INamespace']),
  'v1/ServiceAccount': kind(ServiceAccount, ['kubernetes-models/v1/ServiceAccount', 'IServiceAccount']),
  'v1/ConfigMap': kind(ConfigMap, ['kubernetes-models/v1/ConfigMap', 'IConfigMap']),
  'v1/Service': kind(Service, ['kubernetes-models/v1/Service', 'IService']),
  'apps/v1/DaemonSet': kind(DaemonSet, ['kubernetes-models/apps/v1/DaemonSet', 'IDaemonSet']),
  'apps/v1/Deployment': kind(Deployment, ['kubernetes-models/apps/v1/Deployment', 'IDeployment']),
  'networking.k8s.io/v1/NetworkPolicy': kind(NetworkPolicy, ['kubernetes-models/networking.k8s.io/v1/NetworkPolicy', 'INetworkPolicy']),
  'monitoring.coreos.com/v1/ServiceMonitor': kind(ServiceMonitor, [
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    'IServiceMonitor',
  ]),
};

const label = (o: KObject): string => `${o.kind}/${o.metadata?.name}`;

/** Schema violations, one line per object that has any. */
export function schemaErrors(objects: readonly KObject[]): string[] {
  const errors: string[] = [];
  for (const object of objects) {
    const k = KINDS[`${object.apiVersion}/${object.kind}`];
    if (!k) {
      errors.push(`${label(object)}: no schema registered for ${object.apiVersion} ${object.kind} in test/deploy/k8s-schema.ts`);
      continue;
    }
    try {
      k.validate(object);
    } catch (err) {
      errors.push(`${label(object)}: ${(err as Error).message}`);
    }
  }
  return errors;
}

/** Unknown or mistyped fields, found by type-checking each object as a literal of its interface. */
export function unknownFieldErrors(objects: readonly KObject[]): string[] {
  const known = objects.filter((o) => KINDS[`${o.apiVersion}/${o.kind}`]);
  // The virtual file sits in the repository so that node_modules resolves as for any test file.
  const fileName = join(REPO, 'test/deploy/__strict_check__.ts');
  const source = known
    .map((o, i) => {
      const [module, name] = KINDS[`${o.apiVersion}/${o.kind}`]!.types;
      return `import type { ${name} as T${i} } from '${module}';\nexport const v${i}: T${i} = ${JSON.stringify(o)};`;
    })
    .join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, readFile, fileExists } = host;
  host.fileExists = (f) => f === fileName || fileExists.call(host, f);
  host.readFile = (f) => (f === fileName ? source : readFile.call(host, f));
  host.getSourceFile = (f, language, onError, create) =>
    f === fileName ? ts.createSourceFile(f, source, language, true) : getSourceFile.call(host, f, language, onError, create);
  const program = ts.createProgram([fileName], options, host);
  const file = program.getSourceFile(fileName)!;
  return ts.getPreEmitDiagnostics(program, file).map((d) => {
    const line = d.start === undefined ? -1 : file.getLineAndCharacterOfPosition(d.start).line;
    const object = known[Math.floor(line / 2)];
    return `${object ? label(object) : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}
