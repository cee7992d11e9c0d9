/**
 * The CNI configuration side of the installer: which file the runtime uses, and how islet is
 * woven into it (design.md §3): the main plugin's IPAM wrapped as
 * `{"type":"islet","delegate":<original ipam>}`, and `{"type":"islet"}` last in the list as the
 * chained recorder only when asked for (design.md "Shipping": no runtime's Kubernetes pod
 * lifecycle calls CHECK, the only reader of its record, and it costs a Node start per pod start
 * and stop). A configuration converges on what is asked: the recorder an earlier install chained
 * is removed when it is no longer wanted.
 * Everything here is pure: text in, text out; install.ts does the file work.
 */
import { basename, extname } from 'node:path';

/** libcni's ConfFiles: these extensions, sorted by name; the first one is the active network. */
export const CNI_CONFIG_EXTENSIONS = ['.conf', '.conflist', '.json'];

/** Suffix of the original `.conf` once upgraded: no extension libcni would pick. */
export const ASIDE_SUFFIX = '.islet-orig';

/**
 * IPAMs islet can wrap safely: they allocate from local state and honour a requested IP, so a
 * replayed snapshot can be adopted back. Datastore IPAMs (calico-ipam, whereabouts, azure...) own
 * their allocations in the cloud; replaying behind their back could hand one IP to two pods.
 */
const WRAPPABLE_IPAMS = new Set(['host-local']);

/** Main plugins that never take an islet wrapper, whatever their ipam says. */
const UNWRAPPABLE_PLUGINS: Record<string, string> = {
  calico: 'Calico allocates through calico-ipam and its datastore',
  cilium: 'Cilium allocates through its agent',
  'cilium-cni': 'Cilium allocates through its agent',
  'aws-cni': 'the AWS VPC CNI allocates through ipamd',
  'weave-net': 'Weave allocates through its router',
};

export function activeConfigName(names: string[]): string | undefined {
  return names.filter((n) => CNI_CONFIG_EXTENSIONS.includes(extname(n))).sort()[0];
}

type Json = Record<string, unknown>;

export type PatchOutcome =
  /** `changes` says what was done, one phrase each, for the installer's messages. */
  | { kind: 'patched'; fileName: string; text: string; changes: string[]; asideOf?: string }
  | { kind: 'already'; fileName: string }
  | { kind: 'unsupported'; fileName: string; reason: string };

