// --aggregate-by: which processes share one exported series, and the attributes that series has.
// See docs/metrics.md, "Aggregation modes", for each mode's label set, cardinality and trade-off.
import type { PodIndex } from '../host/kubernetes.js';
import type { ProcessIdentity } from '../host/processes.js';
import type { ProcessAttributes } from './snapshot.js';

export const AGGREGATION_MODES = ['pid', 'executable', 'container', 'pod'] as const;
export type AggregationMode = (typeof AGGREGATION_MODES)[number];

export interface GroupId {
  /** Unique per series; a process's traffic goes to the series of this key. */
  key: string;
  attributes: ProcessAttributes;
}

/**
 * The series a process belongs to in `mode`. Processes outside any container group by executable
 * (without container labels) in the container and pod modes, and containers whose pod is not
 * known (not started by the kubelet, or not listed yet) by container in the pod mode: on a node,
 * host daemons such as the kubelet or containerd are few, stable and worth telling apart.
 */
export function groupOf(mode: AggregationMode, identity: ProcessIdentity, pods?: PodIndex): GroupId {
  const { containerId, name } = identity;
  const pod = containerId === undefined ? undefined : pods?.lookup(containerId);
  const container: ProcessAttributes = containerId === undefined ? {} : { containerId, ...pod };
  switch (mode) {
    case 'pid':
      return { key: `pid:${identity.key}`, attributes: { pid: identity.pid, name, ...container } };
    case 'executable':
      return { key: `exe:${name}:${containerId ?? ''}`, attributes: { name, ...container } };
    case 'pod':
    case 'container':
      if (mode === 'pod' && pod) return { key: `pod:${pod.namespaceName}/${pod.podName}`, attributes: { podName: pod.podName, namespaceName: pod.namespaceName } };
      if (containerId !== undefined) return { key: `container:${containerId}`, attributes: container };
      return { key: `exe:${name}:`, attributes: { name } };
  }
}
