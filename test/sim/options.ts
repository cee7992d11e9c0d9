/** What startSimulator() accepts; every field is optional. */
export interface SimulatorOptions {
  /** Serve HTTPS with client-certificate auth (default true); false serves plain HTTP. */
  tls?: boolean;
  /** Listen address (default 127.0.0.1) and port (default 0: an ephemeral port, kept across stop/start). */
  host?: string;
  port?: number;
  /** Bearer tokens accepted, token → user name (or {user, groups}). */
  tokens?: Record<string, string | { user: string; groups?: string[] }>;
  /** Let unauthenticated requests through as system:anonymous (default: true without TLS, false with). */
  anonymous?: boolean;
  /** BOOKMARK period for watches that allow them (default 1000 ms). */
  bookmarkIntervalMs?: number;
  /** Watch timeout when the client gives none (default 1800 s, the API server's minRequestTimeout). */
  defaultWatchTimeoutSeconds?: number;
  /** Keep at most this many changes in history (older ones are compacted; default unlimited). */
  historyLimit?: number;
  /** Pods bound to a node are deleted gracefully (deletionTimestamp first), as with a real kubelet (default false). */
  podGracefulDeletion?: boolean;
  /** Request body limit (default 3 MiB, as kube-apiserver). */
  maxBodyBytes?: number;
  /** Answer aggregated discovery when asked (default true); false always answers the legacy documents. */
  aggregatedDiscovery?: boolean;
  /** Request log entries kept (default 10,000; counters are exact regardless). */
  requestLogLimit?: number;
  /** Gzip responses of 128 KiB or more when the client accepts gzip, as kube-apiserver does (default true). */
  compression?: boolean;
  /** How long a read for a future resourceVersion waits before 504 (default 3000 ms). */
  tooLargeResourceVersionWaitMs?: number;
}
