import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * What the proxy needs from an existing kubeconfig (e.g. /etc/kubernetes/kubelet.conf): the API
 * server, its CA and the node's credentials. File references stay file references so a rotated
 * client certificate (kubelet-client-current.pem) is picked up by re-reading the file.
 */
export interface UpstreamCredentials {
  servers: string[];
  caFile?: string;
  caData?: Buffer;
  certFile?: string;
  keyFile?: string;
  certData?: Buffer;
  keyData?: Buffer;
  token?: string;
  tokenFile?: string;
  /** Set by insecure-skip-tls-verify in the kubeconfig; never a default. */
  insecureSkipTlsVerify?: boolean;
}

export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

interface Named<T> {
  name?: string;
  [key: string]: T | string | undefined;
}

function pick<T>(list: unknown, key: 'cluster' | 'user' | 'context', name: string, file: string): T {
  if (!Array.isArray(list)) throw new KubeconfigError(`${file}: no ${key}s defined`);
  const entry = (list as Named<T>[]).find((e) => e && e.name === name);
  const value = entry?.[key];
  if (!value || typeof value !== 'object') throw new KubeconfigError(`${file}: ${key} "${name}" not found`);
  return value as T;
}

function decodeData(value: unknown, field: string, file: string): Buffer | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new KubeconfigError(`${file}: ${field} must be a base64 string`);
  return Buffer.from(value, 'base64');
}

function filePath(value: unknown, field: string, file: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new KubeconfigError(`${file}: ${field} must be a path`);
  // kubectl resolves relative paths against the kubeconfig's own directory.
  return isAbsolute(value) ? value : resolve(dirname(file), value);
}

/** Reads the current context (or `contextName`) of a kubeconfig file. */
export function loadKubeconfig(file: string, contextName?: string): UpstreamCredentials {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(text) as Record<string, unknown>;
  } catch (err) {
    throw new KubeconfigError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new KubeconfigError(`${file}: empty kubeconfig`);
  const ctxName = contextName ?? (doc['current-context'] as string | undefined);
  if (!ctxName) throw new KubeconfigError(`${file}: no current-context`);
  const ctx = pick<Record<string, unknown>>(doc.contexts, 'context', ctxName, file);
  const clusterName = ctx.cluster as string | undefined;
  if (!clusterName) throw new KubeconfigError(`${file}: context "${ctxName}" names no cluster`);
  const cluster = pick<Record<string, unknown>>(doc.clusters, 'cluster', clusterName, file);
  const server = cluster.server;
  if (typeof server !== 'string' || server === '') {
    throw new KubeconfigError(`${file}: cluster "${clusterName}" has no server`);
  }
  const out: UpstreamCredentials = { servers: [server] };
  out.caFile = filePath(cluster['certificate-authority'], 'certificate-authority', file);
  out.caData = decodeData(cluster['certificate-authority-data'], 'certificate-authority-data', file);
  if (cluster['insecure-skip-tls-verify'] === true) out.insecureSkipTlsVerify = true;

  const userName = ctx.user as string | undefined;
  if (userName) {
    const user = pick<Record<string, unknown>>(doc.users, 'user', userName, file);
    out.certFile = filePath(user['client-certificate'], 'client-certificate', file);
    out.keyFile = filePath(user['client-key'], 'client-key', file);
    out.certData = decodeData(user['client-certificate-data'], 'client-certificate-data', file);
    out.keyData = decodeData(user['client-key-data'], 'client-key-data', file);
    if (typeof user.token === 'string' && user.token !== '') out.token = user.token;
    out.tokenFile = filePath(user.tokenFile, 'tokenFile', file);
  }
  for (const key of Object.keys(out) as (keyof UpstreamCredentials)[]) {
    if (out[key] === undefined) delete out[key];
  }
  return out;
}
