/** `islet webhook` flags → a validated configuration. Every flag is listed in HELP. */
import { type FlagSpec, parseFlags, UsageError } from '../lib/args.js';
import { type ListenAddress, parseListenAddress } from '../proxy/cli.js';
import { type LogLevel, parseLogLevel } from '../proxy/log.js';

export const WEBHOOK_HELP = `Usage: islet webhook [flags]

Runs in the cloud (daemonset/cloud/): keeps the node lifecycle controller from evicting the pods of
autonomous nodes (annotation islet.dev/autonomy-duration) during an outage. A mutating admission
webhook sets their NoExecute tolerations at CREATE, a reconciler fixes pods bound later.

  --listen ADDR                 HTTPS listener: /mutate, /healthz, /readyz, /metrics  (default 0.0.0.0:8443)
  --tls-cert FILE               serving certificate (with --tls-key); without them a self-signed
  --tls-key FILE                certificate is made at start and published as the caBundle
  --san NAME                    DNS name or IP of the self-signed certificate; repeat
                                (default islet-webhook.islet-system.svc)
  --webhook-config NAME         MutatingWebhookConfiguration whose caBundle to keep equal to the
                                self-signed certificate; "" leaves it alone     (default islet-webhook)
  --kubeconfig FILE             API access; default the in-cluster service account
  --default-toleration-seconds N  the API server's --default-*-toleration-seconds: tolerations with
                                this value and the default's shape are ours to raise (default 300)
  --log-level LEVEL             debug | info | warn | error                       (default info)
  --help                        this text
`;

const SPEC: FlagSpec = {
  listen: { type: 'string', default: '0.0.0.0:8443' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  san: { type: 'strings', default: ['islet-webhook.islet-system.svc'] },
  'webhook-config': { type: 'string', default: 'islet-webhook' },
  kubeconfig: { type: 'string' },
  'default-toleration-seconds': { type: 'string', default: '300' },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean' },
};

export interface WebhookConfig {
  listen: ListenAddress;
  tls: { certFile: string; keyFile: string } | { selfSigned: string[] };
  webhookConfig: string;
  kubeconfig?: string;
  defaultSeconds: number;
  logLevel: LogLevel;
}

export function parseWebhookArgs(argv: string[]): WebhookConfig | 'help' {
  const { flags, rest } = parseFlags(argv, SPEC);
  if (flags.help) return 'help';
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const cert = flags['tls-cert'] as string | undefined;
  const key = flags['tls-key'] as string | undefined;
  if (!cert !== !key) throw new UsageError('--tls-cert and --tls-key go together');
  const seconds = flags['default-toleration-seconds'] as string;
  if (!/^\d+$/.test(seconds))
    throw new UsageError(`--default-toleration-seconds: "${seconds}" is not a whole number`);
  let logLevel: LogLevel;
  try {
    logLevel = parseLogLevel(flags['log-level'] as string);
  } catch (err) {
    throw new UsageError(`--log-level: ${(err as Error).message}`);
  }
  return {
    listen: parseListenAddress(flags.listen as string, 'listen'),
    tls: cert && key ? { certFile: cert, keyFile: key } : { selfSigned: flags.san as string[] },
    webhookConfig: flags['webhook-config'] as string,
    kubeconfig: flags.kubeconfig as string | undefined,
    defaultSeconds: Number(seconds),
    logLevel,
  };
}
