import pino, { type Logger } from 'pino';

/**
 * Paths pino masks wherever they appear in a logged object. Secrets and keys are not logged in
 * the first place; this is the second line of defence.
 */
const REDACTED_PATHS = [
  'secret',
  '*.secret',
  'secrets',
  '*.secrets',
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'callbackSecret',
  '*.callbackSecret',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: undefined }, destination);
}
