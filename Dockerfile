# syntax=docker/dockerfile:1
# netproc-agent image. Targets:
#   (default) runtime  runs as root: bpftrace (the eBPF source) refuses any other uid, and on Kubernetes
#                      a non-root user gets no usable capabilities (deploy/README.md). The DaemonSet
#                      drops ALL capabilities and adds back only what its sources need.
#   nonroot            for ss/procfs/nethogs-only set-ups: uid 1000 (node), with file capabilities on
#                      node and ss, which take effect only where privilege escalation is allowed
#                      (allowPrivilegeEscalation: true) and the capabilities are in the bounding set.
#   docker build -t netproc-agent:0.1.0 .
#   docker build --target nonroot -t netproc-agent:0.1.0-nonroot .
# Never built here (no Docker engine on the development machines); test/deploy checks its text.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.mjs ./scripts/
COPY src ./src
# tsc, then the bpftrace programs (src/sources/ebpf/*.bt) copied next to the compiled source.
RUN npm run build

FROM ${NODE_IMAGE} AS base
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="netproc-agent" \
      org.opencontainers.image.description="Per-process network traffic (bytes, packets, connections) as OpenTelemetry metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
# iproute2: ss, for the ss source. bpftrace and nethogs: for the eBPF and nethogs sources.
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 bpftrace nethogs \
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
CMD ["node", "dist/cli.js", "run"]

FROM base AS nonroot
# libcap2-bin only for setcap, removed again. +ep: effective at exec, as neither node nor ss asks for
# its capabilities itself. The set is capabilitiesFor([ss, procfs, nethogs]).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcap2-bin \
    && setcap cap_dac_read_search,cap_sys_ptrace+ep "$(readlink -f "$(command -v node)")" \
    && setcap cap_dac_read_search,cap_sys_ptrace+ep "$(readlink -f "$(command -v ss)")" \
    && setcap cap_dac_read_search,cap_sys_ptrace,cap_net_admin,cap_net_raw+ep "$(readlink -f "$(command -v nethogs)")" \
    && apt-get purge -y libcap2-bin && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
USER node

FROM base AS runtime
# uid 0, documented above: bpftrace requires it; capabilities are limited by the runtime, not by uid.
USER root
