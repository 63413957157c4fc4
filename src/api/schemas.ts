/** Field rules several routes share. */
import { z } from 'zod';
import { parseDuration } from '../../core/duration';
import { RESERVED_EVENT_TYPE_PREFIX } from '../../core/operational-events';
import { decodeCursor, decodeNumberCursor, encodeCursor, encodeNumberCursor } from '../store/pagination';

/**
 * Schemas that appear under their own name in the OpenAPI document's `components/schemas`
 * (see openapi.ts), each read as request input or as answer output.
 */
export const NAMED_SCHEMAS: Array<readonly [string, z.ZodType, 'input' | 'output']> = [];

/** Registers `schema` as the component `id` of the OpenAPI document. */
export function named<T extends z.ZodType>(id: string, io: 'input' | 'output', schema: T): T {
  NAMED_SCHEMAS.push([id, schema, io]);
  return schema;
}

/**
 * Free text: at most `max` characters, no NUL (PostgreSQL text cannot hold one). The body reader
 * refuses a NUL first (route.ts, findUnstorable); the pattern says so in the document.
 */
export const text = (what: string, max: number) =>
  z
    .string({ error: `${what} must be a string` })
    .max(max, `${what} must be at most ${max} characters`)
    .regex(/^[^\u0000]*$/, `${what} must not contain a NUL character`);

/**
 * A webhook target: an absolute http:// or https:// URL of at most 2048 characters. Which
 * schemes, hosts, addresses and ports are allowed is decided by the target rules when it is saved
 * (core/targets.ts: https only unless WEBHOOKS_ALLOW_INSECURE_TARGETS, no credentials, no
 * fragment, no private address): a 422 at the field.
 */
export const targetUrl = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .max(2048, `${what} must be at most 2048 characters`)
    .regex(/^[Hh][Tt][Tt][Pp][Ss]?:\/\//, `${what} must be an http:// or https:// URL`)
    .meta({ format: 'uri' });

/** Event type ids, event ids and account ids: letters, digits, '.', '_', '-'; 1–128 characters. */
export const identifier = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(128, `${what} must be at most 128 characters`)
    .regex(/^[A-Za-z0-9._-]+$/, `${what} may contain only letters, digits, '.', '_' and '-'`);

/** An event type a client names, to register or publish it: an identifier outside the service's own (`webhook.…`). */
export const clientEventType = (what: string) =>
  identifier(what).regex(
    new RegExp(`^(?!${RESERVED_EVENT_TYPE_PREFIX.replaceAll('.', '\\.')})`),
    `must not start with '${RESERVED_EVENT_TYPE_PREFIX}': those event types are the service's own`,
  );

/** Ids this service generates, e.g. `sub_01j…`. */
export const resourceId = z.string().regex(/^[a-z]{2,3}_[0-9a-z]{26}$/);

export const duration = z
  .union([z.string().regex(/^[0-9]{1,9}(ms|s|m|h|d)$/), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)], {
    error: 'must be a duration such as "30s", "5m", "2h" or a number of milliseconds',
  })
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be a duration such as "30s", "5m", "2h" or a number of milliseconds',
      });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: 'A duration: "500ms", "30s", "5m", "2h", "1d", or integer milliseconds.' });

/**
 * Any JSON value, required (JSON has no undefined). The body reader (body.ts) has already parsed,
 * and refused, what is not JSON; this only says the member must be there. In the OpenAPI
 * document: `{}`, any value.
 */
export const anyJson = (what: string) =>
  z.unknown().refine((value) => value !== undefined, { message: `${what} is required` });

/**
 * An integer query parameter: decimal digits only, as the document's `type: integer` says; no
 * sign, no leading zero, no hex, exponent or fraction, and given once.
 */
export const decimalQueryInteger = (what: string, min: number, max: number) =>
  z.preprocess(
    (value) => (typeof value === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : value),
    z
      .number({
        error: (issue) =>
          Array.isArray(issue.input)
            ? `${what} must be given once`
            : `${what} must be a decimal integer from ${min} to ${max}`,
      })
      .int(`${what} must be a decimal integer from ${min} to ${max}`)
      .min(min, `${what} must be at least ${min}`)
      .max(max, `${what} must be at most ${max}`),
  );

/**
 * The cursor of a list of resources: the id of the last item of the page before, as `nextCursor`
 * gave it. Any well-formed id is a position (the next page starts after it).
 */
export const idCursor = z
  .string()
  .regex(/^[a-z]{2,3}_[0-9a-z]{26}$/, 'cursor must be a nextCursor this API returned')
  .transform((id) => encodeCursor(id))
  .meta({ description: "The previous page's nextCursor." });

/** The store's cursor as the API shows it. */
export const apiCursor = (storeCursor: string | null): string | null =>
  storeCursor === null ? null : (decodeCursor(storeCursor) ?? null);

/** The cursor of a delivery's attempts: the number of the last attempt of the page before. */
export const attemptCursor = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,8})$/, 'cursor must be a nextCursor this API returned')
  .transform((number) => encodeNumberCursor(Number(number)))
  .meta({ description: "The previous page's nextCursor." });

export const apiAttemptCursor = (storeCursor: string | null): string | null =>
  storeCursor === null ? null : String(decodeNumberCursor(storeCursor));

const limit = decimalQueryInteger('limit', 1, 100)
  .default(50)
  .meta({ description: 'Items per page, 1–100 (default 50).' });

/** `limit` and `cursor` of every list of resources. */
export const pageQuery = { cursor: idCursor.optional(), limit };

/** `limit` and `cursor` of a delivery's attempts. */
export const attemptPageQuery = { cursor: attemptCursor.optional(), limit };

export const booleanQuery = z.enum(['true', 'false']).transform((value) => value === 'true');

export const errorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })),
  }),
});

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({
    data: z.array(item),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last.' }),
  });
