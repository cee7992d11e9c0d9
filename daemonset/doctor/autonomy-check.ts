/**
 * Whether the cloud keeps this node's pods through an outage: the node object's
 * `islet.dev/autonomy-duration` opt-in (webhook/autonomy.ts), read through the proxy as kubelet
 * reads it, so the answer is the same online and offline (from the proxy's cache).
 */
import { AUTONOMY_KEY, type NodeMeta, nodeAutonomy } from '../../webhook/autonomy.js';
import type { Finding } from './report.js';

export async function checkAutonomy(proxyUrl: string, nodeName: string): Promise<Finding> {
  const url = `${proxyUrl.replace(/\/+$/, '')}/api/v1/nodes/${encodeURIComponent(nodeName)}`;
  let node: NodeMeta;
  try {
    const res = await fetch(url, {
      headers: { Accept: 'application/json' },
      signal: AbortSignal.timeout(3000),
    });
    if (res.status !== 200) {
      return {
        id: 'autonomy',
        status: 'warn',
        summary: `node ${nodeName} could not be read through the proxy (HTTP ${res.status})`,
        hint: 'pass --node-name when the node is not named after the host',
        data: { node: nodeName, status: res.status },
      };
    }
    node = (await res.json()) as NodeMeta;
  } catch (err) {
    return {
      id: 'autonomy',
      status: 'warn',
      summary: `node ${nodeName} could not be read through the proxy ${proxyUrl} (${(err as Error).cause ?? (err as Error).message})`,
      data: { node: nodeName },
    };
  }
  let invalid: string | undefined;
  const a = nodeAutonomy(node, (value, err) => {
    invalid = `${AUTONOMY_KEY}=${JSON.stringify(value)} is not a duration (${err.message})`;
  });
  if (!a.autonomous) {
    return {
      id: 'autonomy',
      status: 'warn',
      summary: invalid ?? `node ${nodeName} is not autonomous: no ${AUTONOMY_KEY} annotation`,
      hint: 'during an outage longer than the pods\u2019 default toleration (300 s) the cloud evicts them; see README "Long outages"',
      data: { node: nodeName, autonomous: false },
    };
  }
  return {
    id: 'autonomy',
    status: 'ok',
    summary:
      a.seconds === undefined
        ? `node ${nodeName} is autonomous without limit: the cloud keeps its pods through any outage`
        : `node ${nodeName} is autonomous for ${a.seconds} s: the cloud keeps its pods through outages that long`,
    data: { node: nodeName, autonomous: true, seconds: a.seconds ?? null },
  };
}
