// Builds the configuration from, in rising precedence: defaults, the config file, NETPROC_* env, flags.
// Any problem is a ConfigError with one line that names the key; the CLI exits 2 on it.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import convict from 'convict';
import { LineCounter, parseDocument } from 'yaml';
import { parseDuration } from './duration.js';
import { isKey, type Fragment, type Key } from './keys.js';
import { buildSchema, schema, sourcesFormat, type AgentConfig } from './schema.js';
import type { SourceDefinition } from '../sources/definition.js';
import { SOURCES } from '../sources/registry.js';

export const COMMANDS = ['run', 'once', 'doctor', 'top'] as const;
export type Command = (typeof COMMANDS)[number];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Invocation {
  command: Command | 'help' | 'version';
  config: AgentConfig;
  configFile?: string;
}

/** Every leaf of the schema with its dotted key. */
export function schemaLeaves(node: Fragment = schema, prefix = ''): Array<[string, Key]> {
  const leaves: Array<[string, Key]> = [];
  for (const [name, value] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (isKey(value)) leaves.push([path, value]);
    else leaves.push(...schemaLeaves(value, path));
  }
  return leaves;
}

function flagOptions(tree: Fragment): NonNullable<ParseArgsConfig['options']> {
  const options: NonNullable<ParseArgsConfig['options']> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const [, leaf] of schemaLeaves(tree)) {
    if (!leaf.arg) continue;
    if (leaf.format === Boolean) {
      options[leaf.arg] = { type: 'boolean' };
      options[`no-${leaf.arg}`] = { type: 'boolean' };
    } else {
      options[leaf.arg] = { type: 'string' };
    }
  }
  return options;
}

/**
 * The command and configuration of a command line. `definitions` are the sources it may name
 * (the registry; a test adds its own).
 */
export function loadInvocation(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  definitions: readonly SourceDefinition[] = SOURCES,
): Invocation {
  const tree = definitions === SOURCES ? schema : buildSchema(definitions);
  const [first, ...rest] = argv;
  let command: Invocation['command'] = 'run';
  let flags = [...argv];
  if (first !== undefined && !first.startsWith('-')) {
    if (!(COMMANDS as readonly string[]).includes(first)) {
      throw new ConfigError(`command: unknown command ${JSON.stringify(first)}; accepted: ${COMMANDS.join(', ')}`);
    }
    command = first as Command;
    flags = rest;
  }

  let parsed;
  try {
    parsed = parseArgs({ args: flags, options: flagOptions(tree), strict: true, allowPositionals: false, tokens: true });
  } catch (err) {
    throw new ConfigError(`flags: ${firstSentence((err as Error).message)}`);
  }
  if (parsed.values.help) command = 'help';
  if (parsed.values.version) command = 'version';

  // The file first: a file that cannot be read or parsed is refused before the schema is built
  // (convict's copy of it takes most of a load's time).
  const configFile = (parsed.values.config as string | undefined) ?? env.NETPROC_CONFIG;
  const values = configFile === undefined ? undefined : readConfigFile(configFile);
  const config = convict(forConvict(tree, sourcesFormat(definitions)) as convict.Schema<unknown>, { args: lastFlagWins(parsed.tokens ?? []), env });
  if (configFile !== undefined) {
    try {
      config.load(values);
    } catch (err) {
      throw new ConfigError(`config: ${configFile}: ${firstLine((err as Error).message)}`);
    }
  }
  try {
    config.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(convictMessage((err as Error).message, tree));
  }
  const result: Invocation = { command, config: loadedValues(tree, config.getProperties() as Record<string, unknown>) as AgentConfig };
  if (configFile !== undefined) result.configFile = configFile;
  return result;
}

/** A flag given twice takes its last value, as in most CLIs (convict would join them into a list). */
function lastFlagWins(tokens: ReadonlyArray<{ kind: string; name?: string; value?: string | undefined }>): string[] {
  const last = new Map<string, string | boolean>();
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === undefined) continue;
    if (token.value !== undefined) last.set(token.name, token.value);
    else if (token.name.startsWith('no-')) last.set(token.name.slice(3), false);
    else last.set(token.name, true);
  }
  const args: string[] = [];
  for (const [name, value] of last) {
    if (value === true) args.push(`--${name}`);
    else if (value === false) args.push(`--no-${name}`);
    else args.push(`--${name}`, value);
  }
  return args;
}

