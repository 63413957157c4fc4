/**
 * The layering, enforced by `npm run lint` (docs/architecture.md draws it). Each layer imports
 * only the layers below it, so no two top-level folders can import each other, directly or
 * through a third:
 *
 *   core/        pure shared code: model, ids, durations, retry policy, search attributes, signing, target rules
 *   devtools/    the embedded Temporal dev server and the CLI finder (npm start, tests)
 *   activities/  the delivery engine's side effects: sign, POST, record          (core)
 *   workflows/   deterministic workflow code                                    (core; activities as types only)
 *   src/         the service: store, Temporal client side, API, worker, composition root, main
 *   test/ bench/ scripts/   anything above
 */
const PRODUCTION = '^(core|devtools|activities|workflows|src)/';
/** core/ files that workflow code may import: no Node built-ins, no I/O. */
const WORKFLOW_SAFE_CORE =
  '^core/(model|retry-policy|search-attributes|workflow-ids|delivery-display|duration|fairness|throttle)[.]ts$';

/**
 * Within src/, each sub-layer imports only those before it: metrics, store, temporal (client side),
 * api, worker, service, main.
 */
const SRC_LAYERS = [
  ['src/metrics', '^src/(store|temporal|api|worker|service|main)'],
  ['src/store', '^src/(temporal|api|worker|service|main)'],
  ['src/temporal', '^src/(api|worker|service|main)'],
  ['src/api', '^src/(worker|service|main)'],
  ['src/worker', '^src/(api|service|main)'],
  ['src/service', '^src/main'],
];

/** A rule forbidding imports from one layer to another. */
const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from, to });

module.exports = {
  forbidden: [
    forbid('no-circular', 'A cycle between files: no layer can be read on its own.', {}, { circular: true }),
    forbid(
      'core-imports-nothing-above',
      'core/ is the base every layer shares; it imports no other folder of the project.',
      { path: '^core/' },
      { path: '^(devtools|activities|workflows|src|test|bench|scripts)/' },
    ),
    forbid(
      'devtools-import-nothing-above',
      'devtools/ (the embedded Temporal server) stands apart from the service it serves.',
      { path: '^devtools/' },
      { path: '^(core|activities|workflows|src|test|bench|scripts)/' },
    ),
    forbid(
      'activities-below-workflows-and-src',
      'Activities import core/ only; the store reaches them through their own port (activities/delivery-records.ts).',
      { path: '^activities/' },
      { path: '^(devtools|workflows|src|test|bench|scripts)/' },
    ),
    forbid(
      'workflows-import-workflow-safe-code-only',
      'Workflow code is deterministic: it imports workflows/ and the workflow-safe core/ files, nothing else of the project.',
      { path: '^workflows/' },
      { path: '^(core|devtools|src|test|bench|scripts)/', pathNot: WORKFLOW_SAFE_CORE },
    ),
    forbid(
      'workflows-take-activities-as-types',
      'Workflows import activities with `import type` only: their code runs on the worker, not in the workflow sandbox.',
      { path: '^workflows/' },
      { path: '^activities/', dependencyTypesNot: ['type-only'] },
    ),
    forbid(
      'workflows-no-node-or-network',
      'Workflow code (and the core/ files it imports) uses no Node built-in and no package but the Temporal workflow SDK (and its OpenTelemetry interceptors, made for the workflow sandbox).',
      { path: ['^workflows/', WORKFLOW_SAFE_CORE] },
      {
        dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
        pathNot: '^node_modules/@temporalio/(workflow|common|interceptors-opentelemetry/lib/workflow)/',
      },
    ),
    forbid(
      'production-never-imports-tests-or-tools',
      'The service runs without test/, bench/ and scripts/.',
      { path: PRODUCTION },
      { path: '^(test|bench|scripts)/' },
    ),
    forbid(
      'production-uses-production-dependencies',
      'The image installs production dependencies only (npm ci --omit=dev).',
      { path: PRODUCTION },
      { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    ),
    forbid(
      'dependencies-are-declared',
      'Every package imported is declared in package.json.',
      {},
      { dependencyTypes: ['npm-no-pkg', 'npm-unknown', 'undetermined'] },
    ),
    ...SRC_LAYERS.map(([layer, above]) =>
      forbid(
        `${layer.replace('/', '-')}-imports-nothing-above`,
        `${layer} imports only the layers below it in src/.`,
        { path: `^${layer}([.]ts$|/)` },
        { path: above },
      ),
    ),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|[.]tools|[.]data|[.]scratch|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
    reporterOptions: {
      mermaid: { minify: false },
    },
  },
};
