/**
 * A private CA per simulator, made with the openssl CLI: the server certificate (127.0.0.1, ::1 and
 * localhost) and client certificates the way kubelet's look (CN=system:node:<name>,
 * O=system:nodes). Keys are P-256 so minting stays fast.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertFiles {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
  /** Hex serial as openssl prints it (upper case), to tell rotated certificates apart. */
  serial: string;
}

export interface Pki {
  dir: string;
  caPath: string;
  caPem: string;
  caKeyPath: string;
  server: CertFiles;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr || e.message}`);
  }
}

async function signed(
  pki: { dir: string; caPath: string; caKeyPath: string },
  base: string,
  subject: string,
  extensions: string,
  days: number,
): Promise<CertFiles> {
  const keyPath = join(pki.dir, `${base}.key`);
  const csrPath = join(pki.dir, `${base}.csr`);
  const certPath = join(pki.dir, `${base}.crt`);
  const extPath = join(pki.dir, `${base}.ext`);
  const serial = randomBytes(16)
    .toString('hex')
    .toUpperCase()
    .replace(/^[89A-F]/, '1');
  await writeFile(extPath, extensions);
  await openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyPath,
    '-subj',
    subject,
    '-out',
    csrPath,
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csrPath,
    '-CA',
    pki.caPath,
    '-CAkey',
    pki.caKeyPath,
    '-set_serial',
    `0x${serial}`,
    '-days',
    String(days),
    '-extfile',
    extPath,
    '-out',
    certPath,
  ]);
  return {
    certPath,
    keyPath,
    certPem: await readFile(certPath, 'utf8'),
    keyPem: await readFile(keyPath, 'utf8'),
    serial,
  };
}

export async function createPki(dir: string): Promise<Pki> {
  const caPath = join(dir, 'ca.crt');
  const caKeyPath = join(dir, 'ca.key');
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    caKeyPath,
    '-out',
    caPath,
    '-days',
    '3650',
    '-subj',
    `/CN=islet-sim-ca-${randomBytes(4).toString('hex')}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  const base = { dir, caPath, caKeyPath };
  const server = await signed(
    base,
    'server',
    '/CN=kube-apiserver',
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n',
    365,
  );
  return { ...base, caPem: await readFile(caPath, 'utf8'), server };
}

let counter = 0;

/**
 * A client certificate signed by the simulator's CA. `subject` overrides the kubelet-style
 * default (e.g. {cn: 'admin', o: ['system:masters']}).
 */
export async function mintClientCert(
  pki: Pki,
  nodeName: string,
  subject?: { cn: string; o?: string[] },
  days = 365,
): Promise<CertFiles> {
  const cn = subject?.cn ?? `system:node:${nodeName}`;
  const orgs = subject ? (subject.o ?? []) : ['system:nodes'];
  const subj = orgs.map((o) => `/O=${o}`).join('') + `/CN=${cn}`;
  const safe = cn.replace(/[^A-Za-z0-9_.-]/g, '_');
  return signed(
    pki,
    `client-${safe}-${++counter}`,
    subj,
    'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n',
    days,
  );
}
