import { describe, expect, it } from 'vitest';
import { Breaker } from './breaker.js';

function observe(b: Breaker, outcomes: string): string[] {
  const states: string[] = [];
  for (const o of outcomes) {
    if (o === '+') b.success();
    else b.failure();
    states.push(b.state);
  }
  return states;
}

describe('Breaker', () => {
  it('decides on the first observation: one failure opens, one success closes', () => {
    expect(observe(new Breaker(3, 3), '-')).toEqual(['open']);
    expect(observe(new Breaker(3, 3), '+')).toEqual(['closed']);
  });

  it('admits a server that never answered at its first success, however many failures came first', () => {
    expect(observe(new Breaker(3, 3), '----+')).toEqual(['open', 'open', 'open', 'open', 'closed']);
  });

  it('once a server has answered, it goes down after openAfter failures and back after closeAfter successes', () => {
    const b = new Breaker(3, 2);
    expect(observe(b, '+')).toEqual(['closed']);
    expect(observe(b, '--+---')).toEqual(['closed', 'closed', 'closed', 'closed', 'closed', 'open']);
    expect(observe(b, '+-++')).toEqual(['open', 'open', 'open', 'closed']);
  });
});
