import type { ServerResponse } from 'node:http';

/**
 * Calls `fn` once, with the status code, when the response head is about to go out. A watch is
 * open for minutes: counting (and logging) it only when it closes would leave every open watch
 * out of the proxy's request counters. Node writes an implicit head through `writeHead` too
 * (`_implicitHeader`), so wrapping it sees every response.
 */
export function onResponseHead(res: ServerResponse, fn: (statusCode: number) => void): void {
  const original = res.writeHead;
  let called = false;
  // biome-ignore lint/suspicious/noExplicitAny: forwards writeHead's overloads untouched
  res.writeHead = function (this: ServerResponse, ...args: any[]) {
    res.writeHead = original;
    if (!called) {
      called = true;
      fn(typeof args[0] === 'number' ? args[0] : res.statusCode);
    }
    return (original as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}
