import { describe, expect, it } from 'vitest';
import { decideAccept } from './accept.js';

describe('decideAccept', () => {
  it('lets client-go fill the cache as JSON', () => {
    expect(decideAccept('application/vnd.kubernetes.protobuf,application/json')).toEqual({
      json: true,
      wantsOtherShape: false,
    });
    expect(decideAccept(undefined)).toEqual({ json: true, wantsOtherShape: false });
    expect(decideAccept('*/*')).toEqual({ json: true, wantsOtherShape: false });
  });

  it('leaves protobuf-only clients and Table requests alone', () => {
    expect(decideAccept('application/vnd.kubernetes.protobuf')).toEqual({
      json: false,
      wantsOtherShape: false,
    });
    expect(
      decideAccept(
        'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
      ),
    ).toEqual({ json: true, wantsOtherShape: true });
    expect(decideAccept('application/json;q=0')).toEqual({ json: false, wantsOtherShape: false });
  });
});
