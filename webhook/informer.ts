/**
 * List+watch into a local cache, the client-go informer pattern in small: list (paged), then watch
 * from the list's resourceVersion with bookmarks; a 410 or a broken stream relists after a backoff,
 * and a relist reports the objects that disappeared meanwhile as deletions.
 */
import type { Logger } from '../proxy/log.js';
import { ApiError, type KubeClient } from './kube.js';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export type InformerEvent = 'upsert' | 'delete';

export function objectKey(o: KubeObject): string {
  const m = o.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : (m.name ?? '');
}

export class Informer<T extends KubeObject> {
  readonly items = new Map<string, T>();
  synced = false;
  private backoffMs = 500;

  constructor(
    private readonly client: KubeClient,
    /** A collection path, e.g. /api/v1/nodes, optionally with a fieldSelector. */
    private readonly path: string,
    private readonly onEvent: (type: InformerEvent, obj: T, old: T | undefined) => void,
    private readonly log: Logger,
  ) {}

  private url(extra: string): string {
    return `${this.path}${this.path.includes('?') ? '&' : '?'}${extra}`;
  }

  private async list(): Promise<string> {
    const seen = new Map<string, T>();
    let cont = '';
    let rv = '';
    do {
      const page = await this.client.request(
        'GET',
        this.url(`limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`),
      );
      for (const item of (page.items ?? []) as T[]) seen.set(objectKey(item), item);
      cont = page.metadata?.continue ?? '';
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    for (const [k, old] of this.items) {
      if (!seen.has(k)) {
        this.items.delete(k);
        this.onEvent('delete', old, old);
      }
    }
    for (const [k, obj] of seen) {
      const old = this.items.get(k);
      this.items.set(k, obj);
      this.onEvent('upsert', obj, old);
    }
    return rv;
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        let rv = await this.list();
        this.synced = true;
        this.backoffMs = 500;
        for (;;) {
          if (signal.aborted) return;
          let expired = false;
          await this.client.watch(
            this.url(`watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=${rv}`),
            (e) => {
              const obj = e.object as T & { code?: number };
              if (e.type === 'ERROR') {
                expired = true;
                return;
              }
              if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
              if (e.type === 'BOOKMARK') return;
              const k = objectKey(obj);
              const old = this.items.get(k);
              if (e.type === 'DELETED') {
                this.items.delete(k);
                this.onEvent('delete', obj, old);
              } else {
                this.items.set(k, obj);
                this.onEvent('upsert', obj, old);
              }
            },
            signal,
          );
          if (expired) break; // relist
        }
      } catch (err) {
        if (signal.aborted) return;
        this.log.warn('list/watch failed; retrying', {
          path: this.path,
          error: err,
          status: err instanceof ApiError ? err.status : undefined,
          retryMs: this.backoffMs,
        });
        await new Promise((r) => setTimeout(r, this.backoffMs));
        this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
      }
    }
  }
}
