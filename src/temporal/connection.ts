import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  type ClientInterceptors,
} from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_KEYS } from '../../core/search-attributes';

type SearchAttributeKey = (typeof SEARCH_ATTRIBUTE_KEYS)[number];

/** gRPC status UNAVAILABLE: the frontend cannot be reached. */
const GRPC_UNAVAILABLE = 14;

/**
 * Longest wait between two tries to reach an unreachable frontend, ms. gRPC's own reconnect backoff
 * grows to 2 minutes and the SDK's call retries to 5 s; capped, deliveries accepted during an
 * outage start within seconds of its end (the outbox relay retries failed dispatches every 2 s).
 */
const UNAVAILABLE_RETRY_MAX_MS = 1_000;

/** A client of the Temporal frontend at `address`, with `interceptors` (e.g. tracing's) when given. */
export async function connectClient(
  address: string,
  namespace: string,
  interceptors?: ClientInterceptors,
): Promise<Client> {
  const retry = defaultGrpcRetryOptions();
  const connection = await Connection.connect({
    address,
    channelArgs: {
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': UNAVAILABLE_RETRY_MAX_MS,
    },
    interceptors: [
      makeGrpcRetryInterceptor({
        ...retry,
        delayFunction: (attempt, status) =>
          status.code === GRPC_UNAVAILABLE
            ? Math.min(UNAVAILABLE_RETRY_MAX_MS, retry.delayFunction(attempt, status))
            : retry.delayFunction(attempt, status),
      }),
    ],
  });
  return new Client({ connection, namespace, ...(interceptors ? { interceptors } : {}) });
}

const INDEXED_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  TEXT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/**
 * Registers the search attributes the delivery workflows use, skipping those that exist, so an
 * existing cluster needs no manual step. Returns the names it added.
 */
export async function registerSearchAttributes(
  client: Client,
  keys: readonly SearchAttributeKey[] = SEARCH_ATTRIBUTE_KEYS,
): Promise<string[]> {
  const { operatorService } = client.connection;
  const existing = await operatorService.listSearchAttributes({ namespace: client.options.namespace });
  const known = new Set([
    ...Object.keys(existing.customAttributes ?? {}),
    ...Object.keys(existing.systemAttributes ?? {}),
  ]);
  const missing = keys.filter((key) => !known.has(key.name));
  if (missing.length === 0) return [];
  await operatorService.addSearchAttributes({
    namespace: client.options.namespace,
    searchAttributes: Object.fromEntries(
      missing.map((key) => [key.name, INDEXED_TYPE[key.type] as temporal.api.enums.v1.IndexedValueType]),
    ),
  });
  return missing.map((key) => key.name);
}

/** True when the Temporal frontend answers. */
export async function temporalIsReachable(client: Client): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + 2_000, () => client.connection.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  }
}
