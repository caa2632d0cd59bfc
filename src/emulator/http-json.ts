import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import {
  fromProto3JSON,
  toProto3JSON,
  type JSONObject,
  type JSONValue,
} from 'proto3-json-serializer';
import { protoFiles, protoRoots } from './protos.ts';
import { StatusError } from './status-error.ts';
import { errorMessage } from '../errors/coerce.ts';

/**
 * The v2 REST surface (HTTP/1.1 + JSON) of the emulator, derived from the protos: every method
 * of Jobs, Executions and Tasks that the emulator serves is routed by its own `google.api.http`
 * annotation, and requests and responses go through the proto3 JSON mapping Google's clients
 * use (proto3-json-serializer over protobufjs). The one exception is google.longrunning:
 * operations.proto annotates the generic `/v1/{name=operations/**}`, and Cloud Run's service
 * config rebinds it under `/v2/projects/*\/locations/*\/operations`; those four bindings are the
 * ones the generated Cloud Run clients carry (`lroOptions.httpRules`), copied below.
 */

export type Handler = (request: Record<string, unknown>) => Promise<object> | object;
/** Full service name → method name → handler, shared by both transports. */
export type Handlers = Record<string, Record<string, Handler>>;

interface HttpRule {
  get?: string;
  post?: string;
  put?: string;
  patch?: string;
  delete?: string;
  body?: string;
  additional_bindings?: HttpRule | HttpRule[];
}

const OPERATIONS_RULES: Record<string, HttpRule> = {
  GetOperation: { get: '/v2/{name=projects/*/locations/*/operations/*}' },
  ListOperations: { get: '/v2/{name=projects/*/locations/*}/operations' },
  DeleteOperation: { delete: '/v2/{name=projects/*/locations/*/operations/*}' },
  WaitOperation: { post: '/v2/{name=projects/*/locations/*/operations/*}:wait', body: '*' },
};

interface Route {
  httpMethod: string;
  pattern: RegExp;
  /** Request fields bound by the path, in the order of the pattern's groups (camelCase). */
  pathFields: string[];
  body: string | undefined;
  service: string;
  method: protobuf.Method;
}

const camel = (name: string): string =>
  name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `/v2/{name=projects/*\/locations/*}/jobs` → a regex with one group per variable. */
function compile(template: string): { pattern: RegExp; fields: string[] } {
  const fields: string[] = [];
  let source = '';
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf('{');
    if (open < 0) {
      source += escape(rest);
      break;
    }
    source += escape(rest.slice(0, open));
    const close = rest.indexOf('}', open);
    const [field = '', segments = '*'] = rest.slice(open + 1, close).split('=');
    fields.push(camel(field));
    const inner = segments
      .split('/')
      .map((segment) => (segment === '**' ? '.+' : segment === '*' ? '[^/]+' : escape(segment)))
      .join('/');
    source += `(${inner})`;
    rest = rest.slice(close + 1);
  }
  return { pattern: new RegExp(`^${source}$`), fields };
}

function bindings(rule: HttpRule): HttpRule[] {
  const extra = rule.additional_bindings;
  return [rule, ...(extra === undefined ? [] : Array.isArray(extra) ? extra : [extra])];
}

/** The protos as protobufjs types: the same files the gRPC side loads. */
function loadRoot(): protobuf.Root {
  const roots = protoRoots();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of roots) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync(protoFiles, { keepCase: false });
  root.resolveAll();
  return root;
}

const HTTP_STATUS: Record<number, number> = {
  [status.OK]: 200,
  [status.CANCELLED]: 499,
  [status.UNKNOWN]: 500,
  [status.INVALID_ARGUMENT]: 400,
  [status.DEADLINE_EXCEEDED]: 504,
  [status.NOT_FOUND]: 404,
  [status.ALREADY_EXISTS]: 409,
  [status.PERMISSION_DENIED]: 403,
  [status.RESOURCE_EXHAUSTED]: 429,
  [status.FAILED_PRECONDITION]: 400,
  [status.ABORTED]: 409,
  [status.OUT_OF_RANGE]: 400,
  [status.UNIMPLEMENTED]: 501,
  [status.INTERNAL]: 500,
  [status.UNAVAILABLE]: 503,
  [status.DATA_LOSS]: 500,
  [status.UNAUTHENTICATED]: 401,
};

