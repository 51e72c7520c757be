// Pod, namespace and container names for a container ID, without calling the Kubernetes API:
// the kubelet names one symlink per container in /var/log/containers
// `<pod>_<namespace>_<container>-<container id>.log`. Only the names are read (a readdir of a
// read-only hostPath), never the logs.
import type { HostIO } from './types.js';

export interface PodInfo {
  podName: string;
  namespaceName: string;
  containerName: string;
}

// Pod and namespace names are DNS labels/subdomains (no "_"); the container name is a DNS label.
const LOG_NAME = /^([a-z0-9][a-z0-9.-]*)_([a-z0-9][a-z0-9-]*)_([a-z0-9][a-z0-9-]*)-([0-9a-f]{64})\.log$/;

export function parseContainerLogName(name: string): (PodInfo & { containerId: string }) | undefined {
  const match = LOG_NAME.exec(name);
  if (!match) return undefined;
  return { podName: match[1]!, namespaceName: match[2]!, containerName: match[3]!, containerId: match[4]! };
}

/** Container ID -> pod, re-read at most once per `minAgeMs` and only when asked for an unknown ID. */
export class PodIndex {
  private byContainer = new Map<string, PodInfo>();
  private readAtMs = -Infinity;
  private wanted = false;

  constructor(
    private readonly io: HostIO,
    private readonly dir: string,
    private readonly minAgeMs = 10_000,
  ) {}

  lookup(containerId: string): PodInfo | undefined {
    const info = this.byContainer.get(containerId);
    if (!info) this.wanted = true;
    return info;
  }

  /** Re-reads the directory if an unknown container was asked for and the index is old enough. */
  async refresh(): Promise<void> {
    const now = this.io.now();
    if (this.dir === '' || (!this.wanted && this.readAtMs > -Infinity) || now - this.readAtMs < this.minAgeMs) return;
    this.readAtMs = now;
    this.wanted = false;
    let names: string[];
    try {
      names = await this.io.readdir(this.dir);
    } catch {
      return; // not a Kubernetes node, or not mounted: no pod names
    }
    const next = new Map<string, PodInfo>();
    for (const name of names) {
      const parsed = parseContainerLogName(name);
      if (parsed) next.set(parsed.containerId, { podName: parsed.podName, namespaceName: parsed.namespaceName, containerName: parsed.containerName });
    }
    this.byContainer = next;
  }
}