export interface PatchOptions {
  /** Extra fields for the plugin (database path, TTLs...) merged into wrapper and recorder. */
  pluginOptions?: Json;
  /** islet last in the list as the chained recorder; false (the default) removes one. */
  chainRecorder?: boolean;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class ConfigParseError extends Error {}

function parse(fileName: string, text: string): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigParseError(`${fileName}: not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed)) throw new ConfigParseError(`${fileName}: a CNI configuration must be a JSON object`);
  return parsed;
}

/** A single-plugin `.conf` becomes a conflist with that plugin first. */
function upgradeToList(conf: Json): Json {
  const { cniVersion, name, ...plugin } = conf;
  return { cniVersion, name, plugins: [plugin] };
}

function wrapIpam(ipam: Json, options: Json): Json {
  return { type: 'islet', ...options, delegate: ipam };
}

type MainPlugin = { plugin: Json; ipamHolder: Json; flannel: boolean };

function findMainPlugin(plugins: Json[]): MainPlugin | undefined {
  for (const plugin of plugins) {
    if (plugin.type === 'flannel') {
      if (!isObject(plugin.delegate)) plugin.delegate = {};
      return { plugin, ipamHolder: plugin.delegate as Json, flannel: true };
    }
    if (isObject(plugin.ipam)) return { plugin, ipamHolder: plugin, flannel: false };
  }
  return undefined;
}

/** A top-level `"type": "islet"` entry is always the recorder role (the wrapper sits in an ipam). */
const isRecorder = (plugin: Json) => plugin.type === 'islet';

/**
 * Computes the patched configuration for `fileName` (the active one). Returns 'already' when
 * islet is the IPAM wrapper and the recorder is last exactly when `chainRecorder` asks for it,
 * 'unsupported' with a reason a person can act on when the network cannot be wrapped safely.
 */
export function patchCniConfig(fileName: string, text: string, opts: PatchOptions = {}): PatchOutcome {
  const doc = parse(fileName, text);
  const isList = Array.isArray(doc.plugins);
  const list = isList ? doc : upgradeToList(doc);
  const plugins = list.plugins as unknown[];
  if (!plugins.every(isObject))
    throw new ConfigParseError(`${fileName}: every entry of "plugins" must be an object`);
  if (plugins.length === 0) return { kind: 'unsupported', fileName, reason: 'the plugin list is empty' };

  const typed = plugins as Json[];
  const options = opts.pluginOptions ?? {};
  for (const p of typed) {
    const why = UNWRAPPABLE_PLUGINS[String(p.type)];
    if (why) return { kind: 'unsupported', fileName, reason: `${why}; islet cannot wrap it safely` };
  }
  const main = findMainPlugin(typed);
  if (!main) {
    return {
      kind: 'unsupported',
      fileName,
      reason: 'no plugin in it allocates addresses through an "ipam" section (nothing to wrap)',
    };
  }
  const changes: string[] = [];
  const ipam = main.ipamHolder.ipam;
  if (main.flannel && ipam === undefined) {
    // flannel fills ranges and routes into this section at ADD time; islet hands them on.
    main.ipamHolder.ipam = wrapIpam({ type: 'host-local' }, options);
    changes.push("wrapped flannel's host-local IPAM with islet");
  } else if (!isObject(ipam)) {
    return {
      kind: 'unsupported',
      fileName,
      reason: `plugin "${main.plugin.type}" has an invalid "ipam" section`,
    };
  } else if (ipam.type !== 'islet') {
    if (!WRAPPABLE_IPAMS.has(String(ipam.type))) {
      return {
        kind: 'unsupported',
        fileName,
        reason: `IPAM "${ipam.type}" keeps its allocations outside this node; islet wraps only ${[...WRAPPABLE_IPAMS].join(', ')}`,
      };
    }
    main.ipamHolder.ipam = wrapIpam(ipam, options);
    changes.push(`wrapped its ${ipam.type} IPAM with islet`);
  }
  if (opts.chainRecorder) {
    if (!isRecorder(typed[typed.length - 1]!)) {
      typed.push({ type: 'islet', ...options });
      changes.push('chained islet last as the recorder');
    }
  } else if (typed.some(isRecorder)) {
    list.plugins = typed.filter((p) => !isRecorder(p));
    changes.push('removed the chained recorder (islet install --chain-recorder keeps it)');
  }
  if (changes.length === 0 && isList) return { kind: 'already', fileName };

  const out = `${JSON.stringify(list, null, 2)}\n`;
  if (isList) return { kind: 'patched', fileName, text: out, changes };
  // A single-plugin .conf becomes a conflist even without the recorder: one layout whatever was
  // asked, so chaining or removing the recorder later is one atomic rewrite of one file.
  // The runtime must stop picking the old file: the conflist takes its place in the sort order.
  const base = basename(fileName, extname(fileName));
  return { kind: 'patched', fileName: `${base}.conflist`, text: out, changes, asideOf: fileName };
}

/** What doctor wants to know about a configuration: is islet wired in, and around what. */
export interface CniWiring {
  network: string | undefined;
  wrapper: boolean;
  recorder: boolean;
  mainPluginType: string | undefined;
  delegateType: string | undefined;
  pluginTypes: string[];
  /** Binaries the runtime will exec for the main plugin: itself, and for flannel its delegate (bridge). */
  requiredBinaries: string[];
}

function requiredBinaries(main: MainPlugin | undefined, ipamType: string | undefined): string[] {
  const out = new Set<string>();
  if (main) out.add(String(main.plugin.type));
  // flannel execs a bridge (or its configured delegate type) with the ipam section it was given.
  if (main?.flannel) out.add(typeof main.ipamHolder.type === 'string' ? main.ipamHolder.type : 'bridge');
  if (ipamType) out.add(ipamType);
  out.delete('islet');
  return [...out];
}

export function inspectCniConfig(fileName: string, text: string): CniWiring {
  const doc = parse(fileName, text);
  const list = Array.isArray(doc.plugins) ? doc : upgradeToList(doc);
  const plugins = (list.plugins as unknown[]).filter(isObject);
  const main = findMainPlugin(plugins.map((p) => structuredClone(p)));
  const ipam = main && isObject(main.ipamHolder.ipam) ? main.ipamHolder.ipam : undefined;
  const wrapper = ipam?.type === 'islet';
  const delegate = wrapper && isObject(ipam.delegate) ? String(ipam.delegate.type) : undefined;
  return {
    network: typeof list.name === 'string' ? list.name : undefined,
    wrapper,
    recorder: plugins.length > 0 && isRecorder(plugins[plugins.length - 1]!),
    mainPluginType: main ? String(main.plugin.type) : undefined,
    delegateType: delegate ?? (ipam && !wrapper ? String(ipam.type) : undefined),
    pluginTypes: plugins.map((p) => String(p.type)),
    requiredBinaries: requiredBinaries(main, delegate ?? (ipam && !wrapper ? String(ipam.type) : undefined)),
  };
}
