/**
 * The API as a Lambda behind an API Gateway HTTP API (payload format 2.0, "Working with AWS
 * Lambda proxy integrations for HTTP APIs", API Gateway developer guide). The gateway's JWT
 * authorizer has checked the token before the Lambda runs; the handler checks it again, the
 * same way `egg api serve` does (defence in depth: a route left without the authorizer, or an
 * invocation that did not come through the gateway, gets no further).
 *
 * The path is the event's `rawPath`, which an HTTP API hands over percent-decoded (a
 * namespace's `%2F` arrives as `/`), so it is routed by `parseDecodedRoute`, which refuses
 * a path that could name two namespaces; an event whose `rawPath` kept its escapes is parsed
 * as sent. Routes under `/ci` (`CI_PATH_PREFIX`) are the same routes behind the gateway's
 * GitHub Actions authorizer (infra/service.ts): the prefix is dropped once.
 *
 * Configuration comes from the environment as everywhere (`EGG_BACKEND=aws`, `EGG_TABLE`, …),
 * the issuers from `EGG_API_ISSUERS`, the limit per caller from `EGG_API_SUB_RPS` and
 * `EGG_API_SUB_BURST` (throttle.ts); the backend is opened on the first event and kept for
 * the container's life.
 */
import { resolveConfig } from '../config.js';
import { EggError } from '../errors.js';
import { jsonLogger } from '../log.js';
import { type Api, MAX_BODY_BYTES } from './api.js';
import { readIssuers } from './jwt.js';
import { CI_PATH_PREFIX } from './routes.js';
import { encodeResponse } from './serve.js';
import { type ApiService, openApiService } from './service.js';
import { callLimitFromEnv } from './throttle.js';

/** The fields of an HTTP API 2.0 event the API reads. */
export interface HttpApiEvent {
  version: string;
  rawPath: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  /** The gateway's context: its authorizer's claims are not trusted here, the token is checked again. */
  requestContext: { http: { method: string; [field: string]: unknown }; [field: string]: unknown };
  [field: string]: unknown;
}

/** A 2.0 integration's answer. */
export interface HttpApiResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}

/** The handler of HTTP API events for `api`. */
export function lambdaAdapter(api: Api): (event: HttpApiEvent) => Promise<HttpApiResult> {
  return async (event) => {
    if (event.version !== '2.0')
      throw new TypeError(`the API takes HTTP API payload format 2.0 events, not ${String(event.version)}`);
    const body =
      event.body === undefined
        ? Buffer.alloc(0)
        : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
    const response =
      body.length > MAX_BODY_BYTES
        ? {
            status: 413,
            body: {
              error: { code: 'ERR_USAGE', message: `the body is larger than ${MAX_BODY_BYTES} bytes` },
            },
          }
        : await api({
            method: event.requestContext.http.method,
            path: event.rawPath.startsWith(`${CI_PATH_PREFIX}/`)
              ? event.rawPath.slice(CI_PATH_PREFIX.length)
              : event.rawPath,
            pathDecoded: true,
            query: event.rawQueryString ?? '',
            headers,
            body,
          });
    const { status, headers: out, body: text } = encodeResponse(response);
    return { statusCode: status, headers: out, body: text, isBase64Encoded: false };
  };
}

let service: Promise<ApiService> | undefined;

/** The deployed Lambda's entry point. */
export async function handler(event: HttpApiEvent): Promise<HttpApiResult> {
  service ??= (async () => {
    const text = process.env.EGG_API_ISSUERS;
    if (text === undefined || text === '')
      throw new EggError('ERR_INVALID_CONFIG', 'EGG_API_ISSUERS is not set', {
        hint: 'infra/ sets it from --service',
      });
    return openApiService(resolveConfig(), {
      issuers: readIssuers(text),
      logger: jsonLogger({ debug: false }),
      callLimit: callLimitFromEnv(process.env),
    });
  })();
  service.catch(() => {
    service = undefined;
  });
  return lambdaAdapter((await service).api)(event);
}
