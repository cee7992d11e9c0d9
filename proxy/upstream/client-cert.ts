import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/**
 * The node's client certificate and key, read from files and re-read when kubelet rotates them
 * (kubelet-client-current.pem is a symlink swapped to a new file holding both cert and key). A
 * half-written or mismatched pair is ignored until it becomes valid: we keep the last good one.
 */
export interface ClientCertMaterial {
  cert: Buffer;
  key: Buffer;
  /** Bumped on every successful reload; agents built for an older generation are replaced. */
  generation: number;
}

export interface ClientCertOptions {
  certFile?: string;
  keyFile?: string;
  certData?: Buffer;
  keyData?: Buffer;
  /** How often at most the files are stat'ed (on use). */
  checkIntervalMs?: number;
  onReload?: (generation: number) => void;
  onError?: (err: Error) => void;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;

/** Splits a PEM bundle into its certificate blocks and its private key block. */
export function splitPem(pem: string): { certs: string; key: string } {
  const certs: string[] = [];
  let key = '';
  for (const m of pem.matchAll(PEM_BLOCK)) {
    if (m[1] === 'CERTIFICATE') certs.push(m[0]);
    else if (m[1]!.endsWith('PRIVATE KEY') && key === '') key = m[0];
  }
  return { certs: certs.join('\n'), key };
}

function fileIdentity(path: string): string {
  // statSync follows the symlink: a rotation that swaps the link target changes ino.
  const st = statSync(path);
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

export class ClientCertSource {
  private material: ClientCertMaterial | undefined;
  private stamp = '';
  private lastCheck = 0;
  private readonly checkIntervalMs: number;

  constructor(private readonly opts: ClientCertOptions) {
    this.checkIntervalMs = opts.checkIntervalMs ?? 500;
    const fromFiles = opts.certFile !== undefined || opts.keyFile !== undefined;
    if (fromFiles && (opts.certFile === undefined || opts.keyFile === undefined)) {
      // kubeadm puts both in one file; the caller passes it as both; a lone one is a mistake.
      throw new Error('client certificate and key must both be given (they may be the same file)');
    }
    if (fromFiles) {
      this.reloadFromFiles(true);
    } else if (opts.certData && opts.keyData) {
      this.material = { cert: opts.certData, key: opts.keyData, generation: 1 };
      createSecureContext({ cert: opts.certData, key: opts.keyData });
    } else if (opts.certData || opts.keyData) {
      throw new Error('client certificate data and key data must both be given');
    }
  }

  /** True when a client certificate is configured at all. */
  get present(): boolean {
    return this.material !== undefined;
  }

  /** The current pair, re-reading the files first if they changed since the last check. */
  current(now = Date.now()): ClientCertMaterial | undefined {
    if (this.opts.certFile && now - this.lastCheck >= this.checkIntervalMs) {
      this.lastCheck = now;
      this.reloadFromFiles(false);
    }
    return this.material;
  }

  private reloadFromFiles(initial: boolean): void {
    const certFile = this.opts.certFile!;
    const keyFile = this.opts.keyFile!;
    let stamp: string;
    try {
      stamp =
        certFile === keyFile ? fileIdentity(certFile) : `${fileIdentity(certFile)}|${fileIdentity(keyFile)}`;
    } catch (err) {
      if (initial) throw new Error(`cannot read client certificate: ${(err as Error).message}`);
      this.opts.onError?.(err as Error);
      return;
    }
    if (stamp === this.stamp) return;
    try {
      const certPem = readFileSync(certFile, 'utf8');
      const keyPem = certFile === keyFile ? certPem : readFileSync(keyFile, 'utf8');
      const cert = splitPem(certPem).certs;
      const key = splitPem(keyPem).key;
      if (cert === '') throw new Error(`${certFile}: no CERTIFICATE block`);
      if (key === '') throw new Error(`${keyFile}: no PRIVATE KEY block`);
      // Throws on a key that does not belong to the certificate (a rotation caught half-way).
      createSecureContext({ cert, key });
      const generation = (this.material?.generation ?? 0) + 1;
      this.material = { cert: Buffer.from(cert), key: Buffer.from(key), generation };
      this.stamp = stamp;
      if (!initial) this.opts.onReload?.(generation);
    } catch (err) {
      if (initial) throw err;
      this.opts.onError?.(err as Error);
    }
  }
}
