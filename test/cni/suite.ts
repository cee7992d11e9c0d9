import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { CniLab, type LabOptions } from './lab.js';

/**
 * Registers the calling describe's hooks for a CniLab: a fresh one for each test ('each') or one
 * for all of them ('all'), cleaned up after. `made` gets each lab once it exists (to keep it, and to
 * write the conflist or plugins its tests share).
 */
export function useLab(scope: 'each' | 'all', opts: LabOptions, made: (lab: CniLab) => void): void {
  let lab: CniLab | undefined;
  (scope === 'each' ? beforeEach : beforeAll)(async () => {
    lab = await CniLab.create(opts);
    made(lab);
  });
  (scope === 'each' ? afterEach : afterAll)(async () => {
    await lab?.cleanup();
    lab = undefined;
  });
}
