// How a configuration key is described (a convict schema leaf) and the TypeScript type of the
// values it loads to, derived from the description so that no type is written twice. This module
// imports nothing of the agent: the sources describe their own keys with it.

/** The formats the loader knows (config/schema.ts registers the named ones with convict). */
export type Format =
  | 'duration'
  | 'optional-duration'
  | 'count'
  | 'map-size'
  | 'tcp-port'
  | 'source-list'
  | 'device-list'
  | 'otlp-endpoint'
  | BooleanConstructor
  | StringConstructor
  | readonly string[];

/** One key: its documentation, default (as an operator writes it), environment variable and flag. */
export interface Key<F extends Format = Format> {
  doc: string;
  format: F;
  default: unknown;
  env: string;
  arg?: string;
}

/** A group of keys, as a source's own config fragment or the whole schema. */
export interface Fragment {
  [name: string]: Key | Fragment;
}

/** What a key loads to: durations in milliseconds (an empty optional one: undefined), lists as arrays. */
export type ValueOf<F> = F extends 'duration'
  ? number
  : F extends 'optional-duration'
    ? number | undefined
    : F extends 'count' | 'map-size' | 'tcp-port'
      ? number
      : F extends 'source-list' | 'device-list'
        ? string[]
        : F extends BooleanConstructor
          ? boolean
          : F extends StringConstructor | 'otlp-endpoint'
            ? string
            : F extends readonly (infer E)[]
              ? E
              : never;

/** The loaded values of a fragment. */
export type ConfigOf<S> = { -readonly [K in keyof S]: S[K] extends Key<infer F> ? ValueOf<F> : ConfigOf<S[K]> };

/** Declares a key, keeping its format's literal type (so `['a', 'b']` loads as 'a' | 'b'). */
export function key<const F extends Format>(description: Key<F>): Key<F> {
  return description;
}

export function isKey(node: Key | Fragment): node is Key {
  return typeof (node as Key).doc === 'string' && 'format' in node;
}
