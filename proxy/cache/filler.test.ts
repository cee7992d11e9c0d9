import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { parseRequestInfo } from '../request-info.js';
import type { Identity, KubeObject } from '../types.js';
import { CacheFiller, Tee, viewOf } from './filler.js';
import { CacheStore } from './store.js';
import { CacheWriter } from './writer.js';

const node: Identity = { kind: 'node', id: 'node' };
const json = { 'content-type': 'application/json' };
const gzipped = { ...json, 'content-encoding': 'gzip' };
const pods = { group: '', version: 'v1', resource: 'pods' };

function pod(name: string, rv: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', resourceVersion: rv } };
}

function teeOf(value: unknown, gzip = false): Tee {
  const tee = new Tee({ fingerprint: true, encoding: gzip ? 'gzip' : undefined });
  const body = Buffer.from(JSON.stringify(value));
  const bytes = gzip ? gzipSync(body) : body;
  // Split in two to exercise chunked collection.
  tee.push(bytes.subarray(0, 10));
  tee.push(bytes.subarray(10));
  return tee;
}

let dir: string;
let store: CacheStore;
let writer: CacheWriter;
let filler: CacheFiller;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-fill-'));
  store = new CacheStore({ path: join(dir, 'cache.db') });
  writer = new CacheWriter({ store });
  filler = new CacheFiller(store, writer, createLogger({ level: 'error' }));
});

