import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root and the built binary the integration tests run. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const isletBinary = join(repoRoot, 'dist', 'islet');
export const distDir = join(repoRoot, 'dist');
