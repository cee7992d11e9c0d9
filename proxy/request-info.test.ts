import { describe, expect, it } from 'vitest';
import { describeResource, listOptionsError, parseRequestInfo, RequestInfoError } from './request-info.js';

const pick = (method: string, url: string) => {
  const i = parseRequestInfo(method, url);
  return {
    res: i.isResourceRequest,
    verb: i.verb,
    group: i.group,
    version: i.version,
    resource: i.resource,
    subresource: i.subresource,
    namespace: i.namespace,
    name: i.name,
  };
};

describe('parseRequestInfo paths', () => {
  it.each([
    [
      'GET',
      '/api/v1/pods',
      {
        res: true,
        verb: 'list',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: '',
        name: '',
      },
    ],
    [
      'GET',
      '/api/v1/namespaces/kube-system/pods/coredns-1',
      {
        res: true,
        verb: 'get',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'kube-system',
        name: 'coredns-1',
      },
    ],
    [
      'GET',
      '/api/v1/namespaces/ns1/pods?watch=true',
      {
        res: true,
        verb: 'watch',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'ns1',
        name: '',
      },
    ],
    [
      'GET',
      '/api/v1/namespaces/ns1/pods?watch=1',
      {
        res: true,
        verb: 'watch',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'ns1',
        name: '',
      },
    ],
    [
      'GET',
      '/api/v1/namespaces/ns1/pods?watch=false',
      {
        res: true,
        verb: 'list',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'ns1',
        name: '',
      },
    ],
    [
      'GET',
      '/api/v1/watch/namespaces/ns1/pods',
      {
        res: true,
        verb: 'watch',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'ns1',
        name: '',
      },
    ],
    [
      'GET',
      '/api/v1/watch/namespaces/ns1/pods/p1',
      {
        res: true,
        verb: 'watch',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'ns1',
        name: 'p1',
      },
    ],
    [
      'PATCH',
      '/api/v1/nodes/node-a/status',
      {
        res: true,
        verb: 'patch',
        group: '',
        version: 'v1',
        resource: 'nodes',
        subresource: 'status',
        namespace: '',
        name: 'node-a',
      },
    ],
    [
      'GET',
      '/api/v1/namespaces/ns1',
      {
        res: true,
        verb: 'get',
        group: '',
        version: 'v1',
        resource: 'namespaces',
        subresource: '',
        namespace: 'ns1',
        name: 'ns1',
      },
    ],
    [
      'PUT',
      '/api/v1/namespaces/ns1/finalize',
      {
        res: true,
        verb: 'update',
        group: '',
        version: 'v1',
        resource: 'namespaces',
        subresource: 'finalize',
        namespace: 'ns1',
        name: 'ns1',
      },
    ],
    [
      'GET',
      '/api/v1/namespaces',
      {
        res: true,
        verb: 'list',
        group: '',
        version: 'v1',
        resource: 'namespaces',
        subresource: '',
        namespace: '',
        name: '',
      },
    ],
    [
      'PUT',
      '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a',
      {
        res: true,
        verb: 'update',
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        subresource: '',
        namespace: 'kube-node-lease',
        name: 'node-a',
      },
    ],
    [
      'GET',
      '/apis/discovery.k8s.io/v1/endpointslices?labelSelector=a%3Db',
      {
        res: true,
        verb: 'list',
        group: 'discovery.k8s.io',
        version: 'v1',
        resource: 'endpointslices',
        subresource: '',
        namespace: '',
        name: '',
      },
    ],
    [
      'POST',
      '/api/v1/namespaces/ns1/pods',
      {
        res: true,
        verb: 'create',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'ns1',
        name: '',
      },
    ],
    [
      'DELETE',
      '/api/v1/namespaces/ns1/pods',
      {
        res: true,
        verb: 'deletecollection',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'ns1',
        name: '',
      },
    ],
    [
      'DELETE',
      '/api/v1/namespaces/ns1/pods/p1',
      {
        res: true,
        verb: 'delete',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'ns1',
        name: 'p1',
      },
    ],
    [
      'GET',
      '/api/v1/namespaces/ns1/pods/p1/log',
      {
        res: true,
        verb: 'get',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: 'log',
        namespace: 'ns1',
        name: 'p1',
      },
    ],
    [
      'POST',
      '/api/v1/namespaces/ns1/pods/p1/exec',
      {
        res: true,
        verb: 'create',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: 'exec',
        namespace: 'ns1',
        name: 'p1',
      },
    ],
    [
      'GET',
      '/api/v1/namespaces/ns1/pods/p1/proxy/metrics/x',
      {
        res: true,
        verb: 'get',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: 'proxy',
        namespace: 'ns1',
        name: 'p1',
      },
    ],
    [
      'GET',
      '/api/v1/proxy/namespaces/ns1/pods/p1/some/path',
      {
        res: true,
        verb: 'proxy',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'ns1',
        name: 'p1',
      },
    ],
    [
      'GET',
      '/api/v1/pods/',
      {
        res: true,
        verb: 'list',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: '',
        name: '',
      },
    ],
  ])('%s %s', (method, url, expected) => {
    expect(pick(method, url)).toEqual(expected);
  });

  it.each([
    ['/api'],
    ['/apis'],
    ['/api/v1'],
    ['/apis/apps'],
    ['/apis/apps/v1'],
    ['/version'],
    ['/healthz'],
    ['/openapi/v2'],
    ['/openapi/v3/apis/apps/v1'],
    ['/readyz/ping'],
  ])('non-resource %s', (url) => {
    const i = parseRequestInfo('GET', url);
    expect(i.isResourceRequest).toBe(false);
    expect(i.verb).toBe('get');
    expect(i.path).toBe(url);
    expect(i.apiPrefix).toBe('');
  });

  it('names a list by its metadata.name field selector, keeping the list verb', () => {
    const i = parseRequestInfo('GET', '/api/v1/nodes?fieldSelector=metadata.name%3Dnode-a&watch=true');
    expect(i.verb).toBe('watch');
    expect(i.name).toBe('node-a');
    expect(i.fieldSelector).toBe('metadata.name=node-a');
  });

  it('reads list options from the query', () => {
    const i = parseRequestInfo(
      'GET',
      '/api/v1/pods?labelSelector=app+in+(a,b)&fieldSelector=spec.nodeName%3Dnode-a&resourceVersion=42&resourceVersionMatch=NotOlderThan&limit=500&continue=abc&timeoutSeconds=300&allowWatchBookmarks=true&sendInitialEvents=false',
    );
    expect(i).toMatchObject({
      labelSelector: 'app in (a,b)',
      fieldSelector: 'spec.nodeName=node-a',
      resourceVersion: '42',
      resourceVersionMatch: 'NotOlderThan',
      limit: 500,
      continue: 'abc',
      timeoutSeconds: 300,
      allowWatchBookmarks: true,
      sendInitialEvents: false,
      apiPrefix: 'api',
    });
    const bare = parseRequestInfo('GET', '/api/v1/pods');
    expect(bare.limit).toBe(0);
    expect(bare.timeoutSeconds).toBeUndefined();
    expect(bare.sendInitialEvents).toBeUndefined();
    expect(bare.allowWatchBookmarks).toBe(false);
  });

  it('accepts an absolute-form request target', () => {
    const i = parseRequestInfo(
      'GET',
      'http://127.0.0.1:10261/api/v1/namespaces/ns1/pods/p1?resourceVersion=0',
    );
    expect(i).toMatchObject({
      verb: 'get',
      namespace: 'ns1',
      resource: 'pods',
      name: 'p1',
      path: '/api/v1/namespaces/ns1/pods/p1',
      resourceVersion: '0',
    });
  });

  it('maps unknown methods on resources to an empty verb', () => {
    expect(parseRequestInfo('OPTIONS', '/api/v1/pods').verb).toBe('');
  });
});

