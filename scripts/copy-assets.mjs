// Copies the files the compiled sources read at run time next to them in dist/. The ebpf source's
// engine is built, not copied (scripts/build-engine.mjs); nothing is left to copy today.
