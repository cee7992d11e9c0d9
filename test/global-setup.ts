import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Integration tests run the built binary as a process, the way a runtime or kubelet would; build
 * it once per vitest run so a targeted `npx vitest run file` never tests a stale dist/islet.
 */
export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  // The pinned test bed (npm run k8s:build) comes first on PATH: kubectl, cnitool and the CNI
  // reference plugins the tests run are the ones test/k8s/go.mod pins, not whatever the machine has.
  const k8sBin = process.env.ISLET_K8S_BIN ?? join(root, '.k8s', 'bin');
  if (existsSync(k8sBin)) process.env.PATH = `${k8sBin}${delimiter}${process.env.PATH ?? ''}`;
  if (process.env.ISLET_SKIP_BUILD === '1') return;
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
}
