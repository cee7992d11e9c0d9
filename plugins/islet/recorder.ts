/**
 * The chained recorder (`"type": "islet"` last in a conflist): records the chain's final result,
 * passes it on in the request's cniVersion, and answers CHECK by comparing with the record.
 */
import { parseCniArgs, podIdentity } from '../cni/args.js';
import { CniError, ErrorCode } from '../cni/errors.js';
import { convertResult, parseResult } from '../cni/result.js';
import type { PluginVerbs } from '../cni/skel.js';
import type { CmdArgs, Result } from '../cni/types.js';
import { attachmentSet, inSet, validAttachments } from './attachments-arg.js';
import { currentBootId } from './host.js';
import type { Logger } from './log.js';
import type { Store, Tuple } from './store.js';

function prevResultOf(args: CmdArgs, verb: string): Result {
  if (args.conf.prevResult === undefined || args.conf.prevResult === null) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `islet as a chained plugin needs prevResult on ${verb}: put it after the plugins whose result it records`,
    );
  }
  return parseResult(args.conf.prevResult, args.conf.cniVersion);
}

function tuple(args: CmdArgs): Tuple {
  return { network: args.conf.name, container_id: args.containerId, ifname: args.ifname };
}

/** Canonical JSON (sorted keys) of a result in one version's shape, for comparison. */
function canonical(result: Result, version: string): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(convertResult(result, version)));
}

export function recorderVerbs(open: () => Store, log: Logger): PluginVerbs {
  return {
    async add(args) {
      const prev = prevResultOf(args, 'ADD');
      const pod = podIdentity(parseCniArgs(args.args));
      const store = open();
      try {
        store.putChainResult({
          ...tuple(args),
          pod_namespace: pod.namespace,
          pod_name: pod.name,
          pod_uid: pod.uid,
          cni_version: args.conf.cniVersion,
          result: JSON.stringify(prev),
          boot_id: currentBootId(args.env),
          created_at: Date.now(),
        });
      } finally {
        store.close();
      }
      log.info(`recorded result of ${args.containerId}/${args.ifname}`);
      return convertResult(prev, args.conf.cniVersion);
    },
    async del(args) {
      const store = open();
      try {
        store.deleteChainResult(tuple(args));
      } finally {
        store.close();
      }
    },
    async check(args) {
      const prev = prevResultOf(args, 'CHECK');
      const store = open();
      let row: ReturnType<Store['chainResult']>;
      try {
        row = store.chainResult(tuple(args));
      } finally {
        store.close();
      }
      if (!row) {
        throw new CniError(
          ErrorCode.UnknownContainer,
          `islet has no recorded result for ${args.containerId}/${args.ifname} on network ${args.conf.name}`,
        );
      }
      const v = args.conf.cniVersion;
      const recorded = canonical(JSON.parse(row.result) as Result, v);
      const given = canonical(prev, v);
      if (recorded !== given) {
        throw new CniError(
          ErrorCode.CheckMismatch,
          'prevResult differs from the result islet recorded at ADD',
          `recorded ${recorded}; got ${given}`,
        );
      }
    },
    async gc(args) {
      const keep = attachmentSet(validAttachments(args.conf));
      const store = open();
      try {
        store.tx(() => {
          for (const row of store.chainResults(args.conf.name)) {
            if (!inSet(keep, row.container_id, row.ifname)) store.deleteChainResult(row);
          }
        });
      } finally {
        store.close();
      }
    },
    async status() {
      // Ready when the database opens; a broken one is "not available".
      try {
        open().close();
      } catch (err) {
        throw new CniError(ErrorCode.PluginNotAvailable, (err as Error).message);
      }
    },
  };
}
