// parseContainerLogName, the kubelet's /var/log/containers names, under random names and mutated
// real ones: it never throws, takes bounded time, and yields only DNS names and a 64-hex id that
// are the parts of the name it was given.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseContainerLogName } from '../../src/host/kubernetes.js';
import { check, inputs, params, timed, timeoutFor } from './fuzz.js';

const ID = '0123456789abcdef'.repeat(4);
/** Names as the kubelet makes them, from the shapes the unit tests use. */
const names = [
  `web-5d8f7c9b6-x2x9z_default_nginx-${ID}.log`,
  `coredns-abc.def_kube-system_coredns-${'f'.repeat(64)}.log`,
  `a_b_c-${ID}.log`,
  `netproc-agent-7xk2p_monitoring_agent-${'9'.repeat(64)}.log`,
];
const TOKENS = ['_', '-', '.', '.log', ID, 'web', 'default', 'kube-system', 'nginx', 'A', '0', '..', '--', '__'];
const DNS_LABEL = /^[a-z0-9][a-z0-9-]*$/;

describe('parseContainerLogName, fuzzed', () => {
  it(
    'never throws, stays within its time bound, and yields DNS names and a container id that make up the name',
    () => {
      fc.assert(
        fc.property(inputs(names, TOKENS), (name) => {
          const result = timed(name, () => parseContainerLogName(name));
          if (result === undefined) return;
          const what = (): string => JSON.stringify(result);
          check(/^[a-z0-9][a-z0-9.-]*$/.test(result.podName), what);
          check(DNS_LABEL.test(result.namespaceName) && DNS_LABEL.test(result.containerName), what);
          check(/^[0-9a-f]{64}$/.test(result.containerId), what);
          // Nothing invented, nothing dropped: the parts give back the name.
          check(`${result.podName}_${result.namespaceName}_${result.containerName}-${result.containerId}.log` === name, what);
        }),
        params(0.8),
      );
    },
    timeoutFor(0.8),
  );

  it(
    'reads back the pod, namespace, container and id of any name the kubelet can make',
    () => {
      const label = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/);
      const subdomain = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,252}$/);
      fc.assert(
        fc.property(subdomain, label, label, fc.stringMatching(/^[0-9a-f]{64}$/), (podName, namespaceName, containerName, containerId) => {
          expect(parseContainerLogName(`${podName}_${namespaceName}_${containerName}-${containerId}.log`)).toEqual({ podName, namespaceName, containerName, containerId });
        }),
        params(0.2),
      );
    },
    timeoutFor(0.2),
  );
});
