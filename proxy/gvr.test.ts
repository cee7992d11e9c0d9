import { describe, expect, it } from 'vitest';
import { apiVersionOf, groupResource, gvrOf, gvrString, learnDiscovery, resourceFacts } from './gvr.js';
import { parseRequestInfo } from './request-info.js';
import { relearnDiscovery } from './serve/recorded.js';

describe('gvr facts', () => {
  it('knows the common resources offline', () => {
    expect(resourceFacts({ group: '', version: 'v1', resource: 'pods' })).toEqual({
      kind: 'Pod',
      listKind: 'PodList',
      namespaced: true,
    });
    expect(resourceFacts({ group: '', version: 'v1', resource: 'nodes' })?.namespaced).toBe(false);
    expect(
      resourceFacts({ group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' })?.listKind,
    ).toBe('EndpointSliceList');
    expect(resourceFacts({ group: 'example.com', version: 'v1', resource: 'widgets' })).toBeUndefined();
    expect(apiVersionOf({ group: '', version: 'v1' })).toBe('v1');
    expect(apiVersionOf({ group: 'apps', version: 'v1' })).toBe('apps/v1');
    expect(gvrString({ group: 'apps', version: 'v1', resource: 'deployments' })).toBe('deployments.v1.apps');
  });

  it('learns from discovery documents, skipping subresources and other shapes', () => {
    const n = learnDiscovery({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: 'example.com/v1alpha1',
      resources: [
        { name: 'widgets', singularName: 'widget', namespaced: true, kind: 'Widget', verbs: ['get', 'list'] },
        { name: 'widgets/status', namespaced: true, kind: 'Widget', verbs: ['get'] },
        { name: 'gadgets', namespaced: false, kind: 'Gadget', verbs: ['list'] },
      ],
    });
    expect(n).toBe(2);
    expect(resourceFacts({ group: 'example.com', version: 'v1alpha1', resource: 'widgets' })).toEqual({
      kind: 'Widget',
      listKind: 'WidgetList',
      namespaced: true,
      verbs: ['get', 'list'],
    });
    expect(
      resourceFacts({ group: 'example.com', version: 'v1alpha1', resource: 'widgets/status' }),
    ).toBeUndefined();
    expect(
      resourceFacts({ group: 'example.com', version: 'v1alpha1', resource: 'gadgets' })?.namespaced,
    ).toBe(false);
    expect(learnDiscovery({ kind: 'APIGroupList', groups: [] })).toBe(0);
    expect(learnDiscovery('not json')).toBe(0);
  });
});

describe('aggregated discovery', () => {
  it('learns kind, scope and verbs from an APIGroupDiscoveryList (what kubectl 1.35 fetches)', () => {
    // The shape kube-apiserver 1.35 answers /apis with for a CRD (apidiscovery.k8s.io/v2).
    const n = learnDiscovery({
      kind: 'APIGroupDiscoveryList',
      apiVersion: 'apidiscovery.k8s.io/v2',
      metadata: {},
      items: [
        {
          metadata: { name: 'agg.example.com', creationTimestamp: null },
          versions: [
            {
              version: 'v1',
              resources: [
                {
                  resource: 'sprockets',
                  responseKind: { group: '', version: '', kind: 'Sprocket' },
                  scope: 'Cluster',
                  singularResource: 'sprocket',
                  verbs: ['get', 'list', 'watch'],
                  subresources: [
                    { subresource: 'status', responseKind: { kind: 'Sprocket' }, verbs: ['get'] },
                  ],
                },
                { resource: 'cogs', responseKind: { kind: 'Cog' }, scope: 'Namespaced', verbs: ['list'] },
              ],
              freshness: 'Current',
            },
          ],
        },
      ],
    });
    expect(n).toBe(2);
    expect(resourceFacts({ group: 'agg.example.com', version: 'v1', resource: 'sprockets' })).toEqual({
      kind: 'Sprocket',
      listKind: 'SprocketList',
      namespaced: false,
      verbs: ['get', 'list', 'watch'],
    });
    expect(resourceFacts({ group: 'agg.example.com', version: 'v1', resource: 'cogs' })?.namespaced).toBe(
      true,
    );
  });

  it('relearns facts from recorded discovery answers only', () => {
    const doc = (kind: string) =>
      Buffer.from(
        JSON.stringify({
          kind: 'APIGroupDiscoveryList',
          items: [
            {
              metadata: { name: 'relearn.example.com' },
              versions: [
                {
                  version: 'v1',
                  resources: [{ resource: kind.toLowerCase(), responseKind: { kind }, scope: 'Namespaced' }],
                },
              ],
            },
          ],
        }),
      );
    const type = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
    const n = relearnDiscovery([
      { key: '/apis\naccept', contentType: type, body: doc('Gear'), etag: '' },
      // Not a discovery path: never parsed for facts (OpenAPI documents are large).
      { key: '/openapi/v2\naccept', contentType: 'application/json', body: doc('Wheel'), etag: '' },
      { key: '/api\naccept', contentType: 'application/json', body: Buffer.from('{not json'), etag: '' },
    ]);
    expect(n).toBe(1);
    expect(resourceFacts({ group: 'relearn.example.com', version: 'v1', resource: 'gear' })?.kind).toBe(
      'Gear',
    );
    expect(resourceFacts({ group: 'relearn.example.com', version: 'v1', resource: 'wheel' })).toBeUndefined();
  });
});

describe("naming a request's resource", () => {
  it('gvrOf takes group, version and resource of a request, nothing else', () => {
    const info = parseRequestInfo('GET', '/apis/apps/v1/namespaces/ns/deployments/web/scale');
    expect(gvrOf(info)).toEqual({ group: 'apps', version: 'v1', resource: 'deployments' });
  });

  it('groupResource is "resource" for the core group and "resource.group" otherwise', () => {
    expect(groupResource({ group: '', resource: 'pods' })).toBe('pods');
    expect(groupResource({ group: 'coordination.k8s.io', resource: 'leases' })).toBe(
      'leases.coordination.k8s.io',
    );
  });
});
