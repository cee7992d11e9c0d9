import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { runService } from '../lib/service-main.js';
import { VERSION } from '../lib/version.js';
import { collectUpstreamStats, createAdminServer } from './admin.js';
import { CacheStore } from './cache/store.js';
import { CacheWriter } from './cache/writer.js';
import { type ListenAddress, PROXY_HELP, type ProxyConfig, parseProxyArgs } from './cli.js';
import { createLogger, type Logger } from './log.js';
import { collectCacheStats, createProxyMetrics } from './metrics.js';
import { answerClientError } from './serve/client-error.js';
import { relearnDiscovery } from './serve/recorded.js';
import { ProxyServer } from './server.js';
import { ClientCertSource } from './upstream/client-cert.js';
import { ApiServerPool } from './upstream/pool.js';
import { WatchHub } from './watch/hub.js';
import { WritePolicy } from './writes/policy.js';

/**
 * `islet proxy`: wires the parts together (entry → domain → stores) and runs until SIGTERM/SIGINT.
 * Start-up order matters for the offline-reboot case: the cache opens and the first probe round
 * decides the link state before the listeners accept anything.
 */
export function main(argv: string[]): Promise<number> {
  return runService({ name: 'proxy', help: PROXY_HELP, parse: parseProxyArgs, createLogger, run }, argv);
}

function readMaybe(path: string | undefined, what: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** A token file re-read when it changes (projected service-account tokens rotate). */
function tokenSource(config: ProxyConfig): (() => string | undefined) | undefined {
  const { token, tokenFile } = config.upstream;
  if (token) return () => token;
  if (!tokenFile) return undefined;
  let stamp = '';
  let value: string | undefined;
  return () => {
    try {
      const st = statSync(tokenFile);
      const now = `${st.ino}:${st.mtimeMs}:${st.size}`;
      if (now !== stamp) {
        value = readFileSync(tokenFile, 'utf8').trim();
        stamp = now;
      }
    } catch {
      // Keep the last token we could read.
    }
    return value;
  };
}

function listen(server: http.Server, addr: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    });
  });
}

async function run(config: ProxyConfig, logger: Logger): Promise<number> {
  const up = config.upstream;
  const ca = up.caData ?? readMaybe(up.caFile, 'CA bundle');
  const hasCert = up.certFile !== undefined || up.certData !== undefined;
  const clientCert = hasCert
    ? new ClientCertSource({
        ...(up.certFile ? { certFile: up.certFile, keyFile: up.keyFile ?? up.certFile } : {}),
        ...(up.certData ? { certData: up.certData, keyData: up.keyData } : {}),
        onReload: (generation) => logger.info('client certificate reloaded', { generation }),
        onError: (err) => logger.warn('client certificate not reloaded', { error: err }),
      })
    : undefined;
  const nodeToken = tokenSource(config);

  const metrics = createProxyMetrics();
  const pool = new ApiServerPool({
    servers: up.servers,
    ...(ca ? { ca } : {}),
    ...(up.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}),
    ...(clientCert ? { clientCert } : {}),
    ...(nodeToken ? { nodeToken } : {}),
    lb: config.lb,
    probeIntervalMs: config.probeIntervalMs,
    probeTimeoutMs: config.probeTimeoutMs,
    offlineAfter: config.offlineAfter,
    onlineAfter: config.onlineAfter,
    requestTimeoutMs: config.requestTimeoutMs,
    linkStatePath: config.linkStatePath,
    logger: logger.child({ component: 'upstream' }),
  });
  collectUpstreamStats(pool, metrics);

  const store = new CacheStore({
    path: config.cachePath,
    persistSecrets: !config.excludeSecrets,
    // The cache is only a cache: a damaged file costs its contents (refilled online), never the proxy.
    onCorrupt: (e) => {
      metrics.cacheCorrupt.inc({ phase: e.phase });
      logger.error('cache database damaged: set aside, continuing with an empty cache', {
        path: e.path,
        movedTo: e.movedTo,
        phase: e.phase,
        error: e.error,
        ...(e.checkMs === undefined ? {} : { checkMs: e.checkMs }),
      });
    },
  });
  collectCacheStats(metrics, () => store.stats());
  // Custom resources learned from discovery before a restart are known again before any fetch.
  const relearned = relearnDiscovery(store.rawAnswers());
  if (relearned > 0)
    logger.info('resource facts relearned from recorded discovery', { resources: relearned });
  const writer = new CacheWriter({ store, logger: logger.child({ component: 'cache' }) });

  await pool.start();

  const hub = new WatchHub({
    store,
    pool,
    logger,
    metrics: metrics.registry,
    bookmarkIntervalMs: config.bookmarkIntervalMs,
    memoryBudgetBytes: config.memoryBudgetBytes,
    maxWatchesPerIdentity: config.maxWatchesPerIdentity,
    graceMs: config.watchGraceMs,
  });
  const writes = new WritePolicy({
    db: join(dirname(config.cachePath), 'writes.db'),
    store,
    hub,
    pool,
    log: logger.child({ component: 'writes' }),
    registry: metrics.registry,
  });

  const server = new ProxyServer({
    pool,
    store,
    writer,
    hub,
    writes,
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
  });

  const servers: http.Server[] = [];
  const plain = http.createServer({ keepAliveTimeout: 65_000 }, server.handleRequest);
  plain.on('upgrade', server.handleUpgrade);
  plain.on('clientError', answerClientError);
  servers.push(plain);
  const bound: Record<string, string> = { listen: await listen(plain, config.listen) };
  if (config.httpsListen) {
    const secure = https.createServer(
      { cert: config.httpsListen.cert, key: config.httpsListen.key, keepAliveTimeout: 65_000 },
      server.handleTokenRequest,
    );
    secure.on('upgrade', server.handleTokenUpgrade);
    secure.on('clientError', answerClientError);
    servers.push(secure);
    bound.https = await listen(secure, config.httpsListen.address);
  }
  if (config.admin) {
    const admin = createAdminServer({ pool, metrics });
    servers.push(admin);
    bound.admin = await listen(admin, config.admin);
  }
  // Always printed, whatever --log-level: supervisors and tests read the bound ports from it.
  createLogger({ level: 'info', fields: { component: 'proxy' } }).info('listening', {
    ...bound,
    version: VERSION,
    upstreams: up.servers,
    link: pool.isOnline() ? 'online' : 'offline',
    cache: config.cachePath,
  });

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info('shutting down', { signal });
  for (const s of servers) {
    s.close();
    // Watches never end on their own; a clean stop closes them (clients re-watch elsewhere).
    s.closeAllConnections();
  }
  await hub.close();
  writes.close();
  await pool.close();
  await writer.close();
  store.close();
  logger.info('stopped');
  return 0;
}
