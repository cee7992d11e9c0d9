/**
 * CNI_ARGS: `K1=V1;K2=V2`, order not significant. Kubernetes runtimes send K8S_POD_NAMESPACE,
 * K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID and often IgnoreUnknown=1.
 */
import { CniError, ErrorCode } from './errors.js';

export function parseCniArgs(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === '') return out;
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new CniError(ErrorCode.InvalidEnvironment, `invalid CNI_ARGS pair "${pair}": expected KEY=VALUE`);
    }
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

export interface PodIdentity {
  namespace: string;
  name: string;
  uid: string;
}

/** The pod a sandbox belongs to; fields the runtime did not send are ''. */
export function podIdentity(args: Map<string, string>): PodIdentity {
  return {
    namespace: args.get('K8S_POD_NAMESPACE') ?? '',
    name: args.get('K8S_POD_NAME') ?? '',
    uid: args.get('K8S_POD_UID') ?? '',
  };
}
