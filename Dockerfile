# syntax=docker/dockerfile:1
# netproc-agent image. Targets:
#   (default) runtime  runs as root, because on Kubernetes a non-root user gets no usable capabilities
#                      (no ambient capabilities in the CRI, deploy/README.md); the eBPF engine itself
#                      needs no uid 0. The DaemonSet drops ALL capabilities and adds back only what its
#                      sources need, with allowPrivilegeEscalation: false.
#   nonroot            uid 1000 (node), every source: file capabilities on node, ss, nethogs and the
#                      eBPF engine's netproc-loader, which take effect only where privilege escalation
#                      is allowed (allowPrivilegeEscalation: true) and the capabilities are in the
#                      bounding set.
#   docker build -t netproc-agent:0.1.0 .
#   docker build --target nonroot -t netproc-agent:0.1.0-nonroot .
# Never built here (no Docker engine on the development machines); test/deploy checks its text.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
# The eBPF engine's build (src/sources/ebpf/build.sh): clang for the CO-RE object, gcc and the
# libbpf/libelf/zlib headers for the loader. None of it reaches the runtime stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends clang llvm gcc libc6-dev libbpf-dev libelf-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.mjs scripts/build-engine.mjs ./scripts/
COPY src ./src
# tsc, then the engine: dist/sources/ebpf/netproc-loader with its BPF object embedded. The test
# fails the image build when the engine was not built.
RUN npm run build && test -x dist/sources/ebpf/netproc-loader

FROM ${NODE_IMAGE} AS base
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="netproc-agent" \
      org.opencontainers.image.description="Per-process network traffic (bytes, packets, connections) as OpenTelemetry metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
# iproute2: ss, for the ss source. libbpf1, libelf1, zlib1g: the eBPF engine's run-time libraries
# (no bpftrace, no LLVM). nethogs: for the nethogs source.
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 libbpf1 libelf1 zlib1g nethogs \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/netproc-agent
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY config ./config
EXPOSE 9464
# /healthz on the metrics port, with node itself (no curl in the image). Kubernetes ignores this and
# uses the DaemonSet's probes; it assumes the default port 9464 on a reachable loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The README's start command. The DaemonSet keeps it and passes its config through NETPROC_CONFIG.
CMD ["node", "--max-semi-space-size=8", "dist/cli.js", "run"]

FROM base AS nonroot
# libcap2-bin only for setcap, removed again. +ep: effective at exec, as neither node nor ss asks for
# its capabilities itself. The sets are those of the definitions (capabilitiesFor).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcap2-bin \
    && setcap cap_dac_read_search,cap_sys_ptrace+ep "$(readlink -f "$(command -v node)")" \
    && setcap cap_dac_read_search,cap_sys_ptrace+ep "$(readlink -f "$(command -v ss)")" \
    && setcap cap_dac_read_search,cap_sys_ptrace,cap_net_admin,cap_net_raw+ep "$(readlink -f "$(command -v nethogs)")" \
    && setcap cap_bpf,cap_perfmon,cap_net_admin+ep dist/sources/ebpf/netproc-loader \
    && apt-get purge -y libcap2-bin && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
USER node

FROM base AS runtime
# uid 0, documented above: Kubernetes grants capabilities to uid 0 only; they are limited by the runtime.
USER root
