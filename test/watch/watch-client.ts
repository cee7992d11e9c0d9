/**
 * A raw watch client for tests: one HTTP GET ?watch=1, every event line parsed and kept, and
 * whether the stream ended cleanly (terminating chunk) or broke.
 */
import http from 'node:http';

export interface SeenEvent {
  type: string;
  object: {
    kind?: string;
    metadata?: {
      name?: string;
      namespace?: string;
      resourceVersion?: string;
      annotations?: Record<string, string>;
    };
    code?: number;
    [k: string]: unknown;
  };
}

export interface WatchClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SeenEvent[];
  /** 'open' while streaming; 'ended' after a clean end; 'broken' after an error/abort. */
  state(): 'open' | 'ended' | 'broken';
  ended: Promise<'ended' | 'broken'>;
  names(type?: string): string[];
  close(): void;
}

export function openWatch(
  baseUrl: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<WatchClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${baseUrl}${path}`,
      { headers: { accept: 'application/json', ...headers } },
      (res) => {
        const events: SeenEvent[] = [];
        let state: 'open' | 'ended' | 'broken' = 'open';
        let pending = '';
        res.setEncoding('utf8');
        const ended = new Promise<'ended' | 'broken'>((done) => {
          res.on('data', (chunk: string) => {
            pending += chunk;
            let nl = pending.indexOf('\n');
            while (nl !== -1) {
              const line = pending.slice(0, nl).trim();
              pending = pending.slice(nl + 1);
              if (line) events.push(JSON.parse(line) as SeenEvent);
              nl = pending.indexOf('\n');
            }
          });
          res.on('end', () => {
            if (state === 'open') state = 'ended';
            done(state === 'ended' ? 'ended' : 'broken');
          });
          res.on('error', () => {
            state = 'broken';
            done('broken');
          });
          res.on('close', () => {
            if (state === 'open' && !res.complete) state = 'broken';
            done(state === 'ended' ? 'ended' : 'broken');
          });
        });
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          events,
          state: () => state,
          ended,
          names: (type) =>
            events
              .filter((e) => (type ? e.type === type : e.type !== 'BOOKMARK'))
              .map((e) => e.object.metadata?.name ?? ''),
          close: () => {
            state = 'broken';
            req.destroy();
          },
        });
      },
    );
    req.on('error', reject);
  });
}
