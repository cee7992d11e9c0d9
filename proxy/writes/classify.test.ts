import { describe, expect, it } from 'vitest';
import { parseRequestInfo } from '../request-info.js';
import { classifyWrite, objectPath } from './classify.js';

const kind = (method: string, url: string) => classifyWrite(parseRequestInfo(method, url)).kind;

describe('which offline policy a write falls under', () => {
  it('answers node lease renewals locally', () => {
    expect(kind('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a')).toBe(
      'lease',
    );
    expect(kind('PATCH', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a')).toBe(
      'lease',
    );
    // creating a lease, or a lease elsewhere (leader election), is not a renewal of kubelet's
    expect(kind('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases')).toBe('refused');
    expect(kind('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler')).toBe(
      'refused',
    );
  });

  it('queues node and pod status, and events of both APIs', () => {
    expect(kind('PATCH', '/api/v1/nodes/node-a/status')).toBe('status');
    expect(kind('PUT', '/api/v1/namespaces/ns/pods/p/status')).toBe('status');
    expect(kind('POST', '/api/v1/namespaces/ns/events')).toBe('event-create');
    expect(kind('PATCH', '/api/v1/namespaces/ns/events/e.1')).toBe('event-write');
    expect(kind('POST', '/apis/events.k8s.io/v1/namespaces/ns/events')).toBe('event-create');
  });

  it('refuses the rest', () => {
    for (const [m, u] of [
      ['PATCH', '/api/v1/namespaces/ns/pods/p'],
      ['DELETE', '/api/v1/namespaces/ns/pods/p'],
      ['POST', '/api/v1/namespaces/ns/pods'],
      ['PUT', '/api/v1/nodes/node-a'],
      ['POST', '/api/v1/namespaces/ns/serviceaccounts/default/token'],
      ['PATCH', '/apis/apps/v1/namespaces/ns/deployments/d/status'],
      ['DELETE', '/api/v1/namespaces/ns/events/e.1'],
    ] as const) {
      expect(kind(m, u), `${m} ${u}`).toBe('refused');
    }
  });

  it('builds API paths for replay', () => {
    expect(objectPath({ group: '', version: 'v1', resource: 'nodes' }, '', 'n', 'status')).toBe(
      '/api/v1/nodes/n/status',
    );
    expect(objectPath({ group: 'events.k8s.io', version: 'v1', resource: 'events' }, 'ns', '')).toBe(
      '/apis/events.k8s.io/v1/namespaces/ns/events',
    );
  });
});
