/**
 * islet's Kubernetes API server simulator: the upstream the proxy is tested against (there is no
 * kube-apiserver binary on these machines). In-process for vitest, standalone via main.ts.
 *
 *   import { startSimulator } from '../test/sim/index.js';
 *
 *   const sim = await startSimulator();          // HTTPS on 127.0.0.1:<ephemeral>, its own CA
 *   const cert = await sim.mintClientCert('node-a');  // CN=system:node:node-a, O=system:nodes
 *   const kubeconfig = await sim.writeKubeconfig({ cert }); // for kubectl / client-node
 *   sim.create('pods', { metadata: { name: 'p', namespace: 'default' }, spec: {...} });
 *   ...
 *   await sim.close();                            // in afterAll
 *
 * Options (startSimulator(opts), all optional): tls (default true; false = plain HTTP, anonymous
 * allowed), host, port (0), tokens {token: user | {user, groups}}, anonymous, bookmarkIntervalMs
 * (1000), defaultWatchTimeoutSeconds (1800), historyLimit (unlimited; when set, older changes are
 * compacted automatically),
 * podGracefulDeletion (false), maxBodyBytes (3 MiB), aggregatedDiscovery (true), compression (true:
 * gzip for bodies >= 128 KiB when the client sends Accept-Encoding: gzip, as kube-apiserver does),
 * requestLogLimit (10000), tooLargeResourceVersionWaitMs (3000).
 *
 * Network and credentials:
 *   sim.url, sim.port, sim.caPath, sim.caPem, sim.dir (temp dir, removed by close())
 *   await sim.mintClientCert(name, {subject?: {cn, o?}, days?}) → {certPath, keyPath, certPem, keyPem, serial}
 *     (every call is a new key + serial: mint again to rotate; revokeClientCert(old) to make the old one 401)
 *   sim.revokeClientCert(certOrSerial); sim.addToken(token, user, groups?)
 *   await sim.writeKubeconfig({cert?, token?, path?}) → path
 *   Requests without a valid client certificate or known bearer token get 401 Status (except
 *   /healthz, /livez, /readyz, /version, readable anonymously as in a real cluster).
 *
 * Controls:
 *   await sim.stop() / await sim.start()   close the port (connections reset) / listen again on the same port
 *   await sim.partition('refuse'|'blackhole'), await sim.heal()
 *     refuse: port closed, sockets destroyed. blackhole: connections accepted, requests never
 *     answered, open watches go silent; heal() resets the stuck connections and silent watches.
 *     The state stays and can be changed through the methods below meanwhile.
 *   sim.setLatency(ms)                      delay before every request is handled
 *   sim.dropWatches({graceful?, match?})    cut open watches (all or those matching a WatchKey; graceful:
 *                                           clean end); returns how many
 *   sim.compact(rv?)                        forget history up to rv (default now): older RVs → 410
 *   sim.throttle(nextN, retryAfterSeconds, match?)  next N matching requests → 429 + Retry-After;
 *                                           returns a function that lifts it early
 *     (probes /healthz, /livez, /readyz are never throttled)
 *   const lift = sim.deny(filter)           matching requests → 403 Forbidden (RBAC-style message) until lift()
 *   const b = await sim.replica({port?})    a second API server of the same cluster (shared store, CA,
 *                                           credentials; own port, controls, counters): HA upstreams
 *
 * State, bypassing HTTP (events reach watchers exactly as for HTTP writes). `ref` is 'pods', 'po',
 * 'Pod', 'leases.coordination.k8s.io', 'events.k8s.io/v1/events' or {group, resource}:
 *   sim.create(ref, obj)                    namespace from obj.metadata.namespace ('default'); creates
 *                                           missing namespaces; keeps .status as given
 *   sim.update(ref, obj, {subresource?})    409 StatusError on a stale metadata.resourceVersion
 *   sim.patch(ref, name, patch, {namespace?, type?: 'merge'|'strategic'|'json', subresource?})
 *   sim.delete(ref, name, {namespace?, gracePeriodSeconds?, preconditions?})
 *   sim.get(ref, name, namespace?)          → object | undefined
 *   sim.list(ref, {namespace?, labelSelector?, fieldSelector?, resourceVersion?, resourceVersionMatch?, limit?, continue?})
 *   sim.resourceVersion, sim.compactedResourceVersion, sim.store (SimStore: subscribe(change => ...))
 *   Errors are StatusError {code, reason, message} (e.g. 404 NotFound, 409 Conflict/AlreadyExists).
 *
 * Observation (counters are exact; a filter/key field left out matches everything):
 *   sim.requestCount({verb?, group?, resource?, subresource?, namespace?, labelSelector?, fieldSelector?, user?, path?})
 *   sim.listCount({resource, namespace?, labelSelector?, fieldSelector?, group?, user?})
 *   sim.watchCount(key) → {opened, open}    opened in total / open right now
 *   sim.bytesSent(filter?)                  response body bytes as sent (after gzip; watch streams included)
 *   sim.requests                            log of RequestRecord {method, path, query, verb, resource,
 *                                           namespace, name, identity {user, groups, via, certSerial},
 *                                           userAgent, accept, contentType, status, bytes}
 *   sim.resetCounters()
 *
 * Raw client helpers for tests: rawRequest(url, {ca?, cert?, token?}, method, path, body?, headers?)
 * → {status, headers, body, json}; rawWatch(url, auth, path) → RawWatch with next()/nextChange()/
 * ended/close().
 *
 * What it models (kube-apiserver 1.32): discovery (legacy and aggregated v2/v2beta1), /version,
 * health; core v1 pods (+status), nodes (+status), services (+status), endpoints, configmaps,
 * secrets, namespaces (+status), events; discovery.k8s.io/v1 endpointslices; coordination.k8s.io/v1
 * leases; events.k8s.io/v1 events. One global resourceVersion; create/get/update/delete/
 * deletecollection/patch (merge, strategic merge, JSON patch) with the API server's Status errors,
 * registry defaults (pod status Pending + qosClass on HTTP create, service cluster IPs, namespace
 * phase), finalizers, graceful pod deletion (opt-in) and ownerReferences garbage collection;
 * LIST resourceVersion semantics ("" / "0" / NotOlderThan / Exact, "0" ignores limit as the 1.32
 * watch cache does), limit/continue (410 when the continue token's revision was compacted), label
 * and field selectors; WATCH from a history log with selector transitions, BOOKMARKs,
 * sendInitialEvents, timeoutSeconds, and 410 Expired as an ERROR event for compacted
 * resourceVersions. Accept `as=Table` (kubectl's printing; columns of the real printers) and
 * `as=PartialObjectMetadata[List]` are honoured for get/list/watch; every response has an Audit-Id.
 * Protobuf request bodies are decoded for Lease, core Event, ConfigMap, Secret and Namespace
 * (kubelet's and kubectl's typed writes); other kinds in protobuf get 415. Responses are JSON.
 * Not modelled: server-side apply (415), authorization beyond deny(), events.k8s.io/v1 and core
 * Events sharing storage (they are separate here).
 * See docs/readme/sim.md.
 */

export {
  type ClientAuth,
  type RawResponse,
  RawWatch,
  rawRequest,
  rawWatch,
  type WatchEventLine,
} from './client.js';
export type { Identity, RequestRecord, TrafficFilter, WatchKey } from './counters.js';
export type { SimMeta, SimObject } from './object.js';
export { applyPatch, jsonPatch, mergePatch, PATCH_TYPES, strategicMerge } from './patch.js';
export type { CertFiles } from './pki.js';
export { decodeProtobufObject, PROTOBUF } from './protobuf.js';
export { RESOURCES, type ResourceRef, resolveResource, type SimResource } from './resources.js';
export { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
export {
  type PartitionMode,
  type PatchType,
  Simulator,
  type SimulatorOptions,
  startSimulator,
} from './simulator.js';
export { errors, StatusError, type StatusObject } from './status.js';
export type { Change, DeleteOptions, ListQuery, ListResult } from './store.js';
export { SimStore } from './store.js';
