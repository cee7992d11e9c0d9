import { createHash, randomBytes } from 'node:crypto';
import type { KubeObject } from '../types.js';
import { isObject } from './json-value.js';

/**
 * Events offline: a component that keeps emitting the same event (a crash-looping container,
 * an image that cannot be pulled) must not fill the queue. The API server's own correlator keys
 * a repeat by involved object + reason + message; we fold repeats into one queued event and
 * count them, the way client-go's recorder does with count and lastTimestamp.
 */

/** core/v1 names it involvedObject/message; events.k8s.io/v1 regarding/note. */
export function eventDedupKey(group: string, namespace: string, ev: KubeObject): string {
  const regarding = (group === 'events.k8s.io' ? ev.regarding : ev.involvedObject) as Record<string, unknown>;
  const about = isObject(regarding as never) ? regarding : {};
  const text = group === 'events.k8s.io' ? ev.note : ev.message;
  const identity = [
    group,
    namespace,
    about.kind,
    about.namespace,
    about.name,
    about.uid,
    about.fieldPath,
    ev.reason,
    text,
  ];
  return `event:${createHash('sha256').update(JSON.stringify(identity)).digest('hex')}`;
}

/** The queued event after one more occurrence `next` of it (count + the newest timestamp). */
export function foldEvent(group: string, queued: KubeObject, next: KubeObject, now: Date): KubeObject {
  const out: KubeObject = { ...queued, metadata: { ...queued.metadata } };
  // the local version of the newest occurrence, so watchers see each fold as a change
  if (next.metadata.resourceVersion) out.metadata.resourceVersion = next.metadata.resourceVersion;
  if (group === 'events.k8s.io') {
    const prev = (queued.series as { count?: number } | undefined)?.count ?? 1;
    const more = (next.series as { count?: number } | undefined)?.count ?? 1;
    out.series = {
      count: prev + more,
      lastObservedTime:
        (next.series as { lastObservedTime?: string } | undefined)?.lastObservedTime ?? micro(now),
    };
    return out;
  }
  out.count = numberOr(queued.count, 1) + numberOr(next.count, 1);
  out.lastTimestamp = (next.lastTimestamp as string | undefined) ?? seconds(now);
  return out;
}

/**
 * A new event as it will be created: the name is fixed now (generateName resolved here) so a
 * replay after a crash hits AlreadyExists instead of creating the event twice.
 */
export function prepareNewEvent(group: string, namespace: string, ev: KubeObject, now: Date): KubeObject {
  const meta = { ...ev.metadata };
  if (!meta.name) {
    const prefix = typeof meta.generateName === 'string' ? meta.generateName : '';
    if (!prefix) throw new Error('an event needs metadata.name or metadata.generateName');
    meta.name = `${prefix}${randomBytes(4).toString('hex').slice(0, 5)}`;
  }
  delete meta.generateName;
  meta.namespace = namespace;
  meta.creationTimestamp ??= seconds(now);
  const out: KubeObject = { ...ev, metadata: meta };
  if (group === '') {
    out.count = numberOr(ev.count, 1);
    out.firstTimestamp ??= seconds(now);
    out.lastTimestamp ??= seconds(now);
  }
  return out;
}

function numberOr(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

function seconds(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

function micro(d: Date): string {
  return `${d.toISOString().slice(0, 23)}000Z`;
}
