import { describe, expect, it } from 'vitest';
import {
  fieldSelectorCovers,
  fieldValues,
  formatLabelSelector,
  labelSelectorCovers,
  matchesFieldSelector,
  matchesLabelSelector,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
} from './selectors.js';
import type { KubeObject } from './types.js';

const pods = { group: '', resource: 'pods' };

describe('label selectors', () => {
  it('parses every operator', () => {
    const s = parseLabelSelector('tier=web, env==prod,app!=db,zone in (a, b),x notin (c),has,!gone,n>3,m<10');
    expect(s.requirements).toEqual([
      { key: 'app', op: 'notin', values: ['db'] },
      { key: 'env', op: 'in', values: ['prod'] },
      { key: 'gone', op: 'doesnotexist', values: [] },
      { key: 'has', op: 'exists', values: [] },
      { key: 'm', op: 'lt', values: ['10'] },
      { key: 'n', op: 'gt', values: ['3'] },
      { key: 'tier', op: 'in', values: ['web'] },
      { key: 'x', op: 'notin', values: ['c'] },
      { key: 'zone', op: 'in', values: ['a', 'b'] },
    ]);
    expect(parseLabelSelector('').requirements).toEqual([]);
    expect(parseLabelSelector('   ').requirements).toEqual([]);
    expect(parseLabelSelector('a=').requirements).toEqual([{ key: 'a', op: 'in', values: [''] }]);
    expect(parseLabelSelector('example.com/app=x').requirements[0]!.key).toBe('example.com/app');
  });

  it('matches like the API server', () => {
    const labels = { app: 'web', env: 'prod', n: '5' };
    const m = (sel: string, l: Record<string, string> | undefined = labels) =>
      matchesLabelSelector(l, parseLabelSelector(sel));
    expect(m('')).toBe(true);
    expect(m('app=web')).toBe(true);
    expect(m('app=db')).toBe(false);
    expect(m('app!=db')).toBe(true);
    expect(m('missing!=db')).toBe(true); // != matches when the label is absent
    expect(m('missing notin (x)')).toBe(true);
    expect(m('missing in (x)')).toBe(false);
    expect(m('app in (db,web)')).toBe(true);
    expect(m('app notin (db,web)')).toBe(false);
    expect(m('env')).toBe(true);
    expect(m('!env')).toBe(false);
    expect(m('!other')).toBe(true);
    expect(m('n>4,n<6')).toBe(true);
    expect(m('n>5')).toBe(false);
    expect(m('app>1')).toBe(false);
    expect(m('app=web,env=dev')).toBe(false);
    expect(matchesLabelSelector(undefined, parseLabelSelector('app'))).toBe(false);
    expect(matchesLabelSelector(undefined, parseLabelSelector('!app'))).toBe(true);
  });

  it.each([
    'app=web=x',
    'app in a,b',
    'app in ()',
    'app in (a',
    '=web',
    '!',
    'app web',
    '-app=x',
    'app=-x',
    `app=${'x'.repeat(64)}`,
    `${'k'.repeat(64)}=x`,
    'Bad_Prefix/app=x',
    '/app=x',
    'n>x',
    'app,',
    ',app',
    'in=x',
  ])('rejects %s', (sel) => {
    expect(() => parseLabelSelector(sel)).toThrow(SelectorError);
  });

  it('round-trips through formatLabelSelector', () => {
    const sel = 'a=1,b!=2,c in (x,y),d notin (z),e,!f,g>1,h<2';
    expect(parseLabelSelector(formatLabelSelector(parseLabelSelector(sel)))).toEqual(parseLabelSelector(sel));
  });

  it('decides coverage soundly', () => {
    expect(labelSelectorCovers('', 'app=web')).toBe(true);
    expect(labelSelectorCovers('', '')).toBe(true);
    expect(labelSelectorCovers('app=web', 'app=web')).toBe(true);
    expect(labelSelectorCovers('app=web', 'app==web')).toBe(true);
    expect(labelSelectorCovers('app=web', 'app=web,env=prod')).toBe(true);
    expect(labelSelectorCovers('app=web', '')).toBe(false);
    expect(labelSelectorCovers('app=web,env=prod', 'app=web')).toBe(false);
    expect(labelSelectorCovers('app in (web,db)', 'app=web')).toBe(true);
    expect(labelSelectorCovers('app=web', 'app in (web,db)')).toBe(false);
    expect(labelSelectorCovers('app', 'app=web')).toBe(true);
    expect(labelSelectorCovers('app', 'app!=web')).toBe(false);
    expect(labelSelectorCovers('app!=db', 'app=web')).toBe(true);
    expect(labelSelectorCovers('app!=db', 'app notin (db,x)')).toBe(true);
    expect(labelSelectorCovers('app notin (db,x)', 'app!=db')).toBe(false);
    expect(labelSelectorCovers('app!=db', '!app')).toBe(true);
    expect(labelSelectorCovers('!app', 'app!=db')).toBe(false);
    expect(labelSelectorCovers('n>3', 'n>5')).toBe(true);
    expect(labelSelectorCovers('n>5', 'n>3')).toBe(false);
    expect(labelSelectorCovers('n>3', 'n in (4,9)')).toBe(true);
    expect(labelSelectorCovers('service.kubernetes.io/headless', '!service.kubernetes.io/headless')).toBe(
      false,
    );
  });

  it('agrees with brute force on random selectors', () => {
    // Soundness: whenever covers() says yes, no label set matches req without matching view.
    const keys = ['a', 'b'];
    const vals = ['1', '2', '3'];
    const reqs: string[] = [''];
    for (const k of keys) {
      reqs.push(k, `!${k}`);
      for (const v of vals) reqs.push(`${k}=${v}`, `${k}!=${v}`);
      reqs.push(`${k} in (1,2)`, `${k} notin (1,2)`, `${k}>1`, `${k}<3`);
    }
    const labelSets: Record<string, string>[] = [{}];
    for (const a of [undefined, ...vals])
      for (const b of [undefined, ...vals]) {
        const l: Record<string, string> = {};
        if (a) l.a = a;
        if (b) l.b = b;
        labelSets.push(l);
      }
    let proven = 0;
    for (const v of reqs)
      for (const r of reqs) {
        if (!labelSelectorCovers(v, r)) continue;
        proven++;
        const vs = parseLabelSelector(v);
        const rs = parseLabelSelector(r);
        for (const l of labelSets)
          if (matchesLabelSelector(l, rs)) expect(matchesLabelSelector(l, vs)).toBe(true);
      }
    expect(proven).toBeGreaterThan(reqs.length);
  });
});