describe('parseRequestInfo rejects malformed requests', () => {
  it.each([
    ['GET', '/api/v1/namespaces/%zz/pods'],
    ['GET', '/api/v1/namespaces/ns/pods/%E0%A4%A'],
    ['GET', '/api/v1/namespaces/../pods'],
    ['GET', '/api/v1/namespaces/ns/pods/..'],
    ['GET', '/api/v1/namespaces/ns/pods/.'],
    ['GET', '/api/v1/namespaces//pods'],
    ['GET', '/api/v1/namespaces/ns//p1'],
    ['GET', '/api/v1/namespaces/a%2Fb/pods'],
    ['GET', '/api/v1/namespaces/ns/pods/a%25b'],
    ['GET', '/api/v1/watch'],
    ['GET', '/api/v1/pods?limit=-1'],
    ['GET', '/api/v1/pods?limit=ten'],
    ['GET', '/api/v1/pods?timeoutSeconds=1.5'],
    ['GET', '/api/v1/pods?labelSelector=%zz'],
    ['GET', '/api/v1/pods?resourceVersionMatch=Newest'],
    ['GET', 'api/v1/pods'],
  ])('%s %s', (method, url) => {
    expect(() => parseRequestInfo(method, url)).toThrow(RequestInfoError);
  });

  it('gives a message and a 400 code', () => {
    try {
      parseRequestInfo('GET', '/api/v1/pods?limit=-5');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RequestInfoError);
      expect((err as RequestInfoError).code).toBe(400);
      expect((err as Error).message).toMatch(/limit must be a non-negative integer/);
    }
  });
});

