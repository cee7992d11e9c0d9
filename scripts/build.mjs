#!/usr/bin/env node
// Builds dist/islet: esbuild bundles cmd/islet.ts into one CommonJS file with a node shebang and
// puts better-sqlite3's native addon beside it. (The single-executable build replaces this file
// at the same path: see design.md §5.)
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const dist = join(root, 'dist');
mkdirSync(dist, { recursive: true });

// Tests run dist/islet while a parallel run may rebuild it: write aside, then rename into place.
const tmpSuffix = `.${process.pid}.tmp`;
await build({
  entryPoints: [join(root, 'cmd/islet.ts')],
  outfile: join(dist, `islet${tmpSuffix}`),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  banner: {
    js: '#!/usr/bin/env node\nconst __islet_import_meta_url = require("node:url").pathToFileURL(__filename).href;',
  },
  define: {
    'import.meta.url': '__islet_import_meta_url',
    __ISLET_VERSION__: JSON.stringify(pkg.version),
  },
  logLevel: 'warning',
  legalComments: 'none',
});
chmodSync(join(dist, `islet${tmpSuffix}`), 0o755);

const require = createRequire(import.meta.url);
const addon = join(
  dirname(require.resolve('better-sqlite3/package.json')),
  'build/Release/better_sqlite3.node',
);
copyFileSync(addon, join(dist, `better_sqlite3.node${tmpSuffix}`));
renameSync(join(dist, `better_sqlite3.node${tmpSuffix}`), join(dist, 'better_sqlite3.node'));
renameSync(join(dist, `islet${tmpSuffix}`), join(dist, 'islet'));
console.log(`built ${join(dist, 'islet')}`);
