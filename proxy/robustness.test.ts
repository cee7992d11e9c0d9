/**
 * Whatever a client sends, parsing ends in a result or in the typed 4xx error the server turns
 * into a Status: never a TypeError that would take a request (or the proxy) down.
 */
import { describe, expect, it } from 'vitest';
import { parseRequestInfo, RequestInfoError } from './request-info.js';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const pathPieces = [
  '/',
  'api',
  'apis',
  'v1',
  'apps',
  'namespaces',
  'ns',
  'pods',
  'watch',
  'proxy',
  'status',
  '..',
  '.',
  '%2F',
  '%zz',
  '%',
  '',
  '?',
  '&',
  '=',
  'watch=1',
  'limit=-1',
  'limit=5',
  '#',
  '%00',
  'é',
  ' ',
];
const selPieces = [
  'a',
  'b',
  '=',
  '==',
  '!=',
  '!',
  ',',
  '(',
  ')',
  ' in ',
  ' notin ',
  '>',
  '<',
  '1',
  '-',
  '_',
  '.',
  '/',
  'x.io/',
  '\\',
  ' ',
  'spec.nodeName',
  'metadata.name',
];

function randomString(rand: () => number, pieces: string[], n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += pieces[Math.floor(rand() * pieces.length)];
  return out;
}

describe('robustness', () => {
  it('parseRequestInfo only ever throws RequestInfoError', () => {
    const rand = prng(42);
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const url = `/${randomString(rand, pathPieces, 1 + Math.floor(rand() * 12))}`;
      try {
        parseRequestInfo(rand() < 0.5 ? 'GET' : 'DELETE', url);
        parsed++;
      } catch (err) {
        expect(err, url).toBeInstanceOf(RequestInfoError);
      }
    }
    expect(parsed).toBeGreaterThan(100);
  });

  it('selector parsers only ever throw SelectorError', () => {
    const rand = prng(7);
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const sel = randomString(rand, selPieces, 1 + Math.floor(rand() * 10));
      for (const parse of [
        () => parseLabelSelector(sel),
        () => parseFieldSelector(sel),
        () => parseFieldSelector(sel, { group: '', resource: 'pods' }),
      ]) {
        try {
          parse();
          parsed++;
        } catch (err) {
          expect(err, sel).toBeInstanceOf(SelectorError);
        }
      }
    }
    expect(parsed).toBeGreaterThan(100);
  });
});
