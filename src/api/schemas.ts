/** Field rules several routes share. */
import { z } from 'zod';
import { parseDuration } from '../../core/duration';

/** Event type ids, event ids and account ids: letters, digits, '.', '_', '-'; 1–128 characters. */
export const identifier = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(128, `${what} must be at most 128 characters`)
    .regex(/^[A-Za-z0-9._-]+$/, `${what} may contain only letters, digits, '.', '_' and '-'`);

/** Ids this service generates, e.g. `sub_01j…`. */
export const resourceId = z.string().regex(/^[a-z]{3}_[0-9a-z]{26}$/);

export const duration = z
  .union([z.string(), z.number()])
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

/** `limit` and `cursor` of every list. */
export const pageQuery = {
  cursor: z.string().max(200).optional(),
  limit: decimalQueryInteger('limit', 1, 100).default(50),
};

export const booleanQuery = z.enum(['true', 'false']).transform((value) => value === 'true');

export const errorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })),
  }),
});

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable() });
