// Imported by cli.ts before any module that imports node:http. Node.js 24's node:http exports
// WebSocket, CloseEvent and MessageEvent as lazy getters into its bundled undici. An ES module
// import of node:http builds a namespace of every enumerable export, which calls those getters and
// loads undici with tls, http2 and zlib: about 13 MB of RSS (6.5 anonymous, 7 of the binary's
// pages) in an agent that never uses them (nodejs/node#59686; require() does not do it). The
// OpenTelemetry Prometheus exporter imports node:http so. Made non-enumerable, the three stay
// where they were, as lazy as Node.js meant them, and out of the namespace. The import graph that
// follows must be loaded after this runs (cli.ts imports the commands dynamically): a static
// import is linked, namespaces included, before any module body runs.

const LAZY_UNDICI_EXPORTS = ['WebSocket', 'CloseEvent', 'MessageEvent'] as const;

const http = process.getBuiltinModule('node:http') as unknown as Record<string, unknown>;
for (const name of LAZY_UNDICI_EXPORTS) {
  const descriptor = Object.getOwnPropertyDescriptor(http, name);
  if (descriptor?.get && descriptor.enumerable && descriptor.configurable) {
    Object.defineProperty(http, name, { ...descriptor, enumerable: false });
  }
}
