import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { repoRoot } from '../islet-binary.js';

/** Where `npm run k8s:build` puts the pinned binaries (ISLET_K8S_BIN overrides, as for the build). */
export const k8sBinDir = process.env.ISLET_K8S_BIN ?? join(repoRoot, '.k8s', 'bin');
export const k8sBin = (name: string) => join(k8sBinDir, name);

/**
 * Puts the pinned test bed first on PATH: the kubectl, cnitool and crictl that tests and the demo
 * run are the ones test/k8s/go.mod pins, not whatever the machine has.
 */
export function putTestBedOnPath(): void {
  const path = process.env.PATH ?? '';
  if (existsSync(k8sBinDir) && !path.split(delimiter).includes(k8sBinDir)) {
    process.env.PATH = `${k8sBinDir}${delimiter}${path}`;
  }
}
