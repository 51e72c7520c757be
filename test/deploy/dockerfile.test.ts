// Dockerfile: no Docker engine runs on these machines, so the file is checked as text. Every COPY
// source exists and passes .dockerignore, the build stage has every file `npm run build` reads, the
// default image runs the README's start command with production dependencies only, and it carries
// the tool of every source the DaemonSet configures.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { AGENT_NODE_FLAGS, REPO } from '../helpers/processes.js';
import { kustomizeBuild } from './kustomize.js';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  image: string;
  name: string;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped, split into stages. */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    lines.push(`${pending}${line}`.trim());
    pending = '';
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines.filter((l) => l !== '')) {
    const [op, ...rest] = line.split(/\s+/);
    const instruction = { op: op!.toUpperCase(), args: rest.join(' ') };
    if (instruction.op === 'FROM') {
      const [image, as, name] = rest;
      expect(as?.toUpperCase(), line).toBe('AS');
      stages.push({ image: image!.replace(/^\$\{(\w+)\}$/, (_, arg: string) => args[arg] ?? ''), name: name!, instructions: [] });
    } else if (stages.length === 0) {
      expect(instruction.op, `before the first FROM: ${line}`).toBe('ARG');
      const [key, value] = instruction.args.split('=');
      args[key!] = value ?? '';
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const stage = (name: string): Stage => dockerfile.stages.find((s) => s.name === name)!;
/** A stage and the stages it is built FROM, nearest first. */
function lineage(s: Stage): Stage[] {
  const parent = dockerfile.stages.find((p) => p.name === s.image);
  return parent ? [s, ...lineage(parent)] : [s];
}
const runtime = dockerfile.stages.at(-1)!; // `docker build` without --target builds the last stage
const runtimeInstructions = lineage(runtime).reverse().flatMap((s) => s.instructions);
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
  engines: Record<string, string>;
};

/** COPY sources (not --from another stage) and destination. */
function copies(instructions: Instruction[]): Array<{ from?: string; sources: string[]; dest: string }> {
  return instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      const copy: { from?: string; sources: string[]; dest: string } = { sources: paths.slice(0, -1), dest: paths.at(-1)! };
      if (from !== undefined) copy.from = from;
      return copy;
    });
}