afterEach(async () => {
  await writer.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('CacheFiller', () => {
  it('stitches a chunked LIST by its continue tokens and completes the view only at the last page', async () => {
    const first = parseRequestInfo('GET', '/api/v1/namespaces/default/pods?limit=2');
    const second = parseRequestInfo('GET', '/api/v1/namespaces/default/pods?limit=2&continue=tok1');
    filler.list(
      first,
      node,
      200,
      json,
      teeOf({
        apiVersion: 'v1',
        kind: 'PodList',
        metadata: { resourceVersion: '10', continue: 'tok1' },
        items: [pod('a', '5'), pod('b', '6')],
      }),
    );
    await writer.flush();
    const view = viewOf(first, node);
    expect(store.findCoveringView(view)).toBeUndefined();
    filler.list(
      second,
      node,
      200,
      gzipped,
      teeOf(
        {
          apiVersion: 'v1',
          kind: 'PodList',
          metadata: { resourceVersion: '10' },
          items: [pod('c', '7')],
        },
        true,
      ),
    );
    await writer.flush();
    expect(store.findCoveringView(view)?.complete).toBe(true);
    expect(store.listObjects(pods, 'default', '', '').map((o) => o.metadata.name)).toEqual(['a', 'b', 'c']);
  });

  it('never completes a view from a page whose first pages it did not see', async () => {
    const orphan = parseRequestInfo('GET', '/api/v1/namespaces/default/pods?continue=unknown');
    filler.list(
      orphan,
      node,
      200,
      json,
      teeOf({
        apiVersion: 'v1',
        kind: 'PodList',
        metadata: { resourceVersion: '10' },
        items: [pod('z', '9')],
      }),
    );
    await writer.flush();
    expect(store.findCoveringView(viewOf(orphan, node))).toBeUndefined();
    expect(store.getObject(pods, 'default', 'z')?.metadata.name).toBe('z');
  });

  it('keeps GET answers and forgets objects upstream reports gone', async () => {
    const get = parseRequestInfo('GET', '/api/v1/namespaces/default/pods/a');
    filler.object(get, node, 200, json, teeOf(pod('a', '3')));
    await writer.flush();
    expect(store.getObject(pods, 'default', 'a')?.metadata.resourceVersion).toBe('3');
    filler.object(get, node, 404, json, teeOf({ kind: 'Status', apiVersion: 'v1', code: 404 }));
    await writer.flush();
    expect(store.getObject(pods, 'default', 'a')).toBeUndefined();
  });

  it('queues nothing for a GET of the version already cached, but does for a new one or a new reader', async () => {
    const get = parseRequestInfo('GET', '/api/v1/namespaces/default/pods/a');
    filler.object(get, node, 200, json, teeOf(pod('a', '3')));
    await writer.flush();
    filler.object(get, node, 200, json, teeOf(pod('a', '3')));
    expect(writer.pending).toBe(0);
    // A token identity must still be granted the object it read (offline it may read only those).
    const token: Identity = { kind: 'token', id: 'sa-1', authorization: 'Bearer x' };
    filler.object(get, token, 200, json, teeOf(pod('a', '3')));
    expect(writer.pending).toBe(1);
    await writer.flush();
    expect(store.mayRead('sa-1', pods, pod('a', '3'))).toBe(true);
    filler.object(get, token, 200, json, teeOf(pod('a', '3')));
    expect(writer.pending).toBe(0);
    filler.object(get, node, 200, json, teeOf(pod('a', '4')));
    expect(writer.pending).toBe(1);
    await writer.flush();
    expect(store.getObject(pods, 'default', 'a')?.metadata.resourceVersion).toBe('4');
  });

  it('grants the node its own read of an object a token read first (same version)', async () => {
    const get = parseRequestInfo('GET', '/api/v1/namespaces/default/pods/a');
    const token: Identity = { kind: 'token', id: 'sa-2', authorization: 'Bearer y' };
    filler.object(get, token, 200, json, teeOf(pod('a', '3')));
    await writer.flush();
    expect(store.mayRead('node', pods, pod('a', '3'))).toBe(false);
    filler.object(get, node, 200, json, teeOf(pod('a', '3')));
    expect(writer.pending).toBe(1);
    await writer.flush();
    expect(store.mayRead('node', pods, pod('a', '3'))).toBe(true);
  });

  it("stores list items as upstream's bytes with the list's kind and apiVersion, also from pages", async () => {
    const bare = (name: string, rv: string) => ({
      metadata: {
        name,
        namespace: 'default',
        resourceVersion: rv,
        annotations: { note: 'a "quoted" {brace}' },
      },
    });
    const first = parseRequestInfo('GET', '/api/v1/namespaces/default/pods?limit=1');
    const second = parseRequestInfo('GET', '/api/v1/namespaces/default/pods?limit=1&continue=t1');
    const page = (items: unknown[], cont: string) =>
      teeOf({
        apiVersion: 'v1',
        kind: 'PodList',
        metadata: { resourceVersion: '10', continue: cont },
        items,
      });
    filler.list(first, node, 200, json, page([bare('a', '5')], 't1'));
    filler.list(second, node, 200, json, page([bare('b', '6')], ''));
    await writer.flush();
    expect(store.findCoveringView(viewOf(first, node))?.complete).toBe(true);
    for (const name of ['a', 'b']) {
      const text = store.getBodyText(pods, 'default', name)!;
      expect(JSON.parse(text)).toEqual({
        apiVersion: 'v1',
        kind: 'Pod',
        ...bare(name, name === 'a' ? '5' : '6'),
      });
    }
  });

  it('marks a view incomplete when the answer was too large to tee', async () => {
    const info = parseRequestInfo('GET', '/api/v1/namespaces/default/pods');
    filler.list(
      info,
      node,
      200,
      json,
      teeOf({
        apiVersion: 'v1',
        kind: 'PodList',
        metadata: { resourceVersion: '4' },
        items: [pod('a', '4')],
      }),
    );
    await writer.flush();
    expect(store.findCoveringView(viewOf(info, node))?.complete).toBe(true);
    const big = new Tee();
    big.overflow = true;
    filler.list(info, node, 200, json, big);
    await writer.flush();
    expect(store.findCoveringView(viewOf(info, node))).toBeUndefined();
  });

  it('skips an unchanged relist while its view is covered, and applies it again once it is not', async () => {
    const info = parseRequestInfo('GET', '/api/v1/namespaces/default/pods');
    const answer = {
      apiVersion: 'v1',
      kind: 'PodList',
      metadata: { resourceVersion: '4' },
      items: [pod('a', '4')],
    };
    filler.list(info, node, 200, json, teeOf(answer));
    await writer.flush();
    const applied = writer.applied;
    filler.list(info, node, 200, json, teeOf(answer));
    expect(writer.pending).toBe(0);
    await writer.flush();
    expect(writer.applied).toBe(applied);
    store.markViewIncomplete(viewOf(info, node));
    filler.list(info, node, 200, json, teeOf(answer));
    await writer.flush();
    expect(store.findCoveringView(viewOf(info, node))?.complete).toBe(true);
  });

  it('knows a plain list by its own resourceVersion, never by that of an item', () => {
    const ordered = new Tee({ fingerprint: true });
    ordered.push(
      Buffer.from('{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42"},"items":[]}'),
    );
    expect(ordered.fingerprint()).toBe('rv:42');
    const itemsFirst = new Tee({ fingerprint: true });
    itemsFirst.push(
      Buffer.from(
        '{"items":[{"metadata":{"name":"a","resourceVersion":"7"}}],"metadata":{"resourceVersion":"9"}}',
      ),
    );
    // The list's own metadata after its items: found when within the first bytes, items skipped whole.
    expect(itemsFirst.fingerprint()).toBe('rv:9');
    const longItemsFirst = new Tee({ fingerprint: true });
    const items = Array.from(
      { length: 100 },
      (_, i) => `{"metadata":{"name":"p${i}","resourceVersion":"${i}"}}`,
    );
    longItemsFirst.push(Buffer.from(`{"items":[${items.join(',')}],"metadata":{"resourceVersion":"900"}}`));
    expect(longItemsFirst.fingerprint()).toBe('');
    expect(new Tee().fingerprint()).toBe('');
  });

  it('applies a relist whose resourceVersion moved', async () => {
    const info = parseRequestInfo('GET', '/api/v1/namespaces/default/pods');
    filler.list(
      info,
      node,
      200,
      json,
      teeOf({
        apiVersion: 'v1',
        kind: 'PodList',
        metadata: { resourceVersion: '4' },
        items: [pod('a', '4')],
      }),
    );
    await writer.flush();
    filler.list(
      info,
      node,
      200,
      json,
      teeOf({
        apiVersion: 'v1',
        kind: 'PodList',
        metadata: { resourceVersion: '6' },
        items: [pod('b', '6')],
      }),
    );
    await writer.flush();
    expect(store.listObjects(pods, 'default', '', '').map((o) => o.metadata.name)).toEqual(['b']);
  });

  it('keeps discovery answers verbatim under their key', async () => {
    const doc = { kind: 'APIVersions', versions: ['v1'] };
    filler.raw('/api\naccept', 200, gzipped, teeOf(doc, true));
    await writer.flush();
    const raw = store.getRaw('/api\naccept');
    expect(raw?.contentType).toBe('application/json');
    expect(JSON.parse(raw!.body.toString())).toEqual(doc);
  });
});
