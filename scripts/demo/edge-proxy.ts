import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LinkStateFile } from '../../lib/link-state.js';
import { type RunningProxy, startProxy } from '../../test/proxy/harness.js';
import type { CertFiles, Simulator } from '../../test/sim/index.js';

export interface EdgeProxyOptions {
  sim: Simulator;
  nodeCert: CertFiles;
  /** Folder for the cache database (and the write queue next to it). */
  dir: string;
  /** Where the proxy publishes the link state (the CNI plugin reads the same file). */
  linkStateFile: string;
}

/**
 * `dist/islet proxy` as a process in front of the cloud, the way a node runs it. It is restarted
 * on the same listen port so clients configured with its URL find it again, as kubelet does with
 * 127.0.0.1:10261; everything else (cache file, link-state file) stays as well.
 */
export class EdgeProxy {
  private running: RunningProxy | undefined;
  /** The logs of the last process, kept after it is gone. */
  private lastLogs: string[] = [];
  private listen = '127.0.0.1:0';
  readonly cachePath: string;

  constructor(private readonly o: EdgeProxyOptions) {
    this.cachePath = join(o.dir, 'cache.db');
  }

  private args(): string[] {
    const { sim, nodeCert } = this.o;
    return [
      ...['--server', sim.url, '--ca', sim.caPath, '--cert', nodeCert.certPath, '--key', nodeCert.keyPath],
      ...['--listen', this.listen, '--admin', '127.0.0.1:0'],
      ...['--cache', this.cachePath, '--link-state', this.o.linkStateFile],
      // Fast probes so the demo's link cut shows within a second; the hysteresis stays on.
      ...['--probe-interval', '200ms', '--probe-timeout', '500ms', '--request-timeout', '3s'],
      ...['--offline-after', '2', '--online-after', '2', '--bookmark-interval', '1s'],
    ];
  }

  async start(): Promise<void> {
    if (this.running) throw new Error('the proxy is already running');
    this.running = await startProxy(this.args());
    this.lastLogs = this.running.logs;
    this.listen = this.running.url.replace(/^http:\/\//, '');
  }

  /** kill -9: no clean shutdown, as when the node loses power. */
  async kill(): Promise<void> {
    const p = this.running;
    this.running = undefined;
    await p?.kill();
  }

  async stop(): Promise<void> {
    const p = this.running;
    this.running = undefined;
    await p?.stop();
  }

  get url(): string {
    return `http://${this.listen}`;
  }

  get pid(): number | undefined {
    return this.running?.proc.pid;
  }

  get logs(): string[] {
    return this.lastLogs;
  }

  private get adminUrl(): string {
    if (!this.running) throw new Error('the proxy is not running');
    return this.running.adminUrl;
  }

  linkState(): LinkStateFile | undefined {
    try {
      return JSON.parse(readFileSync(this.o.linkStateFile, 'utf8')) as LinkStateFile;
    } catch {
      return undefined;
    }
  }

  /** The admin /readyz status: 200 online, 503 offline. */
  async readyz(): Promise<number> {
    return (await fetch(`${this.adminUrl}/readyz`)).status;
  }

  /** Sum of one Prometheus counter's samples whose labels contain every given fragment. */
  async metric(name: string, ...labels: string[]): Promise<number> {
    const text = await (await fetch(`${this.adminUrl}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
      .filter((l) => labels.every((f) => l.includes(f)))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }
}