/** The request object the handlers take: what proto-loader hands the gRPC side. */
const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export class HttpJsonGateway {
  readonly #routes: Route[] = [];
  readonly #handlers: Handlers;
  readonly #log: (line: string) => void;

  constructor(handlers: Handlers, log: (line: string) => void) {
    this.#handlers = handlers;
    this.#log = log;
    const root = loadRoot();
    for (const [serviceName, methods] of Object.entries(handlers)) {
      const service = root.lookupService(serviceName);
      for (const methodName of Object.keys(methods)) {
        const method = service.methods[methodName];
        if (!method) throw new Error(`${serviceName}.${methodName} is not in the shipped protos`);
        const parsedOptions = (method.parsedOptions ?? []) as Record<string, unknown>[];
        const annotated = parsedOptions.find((option) => '(google.api.http)' in option) as
          { '(google.api.http)': HttpRule } | undefined;
        const rule =
          serviceName === 'google.longrunning.Operations'
            ? OPERATIONS_RULES[methodName]
            : annotated?.['(google.api.http)'];
        if (!rule) continue;
        for (const binding of bindings(rule)) {
          for (const httpMethod of ['get', 'post', 'put', 'patch', 'delete'] as const) {
            const template = binding[httpMethod];
            if (template === undefined) continue;
            const { pattern, fields } = compile(template);
            this.#routes.push({
              httpMethod: httpMethod.toUpperCase(),
              pattern,
              pathFields: fields,
              body: binding.body,
              service: serviceName,
              method: method.resolve() as protobuf.Method,
            });
          }
        }
      }
    }
  }

  /** Every route, as `METHOD /template-regex → Service.Method`, for the docs and tests. */
  get routes(): { httpMethod: string; pattern: string; rpc: string }[] {
    return this.#routes.map((r) => ({
      httpMethod: r.httpMethod,
      pattern: r.pattern.source,
      rpc: `${r.service}.${r.method.name}`,
    }));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const numericEnums = /enum-encoding=int/.test(url.searchParams.get('$alt') ?? '');
    try {
      const path = decodeURIComponent(url.pathname);
      let route: Route | undefined;
      let match: RegExpExecArray | null = null;
      let pathMatched = false;
      for (const candidate of this.#routes) {
        const m = candidate.pattern.exec(path);
        if (!m) continue;
        pathMatched = true;
        if (candidate.httpMethod !== req.method) continue;
        route = candidate;
        match = m;
        break;
      }
      if (!route || !match) {
        throw new StatusError(
          pathMatched ? status.UNIMPLEMENTED : status.NOT_FOUND,
          pathMatched
            ? `${req.method ?? ''} is not a method of ${url.pathname}`
            : `${url.pathname} is not a path of the Cloud Run v2 API`,
        );
      }
      const requestType = route.method.resolvedRequestType;
      const responseType = route.method.resolvedResponseType;
      if (!requestType || !responseType) throw new Error(`${route.method.name} is not resolved`);
      const json = await this.#requestJson(req, route, url, requestType);
      route.pathFields.forEach((field, i) => (json[field] = match[i + 1] ?? ''));
      refuseUnknownFields(requestType, json, '');
      let message: protobuf.Message;
      try {
        message = fromProto3JSON(requestType, json) as protobuf.Message;
      } catch (err: unknown) {
        throw new StatusError(
          status.INVALID_ARGUMENT,
          `Invalid JSON payload received. ${errorMessage(err)}`,
        );
      }
      const request = requestType.toObject(message, TO_OBJECT);
      const handler = this.#handlers[route.service]?.[route.method.name];
      if (!handler)
        throw new StatusError(status.UNIMPLEMENTED, `${route.method.name} is not served`);
      const response = await handler(request);
      const body = toProto3JSON(responseType.fromObject(response), { numericEnums });
      this.#send(res, 200, body ?? {});
    } catch (err: unknown) {
      const code = err instanceof StatusError ? err.code : status.INTERNAL;
      const message = errorMessage(err);
      if (!(err instanceof StatusError))
        this.#log(
          `[emulator] internal error: ${err instanceof Error ? (err.stack ?? message) : message}`,
        );
      this.#send(res, HTTP_STATUS[code] ?? 500, {
        error: { code: HTTP_STATUS[code] ?? 500, message, status: status[code], details: [] },
      });
    }
  }

  async #requestJson(
    req: IncomingMessage,
    route: Route,
    url: URL,
    requestType: protobuf.Type,
  ): Promise<JSONObject> {
    let json: JSONObject = {};
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8').trim();
    if (route.body !== undefined && text !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err: unknown) {
        throw new StatusError(
          status.INVALID_ARGUMENT,
          `Invalid JSON payload received. ${errorMessage(err)}`,
        );
      }
      if (route.body === '*') {
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          throw new StatusError(
            status.INVALID_ARGUMENT,
            'Invalid JSON payload received. The body must be a JSON object.',
          );
        json = parsed as JSONObject;
      } else {
        json[camel(route.body)] = parsed as JSONValue;
      }
    }
    // Everything not bound by the path or the body comes as query parameters.
    if (route.body !== '*') {
      for (const [key, value] of url.searchParams) {
        if (key.startsWith('$') || key === 'alt' || key === 'key' || key === 'prettyPrint')
          continue;
        setQueryField(requestType, json, key.split('.').map(camel), value);
      }
    }
    return json;
  }

  #send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }
}

