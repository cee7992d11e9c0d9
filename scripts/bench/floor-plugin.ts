/** Makes the benchmarks' floor plugin (scripts/bench/floor-plugin.cjs) a single executable. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../test/islet-binary.js';
import { makeSea } from '../sea.mjs';

/** Writes the floor plugin's single executable into `dir` and returns its path. */
export function makeFloorPlugin(dir: string): string {
  const work = join(dir, 'floor-build');
  mkdirSync(work, { recursive: true });
  return makeSea({
    main: join(repoRoot, 'scripts/bench/floor-plugin.cjs'),
    out: join(dir, 'floor-plugin'),
    work,
  });
}