describe('field selectors', () => {
  const pod: KubeObject = {
    metadata: { name: 'p1', namespace: 'ns1' },
    spec: { nodeName: 'node-a', restartPolicy: 'Always', hostNetwork: true },
    status: { phase: 'Running', podIP: '10.0.0.5' },
  };

  it('parses and matches', () => {
    const m = (s: string) => matchesFieldSelector(pod, pods, parseFieldSelector(s, pods));
    expect(m('spec.nodeName=node-a')).toBe(true);
    expect(m('spec.nodeName==node-a')).toBe(true);
    expect(m('spec.nodeName=node-b')).toBe(false);
    expect(m('spec.nodeName!=node-b,status.phase=Running')).toBe(true);
    expect(m('status.phase!=Running')).toBe(false);
    expect(m('metadata.name=p1,metadata.namespace=ns1')).toBe(true);
    expect(m('spec.hostNetwork=true')).toBe(true);
    expect(m('status.nominatedNodeName=')).toBe(true);
    expect(m('')).toBe(true);
  });

  it('handles escapes', () => {
    const s = parseFieldSelector('metadata.name=a\\,b\\=c');
    expect(s.requirements).toEqual([{ field: 'metadata.name', op: '=', value: 'a,b=c' }]);
    expect(() => parseFieldSelector('metadata.name=a\\x')).toThrow(SelectorError);
  });

  it('rejects fields the API server does not support, with its message', () => {
    expect(() => parseFieldSelector('spec.foo=x', pods)).toThrow('field label not supported: spec.foo');
    expect(() => parseFieldSelector('spec.nodeName=x', { group: '', resource: 'configmaps' })).toThrow(
      'field label not supported: spec.nodeName',
    );
    expect(() =>
      matchesFieldSelector(pod, { group: '', resource: 'services' }, parseFieldSelector('spec.nodeName=x')),
    ).toThrow(SelectorError);
    expect(() => parseFieldSelector('justaword')).toThrow(SelectorError);
    expect(() => parseFieldSelector('=x')).toThrow(SelectorError);
  });

  it('extracts event and node fields', () => {
    const ev: KubeObject = {
      metadata: { name: 'e1', namespace: 'ns1' },
      involvedObject: { kind: 'Pod', name: 'p1', namespace: 'ns1', uid: 'u1' },
      reason: 'Started',
      type: 'Normal',
      source: { component: 'kubelet', host: 'node-a' },
      reportingComponent: 'kubelet',
    };
    const v = fieldValues(ev, { group: '', resource: 'events' });
    expect(v['involvedObject.name']).toBe('p1');
    expect(v.source).toBe('kubelet');
    expect(v.reason).toBe('Started');
    expect(v['involvedObject.fieldPath']).toBe('');
    const node: KubeObject = { metadata: { name: 'n1' }, spec: {} };
    expect(fieldValues(node, { group: '', resource: 'nodes' })).toEqual({
      'metadata.name': 'n1',
      'metadata.namespace': '',
      'spec.unschedulable': 'false',
    });
  });

  it('decides coverage', () => {
    expect(fieldSelectorCovers('', 'spec.nodeName=a')).toBe(true);
    expect(fieldSelectorCovers('spec.nodeName=a', 'spec.nodeName=a')).toBe(true);
    expect(fieldSelectorCovers('spec.nodeName=a', 'spec.nodeName==a,status.phase=Running')).toBe(true);
    expect(fieldSelectorCovers('spec.nodeName=a', '')).toBe(false);
    expect(fieldSelectorCovers('spec.nodeName=a', 'spec.nodeName=b')).toBe(false);
    expect(fieldSelectorCovers('spec.nodeName!=b', 'spec.nodeName=a')).toBe(true);
    expect(fieldSelectorCovers('spec.nodeName!=b', 'spec.nodeName!=b')).toBe(true);
    expect(fieldSelectorCovers('spec.nodeName!=b', 'spec.nodeName=b')).toBe(false);
  });
});