/** A configuration file is a few KiB (the commented example is 6); past this it is not one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function readConfigFile(path: string): object {
  let text: string;
  try {
    text = readBounded(path, MAX_CONFIG_BYTES);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`config: cannot read ${JSON.stringify(path)} (${code})`);
  }
  let values: unknown;
  try {
    values = parseYamlQuickly(text); // YAML is a superset of JSON, so this reads both
  } catch (err) {
    throw new ConfigError(`config: ${JSON.stringify(path)} is not valid YAML or JSON: ${firstLine((err as Error).message)}`);
  }
  if (values === null || values === undefined) return {};
  if (typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError(`config: ${JSON.stringify(path)} must hold a mapping of configuration keys`);
  }
  return values;
}

/**
 * The file as UTF-8, refused past `max` bytes without reading further: a file of gigabytes, or
 * --config /dev/zero, would otherwise be read whole before the parser sees it.
 */
function readBounded(path: string, max: number): string {
  const fd = openSync(path, 'r');
  try {
    // A regular file's size, plus one byte to see it end; a device or a pipe says 0: read on.
    const { size } = fstatSync(fd);
    let buffer = Buffer.allocUnsafe(Math.min(max, size > 0 ? size : 64 * 1024) + 1);
    let length = 0;
    for (let n; length <= max && (n = readSync(fd, buffer, length, buffer.length - length, null)) > 0; ) {
      length += n;
      if (length === buffer.length && length <= max) buffer = Buffer.concat([buffer], Math.min(2 * buffer.length, max + 1));
    }
    if (length > max) throw new ConfigError(`config: ${JSON.stringify(path)} is larger than ${max / 1024} KiB: not a configuration file`);
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * yaml.parse(), cheaper on broken input: yaml makes an error for every bad token, and with its
 * default options gives each one a line, a column and a snippet of the file (about 60 µs each,
 * so 0.8 s for 10 KB of \`}\`); only the first is reported. So the position is worked out for the
 * first only, and no stack trace is captured for any (they would point into yaml): measured here
 * on 10 KB of \`} \`, 75 ms a file before, 13 ms after; the same on a valid file. yaml's warnings
 * (an unknown tag, say) are printed as yaml.parse() prints them.
 */
function parseYamlQuickly(text: string): unknown {
  const lineCounter = new LineCounter();
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  let doc;
  try {
    doc = parseDocument(text, { prettyErrors: false, lineCounter });
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  const [error] = doc.errors;
  if (error) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    throw new Error(error.pos[0] >= 0 ? `${error.message} at line ${line}, column ${col}` : error.message);
  }
  for (const warning of doc.warnings) process.emitWarning(warning);
  return doc.toJS();
}

/** convict reports `key: message: value was X` per problem, one per line; keep the first. */
function convictMessage(message: string, tree: Fragment): string {
  const line = firstLine(message);
  const undeclared = /configuration param '([^']+)' not declared in the schema/.exec(line);
  if (undeclared) return `${undeclared[1]}: unknown configuration key`;
  // Say how the key is set, so the operator finds it whichever way they used.
  const key = line.slice(0, line.indexOf(':'));
  const leaf = schemaLeaves(tree).find(([path]) => path === key)?.[1];
  if (!leaf?.arg) return line;
  return `${key} (--${leaf.arg}, ${leaf.env})${line.slice(key.length)}`;
}

function firstLine(text: string): string {
  return (text.split('\n', 1)[0] ?? '').trim();
}

function firstSentence(text: string): string {
  const line = firstLine(text);
  const end = line.indexOf('. ');
  return end > 0 ? line.slice(0, end) : line;
}

/** The schema as convict takes it: `source-list` becomes the format that knows the sources' names. */
function forConvict(node: Fragment, sourceList: string): object {
  const copy: Record<string, object> = {};
  for (const [name, value] of Object.entries(node)) {
    if (!isKey(value)) copy[name] = forConvict(value, sourceList);
    else copy[name] = value.format === 'source-list' ? { ...value, format: sourceList } : value;
  }
  return copy;
}

/** Validated values as the agent uses them: durations in milliseconds ('' of an optional one: undefined). */
function loadedValues(node: Fragment, raw: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(node)) {
    const given = raw[name];
    if (!isKey(value)) values[name] = loadedValues(value, (given ?? {}) as Record<string, unknown>);
    else if (value.format === 'duration') values[name] = parseDuration(given);
    else if (value.format === 'optional-duration') values[name] = given === '' ? undefined : parseDuration(given);
    else values[name] = given;
  }
  return values;
}
