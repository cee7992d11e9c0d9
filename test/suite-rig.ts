import { afterAll, beforeAll } from 'vitest';
import { tempDir } from './proxy/harness.js';

/** A rig's fields as its tests read them: set, or an error saying they are not set yet. */
export type SetFields<S, K extends keyof S> = { readonly [P in K]-?: NonNullable<S[P]> };

/**
 * What the tests of one describe share (a server, the proxy in front of it, their temp dir):
 * registers the describe's beforeAll, which makes a temp dir (`dir`) and runs `start` to fill
 * `state`, and its afterAll, which runs `stop` (with `state` as far as `start` got) and removes the
 * dir. Returns `methods` with `state`'s fields `keys` readable on it like plain fields; reading
 * one before beforeAll set it throws an error that names it.
 */
export function suiteRig<S extends { dir?: string }, K extends keyof S, M extends object>(o: {
  prefix: string;
  state: S;
  keys: K[];
  start: () => Promise<void>;
  stop: () => Promise<void>;
  methods: M;
}): SetFields<S, K> & M {
  let removeDir = () => {};
  beforeAll(async () => {
    const tmp = tempDir(o.prefix);
    o.state.dir = tmp.dir;
    removeDir = tmp.cleanup;
    await o.start();
  });
  afterAll(async () => {
    await o.stop();
    removeDir();
  });
  for (const key of o.keys) {
    Object.defineProperty(o.methods, key, {
      enumerable: true,
      get() {
        const value = o.state[key];
        if (value === undefined) throw new Error(`${String(key)} read before the suite's beforeAll set it`);
        return value;
      },
    });
  }
  return o.methods as SetFields<S, K> & M;
}