describe('describeResource', () => {
  it('names the group resource and the subresource, as messages show them', () => {
    expect(describeResource(parseRequestInfo('GET', '/api/v1/namespaces/ns/pods/p'))).toBe('pods');
    expect(describeResource(parseRequestInfo('PATCH', '/api/v1/nodes/n/status'))).toBe('nodes/status');
    expect(describeResource(parseRequestInfo('PUT', '/apis/apps/v1/namespaces/ns/deployments/d/scale'))).toBe(
      'deployments.apps/scale',
    );
  });
});

describe('listOptionsError', () => {
  const err = (url: string) => listOptionsError(parseRequestInfo('GET', url));
  it('refuses what the API server refuses in resourceVersion options', () => {
    expect(err('/api/v1/pods?resourceVersion=abc')).toMatch(/resourceVersion: Invalid value: "abc"/);
    expect(err('/api/v1/pods?watch=1&resourceVersion=-1')).toMatch(/non-negative integer/);
    expect(err('/api/v1/pods?resourceVersionMatch=Exact')).toMatch(/unless resourceVersion is provided/);
    expect(err('/api/v1/pods?resourceVersionMatch=Exact&resourceVersion=0')).toMatch(/"exact" is forbidden/);
    expect(err('/api/v1/pods?resourceVersionMatch=NotOlderThan&resourceVersion=5&continue=x')).toMatch(
      /when continue is provided/,
    );
  });
  it('takes what the API server takes', () => {
    expect(err('/api/v1/pods')).toBeUndefined();
    expect(err('/api/v1/pods?resourceVersion=0')).toBeUndefined();
    expect(err('/api/v1/pods?resourceVersion=123&resourceVersionMatch=NotOlderThan')).toBeUndefined();
    expect(err('/api/v1/pods?resourceVersion=123&resourceVersionMatch=Exact')).toBeUndefined();
    expect(err('/api/v1/pods?watch=1&resourceVersion=7')).toBeUndefined();
    // A version the proxy made offline for a local write.
    expect(err('/api/v1/nodes?watch=1&resourceVersion=5-islet-1')).toBeUndefined();
  });
});
