import { describe, expect, it } from 'vitest';
import { REAL_PROTOBUF_BODIES } from '../../test/writes/fixtures/real-protobuf.js';
import { encodeEvent, encodeLease, encodeMetadataOnly } from '../../test/writes/k8s-protobuf.js';
import { opFromRequest } from './apply-write.js';
import { decodeKubeProtobuf, decodeKubeProtobufMeta, ProtobufError } from './protobuf.js';

describe("decoding kubelet's protobuf bodies", () => {
  it('reads a Lease as the JSON object the API server would show', () => {
    const body = encodeLease({
      metadata: { name: 'node-a', namespace: 'kube-node-lease', uid: 'u-1', resourceVersion: '42-islet-3' },
      spec: { holderIdentity: 'node-a', leaseDurationSeconds: 40, renewTime: '2026-11-22T10:00:01.123456Z' },
    });
    expect(decodeKubeProtobuf(body)).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'node-a', namespace: 'kube-node-lease', uid: 'u-1', resourceVersion: '42-islet-3' },
      spec: { holderIdentity: 'node-a', leaseDurationSeconds: 40, renewTime: '2026-11-22T10:00:01.123456Z' },
    });
  });

  it('reads a core/v1 Event, dropping the empty fields gogo writes', () => {
    const body = encodeEvent({
      metadata: { name: 'web-1.17a', namespace: 'default', labels: { a: 'b' } },
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'p-1' },
      reason: 'BackOff',
      message: 'restarting',
      count: 3,
      lastTimestamp: '2026-11-22T10:00:02Z',
      type: 'Warning',
    });
    expect(decodeKubeProtobuf(body)).toEqual({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'web-1.17a', namespace: 'default', labels: { a: 'b' } },
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'p-1' },
      reason: 'BackOff',
      message: 'restarting',
      source: { component: 'kubelet', host: 'node-a' },
      firstTimestamp: '2026-11-22T10:00:02Z',
      lastTimestamp: '2026-11-22T10:00:02Z',
      count: 3,
      type: 'Warning',
    });
  });

  it('turns a protobuf update into an op, and refuses kinds it cannot read with 415', () => {
    const lease = encodeLease({
      metadata: { name: 'n', namespace: 'kube-node-lease' },
      spec: { holderIdentity: 'n', leaseDurationSeconds: 10, renewTime: '2026-11-22T10:00:00.000001Z' },
    });
    expect(opFromRequest('update', 'application/vnd.kubernetes.protobuf', lease).type).toBe('update');
    const pod = Buffer.concat([
      Buffer.from('k8s\0', 'binary'),
      Buffer.from([0x0a, 0x09, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x03, 0x50, 0x6f, 0x64]),
    ]);
    expect(() => decodeKubeProtobuf(pod)).toThrow(ProtobufError);
    expect(() => opFromRequest('update', 'application/vnd.kubernetes.protobuf', pod)).toThrow(
      /send application\/json/,
    );
    expect(() => decodeKubeProtobuf(Buffer.from('{}'))).toThrow(/k8s/);
  });

  it('reads the kind and metadata of any kind (a Node kubelet registers), without its schema', () => {
    const node = encodeMetadataOnly('v1', 'Node', { name: 'edge-1', labels: { a: 'b' } });
    expect(decodeKubeProtobufMeta(node)).toEqual({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'edge-1', labels: { a: 'b' } },
    });
    expect(() => decodeKubeProtobuf(node)).toThrow(ProtobufError);
    expect(() => decodeKubeProtobufMeta(Buffer.from('{}'))).toThrow(/k8s/);
  });
});

describe('decoding protobuf bodies recorded from a real kubelet and kube-proxy (1.35)', () => {
  const real = (name: keyof typeof REAL_PROTOBUF_BODIES) => Buffer.from(REAL_PROTOBUF_BODIES[name], 'hex');
  const PROTOBUF = 'application/vnd.kubernetes.protobuf';

  it("reads kubelet's Lease renewal (managedFields it sends back are left to the API server)", () => {
    expect(decodeKubeProtobuf(real('leaseUpdate'))).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: 'edge-1',
        namespace: 'kube-node-lease',
        uid: 'b037661b-5322-4cff-8c71-ee476a27a8c8',
        resourceVersion: '231',
        creationTimestamp: '2026-12-04T20:14:27Z',
        ownerReferences: [
          { kind: 'Node', name: 'edge-1', uid: 'a0e498b1-60b2-40f5-a821-b87a886ad9ab', apiVersion: 'v1' },
        ],
      },
      spec: { holderIdentity: 'edge-1', leaseDurationSeconds: 40, renewTime: '2026-12-04T20:14:29.881188Z' },
    });
  });

  it("reads kubelet's core/v1 Events about its Node and about a container (fieldPath)", () => {
    const kubelet = { source: { component: 'kubelet', host: 'edge-1' }, count: 1, type: 'Normal' };
    const reporting = { reportingComponent: 'kubelet', reportingInstance: 'edge-1' };
    expect(decodeKubeProtobuf(real('nodeStarting'))).toEqual({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'edge-1.18ee262b8b3bc8e3', namespace: 'default' },
      involvedObject: { kind: 'Node', name: 'edge-1', apiVersion: 'v1' },
      reason: 'Starting',
      message: 'Starting kubelet.',
      firstTimestamp: '2026-12-04T20:14:29Z',
      lastTimestamp: '2026-12-04T20:14:29Z',
      ...kubelet,
      ...reporting,
    });
    expect(decodeKubeProtobuf(real('containerPulled'))).toEqual({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'app.18ee262bd9bf9219', namespace: 'kreq-16935' },
      involvedObject: {
        kind: 'Pod',
        namespace: 'kreq-16935',
        name: 'app',
        uid: '38ef3497-0f28-4b3b-9bd7-020fc0ea7d2e',
        apiVersion: 'v1',
        resourceVersion: '228',
        fieldPath: 'spec.containers{app}',
      },
      reason: 'Pulled',
      message:
        'Container image "islet.test/busybox:1" already present on machine and can be accessed by the pod',
      firstTimestamp: '2026-12-04T20:14:31Z',
      lastTimestamp: '2026-12-04T20:14:31Z',
      ...kubelet,
      ...reporting,
    });
  });

  it("reads kube-proxy's events.k8s.io/v1 Event (eventTime, action, reportingController, regarding) instead of a 415", () => {
    const body = real('kubeProxyStarting');
    const expected = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: 'edge-1.18ee2640eb3d31ab', namespace: 'default' },
      eventTime: '2026-12-04T20:16:01.633824Z',
      reportingController: 'kube-proxy',
      reportingInstance: 'kube-proxy-vm',
      action: 'StartKubeProxy',
      reason: 'Starting',
      regarding: { kind: 'Node', name: 'edge-1', apiVersion: 'v1' },
      type: 'Normal',
      // a Go struct (not a pointer): encoding/json shows it as {} too
      deprecatedSource: {},
    };
    expect(decodeKubeProtobuf(body)).toEqual(expected);
    expect(opFromRequest('create', PROTOBUF, body)).toEqual({ type: 'update', body: expected });
  });

  it('refuses a real body cut short with a ProtobufError, not a wrong object', () => {
    for (const name of Object.keys(REAL_PROTOBUF_BODIES) as (keyof typeof REAL_PROTOBUF_BODIES)[]) {
      const body = real(name);
      expect(() => decodeKubeProtobuf(body.subarray(0, body.length - 5))).toThrow(ProtobufError);
    }
  });
});
