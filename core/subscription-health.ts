import { formatDuration } from './duration';
import type { HealthAfterAttempt } from './model';

/** When a subscription is disabled for its failures. */
export interface AutoDisableSettings {
  /** No successful attempt for this long disables it, ms; null: never (WEBHOOKS_DISABLE_AFTER=off). @default 5 days */
  readonly disableAfterMs: number | null;
  /** A receiver answering 410 Gone disables it at once. @default true */
  readonly disableOnGone: boolean;
}

export const DEFAULT_AUTO_DISABLE: AutoDisableSettings = Object.freeze({
  disableAfterMs: 5 * 86_400_000,
  disableOnGone: true,
});

/** Why a failed attempt disables its subscription; undefined when it does not. */
export function disableReason(
  health: HealthAfterAttempt,
  statusCode: number | null,
  now: number,
  settings: AutoDisableSettings,
): string | undefined {
  if (settings.disableOnGone && statusCode === 410) return 'the receiver answered 410 Gone';
  const { failingSince } = health;
  if (
    settings.disableAfterMs !== null &&
    failingSince !== null &&
    now - failingSince.getTime() >= settings.disableAfterMs
  ) {
    return `no attempt succeeded for ${formatDuration(settings.disableAfterMs)} (failing since ${failingSince.toISOString()})`;
  }
  return undefined;
}
