/**
 * The full offline story of a real edge node (containerd + kubelet + kube-proxy against a real
 * control plane with kube-controller-manager), with islet and without it (the control run): the
 * link is cut for longer than the node lease and the node-monitor grace period, the node reboots
 * offline, the link comes back. With islet every pod runs again offline on its old address with
 * its ConfigMap and Secret, the Service's ClusterIP answers, and after the restore the API server
 * sees the same pods (UIDs, IPs) without the node relisting anything. The control run is recorded
 * and printed next to it; only the islet run is asserted.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { controlPlaneMissing } from '../k8s/control-plane.js';
import { edgeNodeMissing } from './edge-node.js';
import { fullReport, isletShortfalls, listCount, requestLines } from './offline-report.js';
import { expected, PODS, runOfflineScenario, type ScenarioResult } from './offline-scenario.js';

const missing = controlPlaneMissing() || edgeNodeMissing();
if (missing) console.warn(`skipping the offline reboot scenario: ${missing}`);

const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);

describe.skipIf(missing)(
  'an edge node rebooting offline (kubelet + kube-proxy + containerd, real control plane)',
  () => {
    const runs: ScenarioResult[] = [];

    afterAll(() => {
      if (runs.length) console.log(`[offline-reboot]\n${fullReport(runs)}`);
    });

    it('with islet: every pod runs again offline on its old IP with its ConfigMap and Secret, the ClusterIP answers, and the API server sees the same pods after the restore without LISTs', async () => {
      const r = await runOfflineScenario({ islet: true, log });
      runs.push(r);
      // The cut was real: the cloud gave up on the node while kubelet kept running on it.
      expect(r.cut.nodeUnknown).toBe(true);
      expect(r.cut.leaseExpired).toBe(true);
      expect(r.cut.kubeletAlive).toBe(true);
      expect(r.cut.localLeaseRenewed).toBe(true);
      // Offline, after the reboot.
      expect(r.reboot.podsBackMs).toBeDefined();
      for (const p of PODS) expect(r.reboot.ips[p.name]).toBe(r.before[p.name].ip);
      expect(r.reboot.config?.trim()).toBe(expected.greeting);
      expect(r.reboot.secret?.trim()).toBe(expected.secret);
      expect(['web-config', 'web-secret']).toContain(r.reboot.serviceAnswer?.trim());
      // Back online.
      expect(r.restore.ms).toBeDefined();
      expect(r.restore.nodeReady).toBe(true);
      for (const p of PODS) {
        expect(r.restore.pods[p.name].uid).toBe(r.before[p.name].uid);
        expect(r.restore.pods[p.name].ip).toBe(r.before[p.name].ip);
        expect(r.restore.pods[p.name].phase).toBe('Running');
      }
      console.log(
        `[offline-reboot] API requests after the restore (islet):\n  ${requestLines(r.restore.requests).join('\n  ')}`,
      );
      expect(listCount(r.restore.requests)).toBe(0);
      expect(isletShortfalls(r)).toEqual([]);
    }, 1_200_000);

    it('without islet (control run, recorded next to the islet run): the same cut and offline reboot', async () => {
      const r = await runOfflineScenario({ islet: false, log });
      runs.push(r);
      const islet = runs.find((x) => x.islet);
      console.log(`[offline-reboot] side by side:\n${fullReport(runs)}`);
      // Only islet is asserted: the control run is the baseline the table shows.
      if (islet) expect(isletShortfalls(islet)).toEqual([]);
      expect(r.label).toBe('without islet');
    }, 1_200_000);
  },
);
