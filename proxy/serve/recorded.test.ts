import { describe, expect, it } from 'vitest';
import { isRecordedPath, recordedKey, recordedPath } from './recorded.js';

describe('recorded answers', () => {
  it('keeps discovery, version and OpenAPI paths, nothing else', () => {
    for (const p of ['/api', '/apis', '/api/v1', '/apis/apps', '/apis/apps/v1', '/version', '/openapi/v2'])
      expect(isRecordedPath(p), p).toBe(true);
    expect(isRecordedPath('/openapi/v3')).toBe(true);
    expect(isRecordedPath('/openapi/v3/apis/apps/v1')).toBe(true);
    for (const p of ['/healthz', '/metrics', '/api/v2', '/openapi/v4', '/logs/x'])
      expect(isRecordedPath(p), p).toBe(false);
  });

  it('keys by path, query and Accept, without the client request timeout', () => {
    expect(recordedKey('/apis?timeout=32s', 'application/json')).toBe('/apis\napplication/json');
    expect(recordedKey('/apis', undefined)).toBe('/apis\n');
    expect(recordedKey('/openapi/v3/api/v1?hash=AB12&timeout=20s', 'application/json')).toBe(
      '/openapi/v3/api/v1?hash=AB12\napplication/json',
    );
    expect(recordedPath(recordedKey('/openapi/v3/api/v1?hash=AB12', 'a'))).toBe('/openapi/v3/api/v1');
    expect(recordedPath(recordedKey('/apis', 'a'))).toBe('/apis');
  });
});
