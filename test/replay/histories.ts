/**
 * Loads the recorded histories (JSON as `temporal workflow show --output json` writes it).
 *
 * The SDK's own `historyFromJSON` cannot be used with this install: npm gives @temporalio/common
 * and @temporalio/proto separate copies of protobufjs (the root one is v7, for gRPC), and
 * protobufjs' JSON reader refuses a message type built by another copy ("type must be a Type").
 * So the JSON is read with the protobufjs copy that built the History type.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

export const HISTORIES_DIR = path.join(__dirname, 'histories');

type History = proto.temporal.api.history.v1.IHistory;

interface ProtoJson {
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

const requireFromProto = createRequire(require.resolve('@temporalio/proto/package.json'));
const { fromJson } = requireFromProto('protobufjs/ext/protojson') as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

export function historyFromJson(json: unknown): History {
  const history = fromJson(historyType, json, { ignoreUnknownFields: true }) as History | null;
  if (!history?.events?.length) throw new TypeError('not a workflow history');
  return history;
}

export interface RecordedHistory {
  /** The file name without `.json`: `<shape>` or `<shape>@<generation>`. */
  readonly name: string;
  /** The shape it records. */
  readonly shape: string;
  readonly workflowId: string;
  readonly workflowType: string;
  readonly history: History;
}

/**
 * Every history under histories/, decoded. A shape has one file per generation of the workflow
 * code that recorded it: `<shape>.json` (the first), `<shape>@<generation>.json` after.
 */
export function loadHistories(dir = HISTORIES_DIR): RecordedHistory[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => {
      const history = historyFromJson(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      const name = file.slice(0, -'.json'.length);
      return {
        name,
        shape: name.split('@')[0] as string,
        workflowId: `replay/${file}`,
        workflowType: started?.workflowType?.name ?? '',
        history,
      };
    });
}
