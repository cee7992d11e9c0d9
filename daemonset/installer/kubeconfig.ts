/**
 * Kubelet's kubeconfig, redirected: kubelet talks plain HTTP to the local proxy with no
 * credentials (like YurtHub), and the proxy gets the original server, CA and node certificate
 * through a copy of the original kubeconfig. Pure functions over text.
 */
import { isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, YAMLMap } from 'yaml';

export class KubeconfigShapeError extends Error {}

/** Fields that carry credentials or TLS trust; none of them means anything over loopback HTTP. */
const CREDENTIAL_FIELDS = [
  'client-certificate',
  'client-certificate-data',
  'client-key',
  'client-key-data',
  'token',
  'tokenFile',
  'username',
  'password',
  'exec',
  'auth-provider',
];
const TRUST_FIELDS = [
  'certificate-authority',
  'certificate-authority-data',
  'insecure-skip-tls-verify',
  'tls-server-name',
];
const FILE_FIELDS: Record<'cluster' | 'user', string[]> = {
  cluster: ['certificate-authority'],
  user: ['client-certificate', 'client-key', 'tokenFile'],
};

function parse(file: string, text: string) {
  const doc = parseDocument(text);
  if (doc.errors.length > 0)
    throw new KubeconfigShapeError(`${file}: not valid YAML: ${doc.errors[0]!.message}`);
  if (!isMap(doc.contents)) throw new KubeconfigShapeError(`${file}: a kubeconfig must be a YAML mapping`);
  return doc;
}

function entry(root: YAMLMap, list: string, name: string, key: string, file: string): YAMLMap {
  const seq = root.get(list);
  if (isSeq(seq)) {
    for (const item of seq.items) {
      if (isMap(item) && item.get('name') === name) {
        const value = item.get(key);
        if (isMap(value)) return value;
        if (value === null || value === undefined) {
          // `user: {}` written as `user:` parses to null: give it a map we can edit.
          const created = new YAMLMap();
          item.set(key, created);
          return created;
        }
      }
    }
  }
  throw new KubeconfigShapeError(`${file}: ${key} "${name}" not found in ${list}`);
}

interface Current {
  root: YAMLMap;
  cluster: YAMLMap;
  user: YAMLMap | undefined;
}

function current(file: string, doc: ReturnType<typeof parse>): Current {
  const root = doc.contents as YAMLMap;
  const ctxName = root.get('current-context');
  if (typeof ctxName !== 'string' || ctxName === '')
    throw new KubeconfigShapeError(`${file}: no current-context`);
  const ctx = entry(root, 'contexts', ctxName, 'context', file);
  const clusterName = ctx.get('cluster');
  if (typeof clusterName !== 'string')
    throw new KubeconfigShapeError(`${file}: context "${ctxName}" names no cluster`);
  const userName = ctx.get('user');
  return {
    root,
    cluster: entry(root, 'clusters', clusterName, 'cluster', file),
    user: typeof userName === 'string' ? entry(root, 'users', userName, 'user', file) : undefined,
  };
}

/** The server of the current context. */
export function currentServer(file: string, text: string): string {
  const server = current(file, parse(file, text)).cluster.get('server');
  if (typeof server !== 'string' || server === '')
    throw new KubeconfigShapeError(`${file}: current cluster has no server`);
  return server;
}

/** True when the kubeconfig already sends its client to the proxy. */
export function isRedirected(file: string, text: string, proxyUrl: string): boolean {
  return currentServer(file, text) === proxyUrl;
}

/** Kubelet's kubeconfig pointed at the proxy, every credential and trust field removed. */
export function redirectKubeconfig(file: string, text: string, proxyUrl: string): string {
  const doc = parse(file, text);
  const { cluster, user } = current(file, doc);
  // Refuse a kubeconfig without a server: the proxy would have nowhere to go.
  currentServer(file, text);
  cluster.set('server', proxyUrl);
  for (const f of TRUST_FIELDS) cluster.delete(f);
  if (user) for (const f of CREDENTIAL_FIELDS) user.delete(f);
  return doc.toString({ indentSeq: false });
}

/**
 * The proxy's copy of the original kubeconfig. It lives in another directory, so relative file
 * references (resolved by clients against the kubeconfig's own directory) become absolute;
 * otherwise the bytes are the original's.
 */
export function upstreamKubeconfig(file: string, text: string, originalDir: string): string {
  const doc = parse(file, text);
  const { cluster, user } = current(file, doc);
  let changed = false;
  const absolutize = (map: YAMLMap | undefined, fields: string[]) => {
    for (const f of fields) {
      const node = map?.get(f, true);
      if (isScalar(node) && typeof node.value === 'string' && node.value !== '' && !isAbsolute(node.value)) {
        node.value = resolve(originalDir, node.value);
        changed = true;
      }
    }
  };
  absolutize(cluster, FILE_FIELDS.cluster);
  absolutize(user, FILE_FIELDS.user);
  return changed ? doc.toString({ indentSeq: false }) : text;
}

/** Files the kubeconfig makes its client read (CA, client certificate and key, token file). */
export function referencedFiles(file: string, text: string): string[] {
  const { cluster, user } = current(file, parse(file, text));
  const out: string[] = [];
  for (const [map, fields] of [
    [cluster, FILE_FIELDS.cluster],
    [user, FILE_FIELDS.user],
  ] as const) {
    for (const f of fields) {
      const v = map?.get(f);
      if (typeof v === 'string' && v !== '') out.push(v);
    }
  }
  return out;
}
