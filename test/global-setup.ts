import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { putTestBedOnPath } from './k8s/bin.js';

/**
 * Integration tests run the built binary as a process, the way a runtime or kubelet would; build
 * it once per vitest run so a targeted `npx vitest run file` never tests a stale dist/islet.
 */
export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  putTestBedOnPath();
  if (process.env.ISLET_SKIP_BUILD === '1') return;
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
}
