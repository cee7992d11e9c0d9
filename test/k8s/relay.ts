/**
 * The node's "WAN link" in tests against the real API server: a TCP relay on loopback in front of
 * kube-apiserver. The real server cannot be partitioned from one client, so tests cut this relay
 * instead, with the same two modes the simulator offers:
 *   refuse    the port closes and every relayed connection is reset (a dead link, RST/ECONNREFUSED)
 *   blackhole connections are accepted and nothing flows either way (a silent link: timeouts)
 * heal() resets the stuck connections of a blackhole, as a NAT box losing its state would, and
 * relays again on the same port.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type LinkMode = 'up' | 'refuse' | 'blackhole';

export class Relay {
  private server: Server | undefined;
  private readonly pairs = new Set<{ down: Socket; up?: Socket }>();
  private mode: LinkMode = 'up';
  port = 0;
  /** Connections accepted since start (the node's reconnects show here). */
  accepted = 0;
  /** Bytes relayed from the API server to its clients (TLS records, every request). */
  bytesDown = 0;

  constructor(
    private readonly target: { host: string; port: number },
    private readonly host = '127.0.0.1',
  ) {}

  get url(): string {
    return `https://${this.host}:${this.port}`;
  }

  get state(): LinkMode {
    return this.mode;
  }

  async start(): Promise<void> {
    const server = createServer((down) => this.accept(down));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  private accept(down: Socket): void {
    this.accepted++;
    const pair: { down: Socket; up?: Socket } = { down };
    this.pairs.add(pair);
    const drop = () => {
      pair.down.destroy();
      pair.up?.destroy();
      this.pairs.delete(pair);
    };
    down.on('error', drop);
    down.on('close', drop);
    if (this.mode === 'blackhole') {
      down.pause(); // accepted, never answered
      return;
    }
    const up = createConnection(this.target);
    pair.up = up;
    up.on('error', drop);
    up.on('close', drop);
    up.on('data', (chunk: Buffer) => {
      this.bytesDown += chunk.length;
    });
    down.pipe(up);
    up.pipe(down);
  }

  /** Cut the link. */
  async partition(mode: 'refuse' | 'blackhole'): Promise<void> {
    this.mode = mode;
    if (mode === 'refuse') {
      await this.closeAll('reset');
      return;
    }
    // Silence: nothing more flows on the open connections either.
    for (const p of this.pairs) {
      p.down.unpipe();
      p.up?.unpipe();
      p.down.pause();
      p.up?.pause();
    }
  }

  /** Restore the link on the same port. */
  async heal(): Promise<void> {
    const was = this.mode;
    this.mode = 'up';
    if (was === 'blackhole') {
      for (const p of this.pairs) {
        p.down.resetAndDestroy();
        p.up?.destroy();
      }
      this.pairs.clear();
    }
    if (!this.server) await this.start();
  }

  /** Stops listening and ends every relayed connection; 'reset' ends them as a dead link does (RST). */
  private async closeAll(how: 'reset' | 'close'): Promise<void> {
    const server = this.server;
    this.server = undefined;
    // server.close() waits for open connections, so end them in the same tick.
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined;
    for (const p of this.pairs) {
      if (how === 'reset') p.down.resetAndDestroy();
      else p.down.destroy();
      p.up?.destroy();
    }
    this.pairs.clear();
    await closed;
  }

  async close(): Promise<void> {
    await this.closeAll('close');
  }
}
