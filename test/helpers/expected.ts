/** What a new (or re-enabled) subscription's `health` is, in the store and in the API alike. */
export const FRESH_HEALTH = Object.freeze({
  status: 'healthy',
  consecutiveFailures: 0,
  lastSuccessAt: null,
  lastFailureAt: null,
  failingSince: null,
  disabledAt: null,
  disabledReason: null,
});
