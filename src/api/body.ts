/**
 * Reads request bodies: JSON in UTF-8 only, at most `maxBodyBytes` (after any content-encoding
 * is undone), parsed by our own reader (json.ts) so that routes see every key and the source text
 * of each value. What is refused, and how:
 *
 * - a body that is not `application/json`, or declares a charset other than utf-8: 415
 * - a body over the limit: 413
 * - bytes that are not valid UTF-8, or text that is not JSON: 400
 * - JSON that is not an object, repeats a key in one object, or nests too deep: 422
 */
import express, { type Request, type RequestHandler } from 'express';
import { MalformedRequestError, UnsupportedMediaTypeError, ValidationError } from '../errors';
import { JsonRuleError, JsonSyntaxError, readJson, valueOf, type JsonNode } from './json';

/** The body as it came, for routes that keep a value's exact text (an event's `data`). */
export interface RawJsonBody {
  /** The body decoded from UTF-8. */
  readonly text: string;
  /** Its parse tree: each node knows its span of `text`. */
  readonly root: JsonNode;
}

const RAW_BODY = Symbol('raw JSON body');

type WithRawBody = Request & { [RAW_BODY]?: RawJsonBody };

/** The parsed body of this request with its source text; undefined when it had none. */
export function rawBodyOf(req: Request): RawJsonBody | undefined {
  return (req as WithRawBody)[RAW_BODY];
}

/** The exact source text of a top-level member of the body, e.g. an event's `data`. */
export function rawMemberText(req: Request, key: string): string | undefined {
  const body = rawBodyOf(req);
  if (!body || body.root.kind !== 'object') return undefined;
  const member = body.root.entries.find(([name]) => name === key)?.[1];
  return member && body.text.slice(member.start, member.end);
}

const hasBody = (req: Request): boolean =>
  Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;

/** The `charset` parameter of a content type, lower-cased and unquoted; undefined when none is declared. */
export function declaredCharset(contentType: string): string | undefined {
  for (const parameter of contentType.split(';').slice(1)) {
    const [name = '', ...rest] = parameter.split('=');
    if (name.trim().toLowerCase() !== 'charset') continue;
    const value = rest.join('=').trim();
    return (
      value.startsWith('"') && value.endsWith('"') && value.length >= 2 ? value.slice(1, -1) : value
    ).toLowerCase();
  }
  return undefined;
}

/** Refuses, before reading it, a body that is not JSON or not UTF-8 (415). */
const requireJsonUtf8: RequestHandler = (req, _res, next) => {
  if (!hasBody(req)) {
    next();
    return;
  }
  if (!req.is('application/json')) {
    next(
      new UnsupportedMediaTypeError('request body must be application/json', [
        { path: 'content-type', message: 'must be application/json' },
      ]),
    );
    return;
  }
  const charset = declaredCharset(req.headers['content-type'] ?? '');
  if (charset !== undefined && charset !== 'utf-8') {
    next(
      new UnsupportedMediaTypeError(`request body must be UTF-8, not ${charset}`, [
        { path: 'content-type', message: 'charset must be utf-8' },
      ]),
    );
    return;
  }
  next();
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes and parses the bytes express.raw read into req.body. */
const parseJson: RequestHandler = (req, _res, next) => {
  const bytes: unknown = req.body;
  if (!Buffer.isBuffer(bytes) || bytes.length === 0) {
    req.body = undefined;
    next();
    return;
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    next(
      new MalformedRequestError('request body is not valid UTF-8', [{ path: 'body', message: 'is not valid UTF-8' }]),
    );
    return;
  }
  let root: JsonNode;
  try {
    root = readJson(text);
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      next(
        new MalformedRequestError(`request body is not valid JSON: ${error.message}`, [
          { path: 'body', message: 'is not valid JSON' },
        ]),
      );
    } else if (error instanceof JsonRuleError) {
      next(new ValidationError('invalid request body', [{ path: error.path, message: error.problem }]));
    } else {
      next(error);
    }
    return;
  }
  if (root.kind !== 'object') {
    next(
      new ValidationError('request body must be a JSON object', [{ path: 'body', message: 'must be a JSON object' }]),
    );
    return;
  }
  req.body = valueOf(root);
  (req as WithRawBody)[RAW_BODY] = { text, root };
  next();
};

/** The body pipeline of every API route. */
export function jsonBody(maxBodyBytes: number): RequestHandler[] {
  return [requireJsonUtf8, express.raw({ type: () => true, limit: maxBodyBytes, inflate: true }), parseJson];
}
