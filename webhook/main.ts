/**
 * `islet webhook`: the cloud-side part. One HTTPS listener (admission, health, metrics), the
 * reconciler's watches, and, with a self-signed certificate, a loop that keeps the
 * MutatingWebhookConfiguration's caBundle equal to it. Runs until SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { runService } from '../lib/service-main.js';
import { VERSION } from '../lib/version.js';
import { createLogger, type Logger } from '../proxy/log.js';
import { exposureContentType, MetricsRegistry } from '../proxy/metrics.js';
import { sendStatus } from '../proxy/status.js';
import { handleAdmission } from './admission.js';
import { parseWebhookArgs, WEBHOOK_HELP, type WebhookConfig } from './cli.js';
import { inClusterCredentials, KubeClient, kubeconfigCredentials } from './kube.js';
import { Reconciler } from './reconciler.js';
import { selfSignedCert } from './self-signed.js';

export function main(argv: string[]): Promise<number> {
  return runService(
    { name: 'webhook', help: WEBHOOK_HELP, parse: parseWebhookArgs, createLogger, run },
    argv,
  );
}

/** Keeps every webhook's caBundle in `name` equal to `caPem` (re-checked: a re-apply may reset it). */
async function keepCaBundle(
  client: KubeClient,
  name: string,
  caPem: string,
  log: Logger,
  signal: AbortSignal,
) {
  const want = Buffer.from(caPem).toString('base64');
  const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(name)}`;
  let published = false;
  while (!signal.aborted) {
    try {
      const cfg = await client.request('GET', path);
      const hooks = (cfg.webhooks ?? []) as { clientConfig?: { caBundle?: string } }[];
      const ops = hooks.flatMap((h, i) =>
        h.clientConfig?.caBundle === want
          ? []
          : [
              { op: 'test', path: '/metadata/resourceVersion', value: cfg.metadata.resourceVersion },
              { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want },
            ],
      );
      if (ops.length) {
        // One test op is enough; drop the repeats.
        const patch = [ops[0], ...ops.filter((o) => o.op !== 'test')];
        await client.request('PATCH', path, patch, 'application/json-patch+json');
        log.info('caBundle published', { webhookConfiguration: name, webhooks: hooks.length });
      }
      published = true;
    } catch (err) {
      log.warn('cannot publish caBundle; retrying', { webhookConfiguration: name, error: err });
    }
    await new Promise((r) => setTimeout(r, published ? 30_000 : 2_000).unref());
  }
}

async function run(config: WebhookConfig, log: Logger): Promise<number> {
  const client = new KubeClient(
    config.kubeconfig ? kubeconfigCredentials(config.kubeconfig) : inClusterCredentials(),
  );
  const registry = new MetricsRegistry();
  const reviews = registry.counter('islet_webhook_admission_reviews_total', 'Admission reviews answered.', [
    'operation',
    'result',
  ]);
  const patches = registry.counter(
    'islet_webhook_pod_patches_total',
    'Reconciler PATCHes of pod tolerations.',
    ['result'],
  );
  const synced = registry.gauge('islet_webhook_cache_synced', 'Whether the node and pod caches are synced.');
  const reconciler = new Reconciler(
    client,
    config.defaultSeconds,
    patches,
    log.child({ part: 'reconciler' }),
  );
  synced.onCollect(() => synced.set({}, reconciler.synced ? 1 : 0));

  let tls: { cert: string | Buffer; key: string | Buffer };
  let selfSignedPem: string | undefined;
  if ('certFile' in config.tls) {
    tls = { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) };
  } else {
    const made = selfSignedCert(config.tls.selfSigned);
    tls = { cert: made.certPem, key: made.keyPem };
    selfSignedPem = made.certPem;
  }

  const deps = {
    autonomyOf: (n: string) => reconciler.autonomyOf(n),
    defaultSeconds: config.defaultSeconds,
    reviews,
    log,
  };
  const server = https.createServer(
    { ...tls, requestTimeout: 30_000, headersTimeout: 10_000 },
    (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/mutate') {
        void handleAdmission(req, res, deps);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        sendStatus(res, 405, '', `${req.method} ${path} is not allowed`);
      } else if (path === '/metrics') {
        res.writeHead(200, { 'Content-Type': exposureContentType }).end(registry.exposition());
      } else if (path === '/healthz' || path === '/livez') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const ok = reconciler.synced;
        res
          .writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' })
          .end(ok ? 'ok\n' : 'caches not synced\n');
      } else sendStatus(res, 404, '', `${path} not found (the webhook serves /mutate)`);
    },
  );
  // A broken TLS handshake or request line must cost the peer its connection, nothing more.
  server.on('clientError', (err, socket) => {
    log.debug('client error', { error: err });
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, resolve);
  });
  const addr = server.address() as AddressInfo;
  const abort = new AbortController();
  const running = reconciler.run(abort.signal);
  if (selfSignedPem && config.webhookConfig)
    void keepCaBundle(client, config.webhookConfig, selfSignedPem, log, abort.signal);
  log.info('listening', {
    version: VERSION,
    listen: `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`,
    selfSigned: selfSignedPem !== undefined,
  });

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('stopping');
  abort.abort();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await running;
  client.close();
  return 0;
}
