// Imported first by cli.ts, so it runs before any dependency is evaluated: on an older Node.js the
// agent says what it needs in one line instead of crashing inside a dependency (execa and the
// OpenTelemetry SDK use APIs that Node.js 20 lacks). `npm start` always runs the pinned Node.js 24.

/** The Node.js major line the agent is built and tested on (package.json engines and the `node` devDependency). */
export const SUPPORTED_NODE_MAJOR = 24;

const major = Number(process.versions.node.split('.')[0]);
if (major < SUPPORTED_NODE_MAJOR) {
  process.stderr.write(
    `netproc-agent: needs Node.js ${SUPPORTED_NODE_MAJOR}, this is ${process.version}; ` +
      `run it with \`npm start\` (the repository pins Node.js ${SUPPORTED_NODE_MAJOR}) or install Node.js ${SUPPORTED_NODE_MAJOR}\n`,
  );
  process.exit(1);
}
