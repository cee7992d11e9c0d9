import { describe, expect, it } from 'vitest';
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
