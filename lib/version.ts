// Replaced at build time by scripts/build.mjs with package.json's version.
declare const __ISLET_VERSION__: string | undefined;
export const VERSION: string = typeof __ISLET_VERSION__ === 'string' ? __ISLET_VERSION__ : '0.0.0-dev';
