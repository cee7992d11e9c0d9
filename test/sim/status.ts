/**
 * metav1.Status errors exactly as kube-apiserver shapes them: every failure the simulator
 * answers is one of these, thrown from deep inside and rendered once by the server.
 */

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: Array<{ reason?: string; message?: string; field?: string }>;
  retryAfterSeconds?: number;
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toStatus(): StatusObject {
    const s: StatusObject = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) s.details = this.details;
    return s;
  }
}

function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const errors = {
  notFound: (group: string, resource: string, name: string) =>
    new StatusError(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, {
      name,
      group,
      kind: resource,
    }),
  alreadyExists: (group: string, resource: string, name: string) =>
    new StatusError(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, {
      name,
      group,
      kind: resource,
    }),
  conflict: (group: string, resource: string, name: string, why: string) =>
    new StatusError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`,
      {
        name,
        group,
        kind: resource,
      },
    ),
  staleResourceVersion: (group: string, resource: string, name: string) =>
    errors.conflict(
      group,
      resource,
      name,
      'the object has been modified; please apply your changes to the latest version and try again',
    ),
  invalid: (group: string, kind: string, name: string, field: string, message: string) =>
    new StatusError(422, 'Invalid', `${kind} "${name}" is invalid: ${field}: ${message}`, {
      name,
      group,
      kind,
      causes: [{ reason: 'FieldValueInvalid', message, field }],
    }),
  invalidPatch: (message: string) => new StatusError(422, 'Invalid', message),
  badRequest: (message: string) => new StatusError(400, 'BadRequest', message),
  gone: (message: string) => new StatusError(410, 'Expired', message),
  methodNotAllowed: () =>
    new StatusError(
      405,
      'MethodNotAllowed',
      'the server does not allow this method on the requested resource',
    ),
  unknownPath: () =>
    new StatusError(404, 'NotFound', 'the server could not find the requested resource', {
      causes: [{ reason: 'UnexpectedServerResponse', message: '404 page not found' }],
    }),
  unauthorized: () => new StatusError(401, 'Unauthorized', 'Unauthorized'),
  tooLarge: (limit: number) =>
    new StatusError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`),
  unsupportedMediaType: (type: string) =>
    new StatusError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got "${type}")`,
    ),
  notAcceptable: () =>
    new StatusError(
      406,
      'NotAcceptable',
      'only the following media types are accepted: application/json, application/yaml',
    ),
  tooManyRequests: (retryAfterSeconds: number) =>
    new StatusError(
      429,
      'TooManyRequests',
      'Too many requests, please try again later.',
      { retryAfterSeconds },
      { 'Retry-After': String(retryAfterSeconds) },
    ),
  timeout: (message: string, retryAfterSeconds = 1) =>
    new StatusError(
      504,
      'Timeout',
      message,
      { retryAfterSeconds },
      { 'Retry-After': String(retryAfterSeconds) },
    ),
};