/** .dockerignore as an allowlist: `*`, then `!path` lines let a path and everything under it in. */
function dockerignoreAllows(path: string): boolean {
  const lines = readFileSync(join(REPO, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  expect(lines[0]).toBe('*');
  const allowed = lines.slice(1).map((l) => {
    expect(l.startsWith('!'), `.dockerignore line ${l}: only re-inclusions after *`).toBe(true);
    return l.slice(1).replace(/\/$/, '');
  });
  const clean = path.replace(/^\.\//, '').replace(/\/$/, '');
  return allowed.some((a) => clean === a || clean.startsWith(`${a}/`));
}

describe('Dockerfile', () => {
  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const sources = dockerfile.stages.flatMap((s) => copies(s.instructions)).filter((c) => c.from === undefined).flatMap((c) => c.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(REPO, source)), source).toBe(true);
      expect(dockerignoreAllows(source), `${source} in .dockerignore`).toBe(true);
    }
  });

  it('gives the build stage every file `npm run build` reads, before it runs', () => {
    const build = dockerfile.stages.find((s) => s.instructions.some((i) => i.op === 'RUN' && /npm run build/.test(i.args)))!;
    const runAt = build.instructions.findIndex((i) => i.op === 'RUN' && /npm run build/.test(i.args));
    const copied = copies(build.instructions.slice(0, runAt)).flatMap((c) => c.sources);
    // The files named in the build script (tsc -p X, node X), what the tsconfig extends, and the sources.
    const script = pkg.scripts.build!;
    const named = [...script.matchAll(/(?:-p|node)\s+(\S+)/g)].map((m) => m[1]!);
    const tsconfig = named.find((f) => f.startsWith('tsconfig'))!;
    const { extends: base } = JSON.parse(readFileSync(join(REPO, tsconfig), 'utf8')) as { extends?: string };
    const needed = [...named, ...(base ? [base.replace(/^\.\//, '')] : []), 'src', 'package.json', 'package-lock.json'];
    for (const file of needed) {
      expect(copied.some((c) => c === file || file.startsWith(`${c.replace(/\/$/, '')}/`)), `${file} copied before npm run build`).toBe(true);
    }
  });

  it('runs the README\'s start command by default', () => {
    const cmd = runtimeInstructions.filter((i) => i.op === 'CMD').at(-1)!;
    expect((JSON.parse(cmd.args) as string[]).join(' ')).toBe(pkg.scripts.start);
    // With the Node flags the tests run the agent with (helpers/processes.ts).
    expect(pkg.scripts.start).toBe(['node', ...AGENT_NODE_FLAGS, 'dist/cli.js', 'run'].join(' '));
    expect(readFileSync(join(REPO, 'README.md'), 'utf8')).toContain(pkg.scripts.start);
    expect(runtimeInstructions.filter((i) => i.op === 'WORKDIR').at(-1)!.args).toBe('/opt/netproc-agent');
  });

  it('installs production dependencies only in the runtime image, with the build output and the config', () => {
    const runs = runtimeInstructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /npm ci --omit=dev/.test(r))).toBe(true);
    expect(runs.some((r) => /npm ci(?! --omit=dev)/.test(r))).toBe(false);
    const fromBuild = copies(runtimeInstructions).find((c) => c.from !== undefined)!;
    expect(fromBuild.sources[0]).toMatch(/\/dist$/);
    expect(copies(runtimeInstructions).some((c) => c.sources.includes('config'))).toBe(true);
  });

  it('carries the tool of every source the DaemonSet configures: iproute2 (ss) and the eBPF engine\'s libraries (ebpf)', () => {
    const ds = kustomizeBuild(join(REPO, 'deploy/kubernetes/base'));
    const cm = ds.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('netproc-agent-config-'))!;
    const { sources } = parseYaml((cm.data as Record<string, string>)['agent.yaml']!) as { sources: string[] };
    const PACKAGE_OF: Record<string, string | undefined> = { ss: 'iproute2', ebpf: 'libbpf1', nethogs: 'nethogs', procfs: undefined };
    const installs = runtimeInstructions.filter((i) => i.op === 'RUN' && /apt-get install/.test(i.args)).map((i) => i.args).join(' ');
    expect(installs).toMatch(/\biproute2\b/);
    for (const source of sources) {
      const pkgName = PACKAGE_OF[source];
      if (pkgName) expect(installs, source).toMatch(new RegExp(`\\b${pkgName}\\b`));
    }
  });

  it('builds the eBPF engine in the build stage and carries no compiler, bpftrace or LLVM at run time', () => {
    const build = stage('build');
    const buildInstalls = build.instructions.filter((i) => i.op === 'RUN' && /apt-get install/.test(i.args)).map((i) => i.args).join(' ');
    for (const pkgName of ['clang', 'libbpf-dev', 'libelf-dev', 'zlib1g-dev']) expect(buildInstalls).toMatch(new RegExp(`\\b${pkgName}\\b`));
    expect(build.instructions.some((i) => i.op === 'RUN' && /npm run build && test -x dist\/sources\/ebpf\/netproc-loader/.test(i.args))).toBe(true);
    const installs = runtimeInstructions.filter((i) => i.op === 'RUN' && /apt-get install/.test(i.args)).map((i) => i.args).join(' ');
    for (const pkgName of ['libbpf1', 'libelf1', 'zlib1g']) expect(installs).toMatch(new RegExp(`\\b${pkgName}\\b`));
    expect(installs).not.toMatch(/bpftrace|llvm|clang|-dev\b/);
  });

  it('runs as root by default (Kubernetes gives a non-root user no capabilities), with a non-root target carrying file capabilities', () => {
    expect(runtime.instructions.filter((i) => i.op === 'USER').at(-1)?.args).toBe('root');
    const nonroot = stage('nonroot');
    expect(nonroot.instructions.filter((i) => i.op === 'USER').at(-1)?.args).toBe('node');
    expect(nonroot.instructions.some((i) => i.op === 'RUN' && /setcap cap_bpf,cap_perfmon,cap_net_admin\+ep dist\/sources\/ebpf\/netproc-loader/.test(i.args))).toBe(true);
  });

  it('checks its health with node on /healthz', () => {
    const healthcheck = runtimeInstructions.find((i) => i.op === 'HEALTHCHECK')!;
    expect(healthcheck.args).toMatch(/CMD \["node", "-e", .*http:\/\/127\.0\.0\.1:9464\/healthz/);
  });

  it('builds and runs on the Node.js line the tests run on: the pinned `node` devDependency and `engines`', () => {
    const imageMajor = Number(/^node:(\d+)-/.exec(dockerfile.args.NODE_IMAGE!)?.[1]);
    const pinnedMajor = Number(/^(\d+)\./.exec(pkg.devDependencies.node ?? "")?.[1]);
    // The suite runs on the pinned node (npm puts node_modules/.bin first on PATH).
    expect(Number(process.versions.node.split('.')[0])).toBe(pinnedMajor);
    expect(imageMajor).toBe(pinnedMajor);
    expect(pkg.engines.node).toBe(`^${pinnedMajor}.0.0`);
    // Both stages are built from the same image, so the build and the runtime agree too.
    for (const s of dockerfile.stages.filter((s) => s.image.startsWith('node:'))) expect(s.image).toBe(dockerfile.args.NODE_IMAGE);
  });

  it('labels the image with the OCI annotations, the version being the package version', () => {
    const labels = runtimeInstructions.filter((i) => i.op === 'LABEL').map((i) => i.args).join(' ');
    for (const key of ['title', 'description', 'version', 'licenses']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
    const version = runtimeInstructions.find((i) => i.op === 'ARG' && i.args.startsWith('VERSION='))!;
    expect(version.args).toBe(`VERSION=${pkg.version}`);
  });
});
