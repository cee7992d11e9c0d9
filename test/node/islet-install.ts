/**
 * `islet install` onto a node's root as the edge node and bench:cri run it: the plugin's database
 * and link-state file on that root (an install.yaml for --config), then the given flags.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../cni/process.js';
import { isletBinary } from '../islet-binary.js';

export async function installIsletOnRoot(root: string, flags: string[]): Promise<void> {
  const at = (p: string) => join(root, p);
  mkdirSync(at('etc/islet'), { recursive: true });
  writeFileSync(
    at('etc/islet/install.yaml'),
    `plugin:\n  database: ${at('var/lib/islet/ipam.db')}\n  linkStateFile: ${at('run/islet/link.json')}\n`,
  );
  const install = await run(
    isletBinary,
    ['install', '--root', root, '--config', at('etc/islet/install.yaml'), ...flags],
    { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  );
  if (install.code !== 0) throw new Error(`islet install failed: ${install.stderr}${install.stdout}`);
}
