/**
 * Result conversion between the wire shapes of the supported spec versions. 0.3.0, 0.3.1 and 0.4.0
 * share one shape (each IP carries `version: "4" | "6"`, interfaces only name/mac/sandbox);
 * 1.0.0 dropped `version`, 1.1.0 added interface and route attributes. Internally a result is
 * always held in the 1.x shape.
 */

import { isObject } from '../../lib/is-object.js';
import { CniError, ErrorCode } from './errors.js';
import { isIP } from './ip.js';
import type { Dns, Interface, IpConfig, Result, Route } from './types.js';
import { atLeast, requireSupported } from './version.js';

function fail(what: string): never {
  throw new CniError(ErrorCode.DecodingFailure, `invalid CNI result: ${what}`);
}

/** "10.1.2.3/24" → ["10.1.2.3", 24] after checking both halves. */
export function splitCidr(cidr: string): [string, number] {
  const slash = cidr.lastIndexOf('/');
  const ip = slash === -1 ? '' : cidr.slice(0, slash);
  const prefix = slash === -1 ? Number.NaN : Number(cidr.slice(slash + 1));
  const family = isIP(ip);
  const max = family === 4 ? 32 : 128;
  if (
    family === 0 ||
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    !/^\d+$/.test(cidr.slice(slash + 1))
  ) {
    throw new CniError(ErrorCode.DecodingFailure, `invalid CIDR address "${cidr}"`);
  }
  return [ip, prefix];
}

function optionalString(o: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(`${where}.${key} must be a string`);
  return v;
}

function optionalNumber(o: Record<string, unknown>, key: string, where: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${where}.${key} must be a number`);
  return v;
}

function parseInterface(v: unknown, i: number): Interface {
  if (!isObject(v)) fail(`interfaces[${i}] must be an object`);
  if (typeof v.name !== 'string' || v.name === '') fail(`interfaces[${i}].name must be a non-empty string`);
  const out: Interface = { ...v, name: v.name };
  for (const key of ['mac', 'sandbox', 'socketPath', 'pciID']) optionalString(v, key, `interfaces[${i}]`);
  optionalNumber(v, 'mtu', `interfaces[${i}]`);
  return out;
}

function parseIp(v: unknown, i: number, interfaceCount: number): IpConfig {
  if (!isObject(v)) fail(`ips[${i}] must be an object`);
  if (typeof v.address !== 'string') fail(`ips[${i}].address must be a CIDR string`);
  const [ip] = splitCidr(v.address);
  const out: IpConfig = { address: v.address };
  const gateway = optionalString(v, 'gateway', `ips[${i}]`);
  if (gateway !== undefined) {
    if (isIP(gateway) !== isIP(ip))
      fail(`ips[${i}].gateway "${gateway}" is not an address of the same family`);
    out.gateway = gateway;
  }
  const idx = optionalNumber(v, 'interface', `ips[${i}]`);
  if (idx !== undefined) {
    if (!Number.isInteger(idx) || idx < 0 || idx >= interfaceCount) {
      fail(`ips[${i}].interface ${idx} does not index interfaces (${interfaceCount} given)`);
    }
    out.interface = idx;
  }
  return out;
}

function parseRoute(v: unknown, i: number): Route {
  if (!isObject(v)) fail(`routes[${i}] must be an object`);
  if (typeof v.dst !== 'string') fail(`routes[${i}].dst must be a CIDR string`);
  splitCidr(v.dst);
  const out: Route = { dst: v.dst };
  const gw = optionalString(v, 'gw', `routes[${i}]`);
  if (gw !== undefined) {
    if (isIP(gw) === 0) fail(`routes[${i}].gw "${gw}" is not an IP address`);
    out.gw = gw;
  }
  for (const key of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    const n = optionalNumber(v, key, `routes[${i}]`);
    if (n !== undefined) out[key] = n;
  }
  return out;
}

function parseStrings(v: unknown, where: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) fail(`${where} must be an array of strings`);
  return v as string[];
}

function parseDns(v: unknown): Dns | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) fail('dns must be an object');
  const out: Dns = {};
  const nameservers = parseStrings(v.nameservers, 'dns.nameservers');
  if (nameservers) out.nameservers = nameservers;
  const domain = optionalString(v, 'domain', 'dns');
  if (domain !== undefined) out.domain = domain;
  const search = parseStrings(v.search, 'dns.search');
  if (search) out.search = search;
  const options = parseStrings(v.options, 'dns.options');
  if (options) out.options = options;
  return out;
}

function parseArray<T>(v: unknown, key: string, each: (x: unknown, i: number) => T): T[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) fail(`${key} must be an array`);
  return v.map(each);
}

/**
 * Reads a result of any supported version into the 1.x shape. `fallbackVersion` is used when the
 * object carries no cniVersion (prevResult embedded in a config sometimes omits it).
 */
export function parseResult(raw: unknown, fallbackVersion?: string): Result {
  if (!isObject(raw)) fail('not a JSON object');
  const version = raw.cniVersion ?? fallbackVersion;
  if (typeof version !== 'string') fail('cniVersion missing');
  requireSupported(version);
  const interfaces = parseArray(raw.interfaces, 'interfaces', parseInterface);
  const ips = parseArray(raw.ips, 'ips', (v, i) => parseIp(v, i, interfaces?.length ?? 0));
  const routes = parseArray(raw.routes, 'routes', parseRoute);
  const dns = parseDns(raw.dns);
  const out: Result = { cniVersion: version };
  if (interfaces) out.interfaces = interfaces;
  if (ips) out.ips = ips;
  if (routes) out.routes = routes;
  if (dns) out.dns = dns;
  return out;
}

/** The wire object of `result` for `version` (a supported version). */
export function convertResult(result: Result, version: string): Record<string, unknown> {
  requireSupported(version);
  const modern = atLeast(version, '1.0.0');
  const out: Record<string, unknown> = { cniVersion: version };
  if (result.interfaces) {
    out.interfaces = result.interfaces.map((itf) => {
      if (modern) return { ...itf };
      const legacy: Record<string, unknown> = { name: itf.name };
      if (itf.mac !== undefined) legacy.mac = itf.mac;
      if (itf.sandbox !== undefined) legacy.sandbox = itf.sandbox;
      return legacy;
    });
  }
  if (result.ips) {
    out.ips = result.ips.map((ip) => {
      const wire: Record<string, unknown> = {};
      if (!modern) wire.version = isIP(splitCidr(ip.address)[0]) === 6 ? '6' : '4';
      wire.address = ip.address;
      if (ip.gateway !== undefined) wire.gateway = ip.gateway;
      if (ip.interface !== undefined) wire.interface = ip.interface;
      return wire;
    });
  }
  if (result.routes) {
    out.routes = result.routes.map((r) => {
      if (modern) return { ...r };
      const legacy: Record<string, unknown> = { dst: r.dst };
      if (r.gw !== undefined) legacy.gw = r.gw;
      return legacy;
    });
  }
  // libcni always prints dns (Go's omitempty does not drop an empty struct).
  out.dns = result.dns ? { ...result.dns } : {};
  return out;
}

/** The plain addresses of a result, e.g. ["10.22.0.5"]. */
export function resultAddresses(result: Result): string[] {
  return (result.ips ?? []).map((ip) => splitCidr(ip.address)[0]);
}
