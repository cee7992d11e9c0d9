/**
 * The node's network as kubeadm-style setups leave it: a bridge + host-local conflist (Debian's
 * plugins) on a test-only /24, ipMasq off and no gateway role, so pod traffic stays on the bridge
 * the caller made. Shared by the real edge node and the CRI benchmark.
 */
export interface BridgeNetwork {
  /** CNI network name (libcni keys its result cache by it: make it unique). */
  name: string;
  bridge: string;
  /** The /24's first three octets, e.g. 10.228.7; the gateway is .1, pods start at .10. */
  prefix: string;
  /** host-local's dataDir (on the node's own root). */
  dataDir: string;
}

export function bridgeConflist(n: BridgeNetwork): object {
  return {
    cniVersion: '1.0.0',
    name: n.name,
    plugins: [
      {
        type: 'bridge',
        bridge: n.bridge,
        isGateway: false,
        ipMasq: false,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: `${n.prefix}.0/24`, rangeStart: `${n.prefix}.10`, gateway: `${n.prefix}.1` }]],
          dataDir: n.dataDir,
        },
      },
    ],
  };
}
