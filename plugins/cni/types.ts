/**
 * CNI spec types. Internally every result is held in the 1.x shape (`Result`); `result.ts` converts
 * to and from the wire shape of each supported version.
 */
export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
  [extra: string]: unknown;
}

export interface IpConfig {
  /** CIDR: the address with its prefix length, e.g. "10.22.0.5/24". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IpConfig[];
  routes?: Route[];
  dns?: Dns;
}

/** The network configuration a plugin reads on stdin; unknown fields are kept. */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  args?: Record<string, unknown>;
  runtimeConfig?: Record<string, unknown>;
  capabilities?: Record<string, boolean>;
  ipam?: Record<string, unknown>;
  dns?: Dns;
  prevResult?: unknown;
  [extra: string]: unknown;
}

export type Command = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';

/** What a verb receives: the environment (already validated for the verb) plus stdin. */
export interface CmdArgs {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  /** Raw CNI_ARGS. */
  args: string;
  /** CNI_PATH split on ':'. */
  path: string[];
  stdin: Buffer;
  /** Parsed stdin (a JSON object); undefined only for VERSION. */
  conf: NetConf;
  env: NodeJS.ProcessEnv;
}
