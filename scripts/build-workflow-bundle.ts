/** `npm run bundle [-- <file>]`: writes the workflow bundle (default dist/workflow-bundle.js). */
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle';

const outFile = process.argv[2] ?? 'dist/workflow-bundle.js';
writeWorkflowBundle(outFile).then(
  (written) =>
    process.stdout.write(
      `workflow bundle written to ${written}\nrun workers with TEMPORAL_WORKFLOW_BUNDLE=${written}\n`,
    ),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
