// The environment variables the Node runtime itself reads in C++/libuv while it starts, before any
// of islet's code runs. containerd and kubelet hand their own environment to every CNI plugin, so
// a NODE_OPTIONS="--require /x.js" there would kill every CNI call with a Node stack trace, and a
// NODE_EXTRA_CA_CERTS would parse the whole CA store on every call. Node 20's single executables
// have no setting to ignore them (execArgvExtension came later), and a re-exec cannot help: the
// preloads of NODE_OPTIONS run before the embedded main. So scripts/build.mjs renames the C string
// each of them is looked up by in the copy of node that becomes dist/islet: the first byte becomes
// '=', which no environment entry can match (getenv compares up to the first '='). The process
// environment itself is untouched, so the delegates islet runs still get every variable as the
// runtime set it. Node's JavaScript-level variables (NODE_DEBUG, NODE_PATH, ...) are not touched:
// the JavaScript builtins are part of the V8 snapshot and are left as Node built them.
export const STARTUP_ENV = [
  'NODE_OPTIONS',
  'NODE_EXTRA_CA_CERTS',
  'NODE_V8_COVERAGE',
  'NODE_DEBUG_NATIVE',
  'NODE_ICU_DATA',
  'NODE_PENDING_DEPRECATION',
  'NODE_PRESERVE_SYMLINKS',
  'NODE_PRESERVE_SYMLINKS_MAIN',
  'NODE_REDIRECT_WARNINGS',
  'UV_THREADPOOL_SIZE',
  'UV_USE_IO_URING',
];

/**
 * The offsets of `name` as a C string literal: NUL before and after. A V8 snapshot string of the
 * same text also sits between NULs, but right after its 4-byte little-endian length; C string
 * tables hold no such length, so those are left alone.
 */
function cStringOffsets(bytes, name) {
  const needle = Buffer.from(`\0${name}\0`, 'latin1');
  const out = [];
  for (let i = bytes.indexOf(needle); i !== -1; i = bytes.indexOf(needle, i + 1)) {
    const at = i + 1;
    const snapshotLength = at >= 4 && bytes.readUInt32LE(at - 4) === name.length;
    if (!snapshotLength) out.push(at);
  }
  return out;
}

/**
 * Renames, in place, each startup variable's C string in a node executable's bytes. Each must be
 * found exactly once: a Node build laid out otherwise fails here rather than half-patched.
 */
export function renameStartupEnv(bytes) {
  for (const name of STARTUP_ENV) {
    const at = cStringOffsets(bytes, name);
    if (at.length !== 1)
      throw new Error(
        `expected ${name} once as a C string in the node executable, found it ${at.length} times`,
      );
    bytes[at[0]] = 0x3d; // '='
  }
  return bytes;
}