/** Sets `a.b.c=value` from a query string into the request JSON, typed by the proto field. */
function setQueryField(type: protobuf.Type, json: JSONObject, path: string[], value: string): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const field = type.fields[head] ?? type.fieldsArray.find((f) => f.name === head);
  if (!field)
    throw new StatusError(
      status.INVALID_ARGUMENT,
      `Invalid JSON payload received. Unknown name "${head}": Cannot bind query parameter.`,
    );
  field.resolve();
  if (rest.length > 0) {
    if (!(field.resolvedType instanceof protobuf.Type))
      throw new StatusError(status.INVALID_ARGUMENT, `${head} is not a message field`);
    const child = (json[field.name] ??= {}) as JSONObject;
    setQueryField(field.resolvedType, child, rest, value);
    return;
  }
  const typed: JSONValue =
    field.type === 'bool'
      ? value === 'true'
      : ['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'double', 'float'].includes(field.type)
        ? Number(value)
        : value;
  if (field.repeated) ((json[field.name] ??= []) as JSONValue[]).push(typed);
  else json[field.name] = typed;
}

/** Messages with a JSON form of their own, whose JSON is not an object of fields. */
const WELL_KNOWN = new Set([
  'google.protobuf.Any',
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
]);

/** Google's APIs refuse a field they do not know (a typo would otherwise be silently dropped). */
function refuseUnknownFields(type: protobuf.Type, json: JSONValue, path: string): void {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return;
  if (WELL_KNOWN.has(type.fullName.replace(/^\./, ''))) return;
  for (const [key, value] of Object.entries(json)) {
    const field =
      type.fields[key] ?? type.fieldsArray.find((f) => f.name === key || camel(f.name) === key);
    if (!field)
      throw new StatusError(
        status.INVALID_ARGUMENT,
        `Invalid JSON payload received. Unknown name "${key}"${path ? ` at '${path}'` : ''}: Cannot find field.`,
      );
    field.resolve();
    if (!(field.resolvedType instanceof protobuf.Type) || field.map) continue;
    const child = field.resolvedType;
    const where = path ? `${path}.${key}` : key;
    if (Array.isArray(value))
      value.forEach((item, i) => refuseUnknownFields(child, item, `${where}[${i}]`));
    else refuseUnknownFields(child, value, where);
  }
}
