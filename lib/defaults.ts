/**
 * islet's default host paths and addresses, in one place: the proxy's flags, the installer,
 * doctor, the CNI plugin's configuration and lib/ take them from here, and help texts print them
 * from here. Imported on the CNI path (every call is a fresh process): plain constants, no imports.
 */

/** State that survives reboots: the snapshot database, the proxy's cache and queue, backups. */
export const STATE_DIR = '/var/lib/islet';
/** The CNI plugin's snapshot database. */
export const IPAM_DB = `${STATE_DIR}/ipam.db`;
/** The proxy's cache (its writes.db lies next to it). */
export const CACHE_DB = `${STATE_DIR}/cache.db`;
/** What `islet install` changed, recorded before each change. */
export const BACKUP_DIR = `${STATE_DIR}/backup`;
/** Where root keeps the SQLite addon extracted from the single executable. */
export const ADDON_DIR = `${STATE_DIR}/.native`;

/** Runtime state, gone at reboot. */
export const RUN_DIR = '/run/islet';
/** The link-state file: the proxy writes it, the CNI plugin reads it (design.md §2). */
export const LINK_STATE_FILE = `${RUN_DIR}/link.json`;

/** Configuration `islet install` writes. */
export const CONFIG_DIR = '/etc/islet';
/** The proxy's copy of kubelet's kubeconfig, with the real API server in it. */
export const UPSTREAM_KUBECONFIG = `${CONFIG_DIR}/upstream.kubeconfig`;

/** The proxy's plain HTTP listener, where kubelet is pointed. */
export const PROXY_LISTEN = '127.0.0.1:10261';
/** The proxy's admin listener: /metrics, /healthz, /readyz. */
export const ADMIN_LISTEN = '127.0.0.1:10267';

/** The node's CNI and kubelet paths, as kubeadm lays them out. */
export const CNI_BIN_DIR = '/opt/cni/bin';
export const CNI_CONF_DIR = '/etc/cni/net.d';
export const KUBELET_KUBECONFIG = '/etc/kubernetes/kubelet.conf';
export const STATIC_POD_DIR = '/etc/kubernetes/manifests';
