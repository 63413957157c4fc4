/** Retry policies the tests subscribe with, as the API takes them. */

/** The shortest retry the API allows, at a fixed interval, for half an hour (1,800 attempts at most). */
export const FAST_RETRY = { initialInterval: '1s', backoffCoefficient: 1, maximumInterval: '1s', maxDuration: '30m' };
