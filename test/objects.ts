/**
 * Kubernetes objects as the tests create them on an upstream (simulator or real API server): the
 * pods a node runs and the services kube-proxy selects.
 */

/** A pod bound to `node`, labelled app=`app`; `extra` goes into its spec (volumes, ...). */
export function podOn(
  name: string,
  node: string,
  app: string,
  ns: string,
  extra: Record<string, unknown> = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app } },
    spec: {
      nodeName: node,
      containers: [{ name: 'c', image: 'busybox' }],
      ...extra,
    },
  };
}

/** A service selecting app=`name`, labelled `labels`; headless: no cluster IP. */
export function service(name: string, ns: string, labels: Record<string, string>, headless = false) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels },
    spec: { ports: [{ port: 80 }], selector: { app: name }, ...(headless ? { clusterIP: 'None' } : {}) },
  };
}
