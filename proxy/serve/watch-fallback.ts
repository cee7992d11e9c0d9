import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiVersionOf, resourceFacts } from '../gvr.js';
import type { CacheStoreApi, Gvr, RequestInfo, WatchEvent } from '../types.js';

/**
 * Watches when no WatchHub is wired: online they are relayed from upstream with every event teed
 * into the store; offline they are held open with BOOKMARKs (when allowed) and closed at
 * timeoutSeconds with jitter so clients do not all reconnect at once.
 */

/** The API server's default watch timeout when the client gives none: 30 min, jittered up to 2x. */
const DEFAULT_TIMEOUT_SECONDS = 1800;

export function watchDeadlineMs(info: RequestInfo, random: () => number = Math.random): number {
  if (info.timeoutSeconds !== undefined && info.timeoutSeconds > 0) {
    // Up to +10% so watchers that started together do not all come back in the same second.
    return info.timeoutSeconds * 1000 * (1 + 0.1 * random());
  }
  return DEFAULT_TIMEOUT_SECONDS * 1000 * (1 + random());
}

/** Splits a newline-delimited stream of watch events, calling `onEvent` for each complete line. */
export class WatchLineSplitter {
  private rest = '';
  constructor(private readonly onEvent: (ev: WatchEvent) => void) {}

  push(chunk: Buffer): void {
    const text = this.rest + chunk.toString('utf8');
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        const ev = JSON.parse(line) as WatchEvent;
        if (ev && typeof ev.type === 'string' && ev.object && typeof ev.object === 'object') this.onEvent(ev);
      } catch {
        // A line we cannot parse is the client's business; the cache just does not learn from it.
      }
    }
  }
}

export function holdOfflineWatch(
  req: IncomingMessage,
  res: ServerResponse,
  info: RequestInfo,
  store: CacheStoreApi,
  bookmarkIntervalMs: number,
): void {
  const gvr: Gvr = { group: info.group, version: info.version, resource: info.resource };
  const facts = resourceFacts(gvr);
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
  res.flushHeaders();
  const bookmark = () => {
    const rv = store.resourceVersion(gvr) || info.resourceVersion || '0';
    const ev: WatchEvent = {
      type: 'BOOKMARK',
      object: {
        apiVersion: apiVersionOf(gvr),
        kind: facts?.kind ?? '',
        metadata: { name: '', resourceVersion: rv },
      },
    };
    res.write(`${JSON.stringify(ev)}\n`);
  };
  const timers: NodeJS.Timeout[] = [];
  if (info.allowWatchBookmarks) timers.push(setInterval(bookmark, bookmarkIntervalMs));
  timers.push(setTimeout(() => res.end(), watchDeadlineMs(info)));
  const stop = () => {
    for (const t of timers) clearTimeout(t);
  };
  res.once('close', stop);
  req.once('close', stop);
}
