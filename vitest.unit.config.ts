import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run test:unit`: the tests that live next to their source (no built binary, no root, no
 * kubectl), without the global setup that builds dist/islet. Tests that run dist/islet belong
 * under test/, which this run leaves out.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['{cmd,lib,plugins,proxy,daemonset,webhook}/**/*.test.ts'],
    globalSetup: [],
  },
});
