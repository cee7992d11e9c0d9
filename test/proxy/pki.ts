import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A throw-away PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1 and client
 * certificates with a chosen CN/O, the way kubeadm issues kubelet's (CN=system:node:NAME,
 * O=system:nodes).
 */
export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
}

/** `islet proxy` flags for an HTTPS listener on an ephemeral loopback port, serving this PKI's certificate. */
export function httpsListenerArgs(pki: Pki): string[] {
  return ['--https-listen', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey];
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createPki(dir: string): Pki {
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey], dir);
  openssl(
    ['req', '-x509', '-new', '-key', caKey, '-subj', '/CN=islet-test-ca', '-days', '2', '-out', caCert],
    dir,
  );
  const serverKey = join(dir, 'server.key');
  const serverCert = join(dir, 'server.crt');
  issue(
    dir,
    caCert,
    caKey,
    'server',
    '/CN=kube-apiserver',
    serverCert,
    serverKey,
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  );
  return { dir, caCert, caKey, serverCert, serverKey };
}

function issue(
  dir: string,
  caCert: string,
  caKey: string,
  name: string,
  subject: string,
  certOut: string,
  keyOut: string,
  ext: string,
): void {
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext}\n`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyOut], dir);
  openssl(['req', '-new', '-key', keyOut, '-subj', subject, '-out', csr], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      extFile,
      '-out',
      certOut,
    ],
    dir,
  );
}

/** Issues a client certificate; returns the cert and key paths and a combined PEM path (kubeadm style). */
export function issueClientCert(pki: Pki, name: string, cn: string, org = 'system:nodes') {
  const cert = join(pki.dir, `${name}.crt`);
  const key = join(pki.dir, `${name}.key`);
  issue(pki.dir, pki.caCert, pki.caKey, name, `/O=${org}/CN=${cn}`, cert, key, 'extendedKeyUsage=clientAuth');
  const combined = join(pki.dir, `${name}.pem`);
  writeFileSync(combined, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  return { cert, key, combined };
}
