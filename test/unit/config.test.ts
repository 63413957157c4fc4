import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';

function problemsOf(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  test('defaults from an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      temporal: {
        address: undefined,
        namespace: 'default',
        taskQueue: 'webhook-deliveries',
        uiUrl: 'http://localhost:8233',
        cliPath: undefined,
        devPort: 7233,
        devUiPort: 8233,
      },
      databaseUrl: undefined,
      dataDir: path.resolve('.data'),
      apiKeys: [],
      allowInsecureTargets: false,
      allowedTargetCidrs: [],
      allowedTargetPorts: [],
      deliveryMode: 'per-delivery',
      autoDisable: { disableAfterMs: 5 * 86_400_000, disableOnGone: true },
      attemptTimeoutMs: 15_000,
      maxBodyBytes: 1024 * 1024,
      logLevel: 'info',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.temporal)).toBe(true);
  });

  test('tracing: off unless an OTLP endpoint is set, and off when OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).tracing).toBeUndefined();
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' };
    expect(loadConfig(endpoint).tracing).toEqual({
      endpoint: 'http://127.0.0.1:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: {},
      timeoutMs: 10_000,
      serviceName: 'webhook-delivery',
      resourceAttributes: {},
      sampler: { name: 'parentbased_always_on', ratio: 1 },
    });
    expect(loadConfig({ ...endpoint, OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined();
    expect(loadConfig({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' }).tracing).toBeUndefined();
  });

  test('tracing: the standard OTEL_* variables, the traces-specific ones first', () => {
    const tracing = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://127.0.0.1:9999/custom/traces',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%20b, other=1',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'other=2',
      OTEL_EXPORTER_OTLP_TIMEOUT: '3000',
      OTEL_SERVICE_NAME: 'webhooks-eu',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.version=1.2',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    }).tracing;
    expect(tracing).toEqual({
      endpoint: 'https://127.0.0.1:9999/custom/traces',
      protocol: 'http/json',
      headers: { 'api-key': 'a b', other: '2' },
      timeoutMs: 3_000,
      serviceName: 'webhooks-eu',
      resourceAttributes: { 'deployment.environment': 'prod', 'service.version': '1.2' },
      sampler: { name: 'parentbased_traceidratio', ratio: 0.25 },
    });
  });

  test('tracing: what cannot be honoured is refused at start', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317' };
    expect(problemsOf({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toContain("use the collector's HTTP port");
    expect(problemsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
    expect(problemsOf({ ...endpoint, OTEL_TRACES_EXPORTER: 'zipkin' })).toContain('OTEL_TRACES_EXPORTER');
    expect(problemsOf({ ...endpoint, OTEL_EXPORTER_OTLP_HEADERS: 'novalue' })).toContain('key=value');
    expect(problemsOf({ ...endpoint, OTEL_TRACES_SAMPLER_ARG: '2' })).toContain('OTEL_TRACES_SAMPLER_ARG');
  });

  test("METRICS_PORT: the worker's /metrics port, unset or empty for none", () => {
    expect(loadConfig({}).metricsPort).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: '' }).metricsPort).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: '9464' }).metricsPort).toBe(9464);
    expect(problemsOf({ METRICS_PORT: '70000' })).toContain('METRICS_PORT');
  });

  test('reads every variable', () => {
    const config = loadConfig({
      PORT: '8080',
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_NAMESPACE: 'webhooks',
      TEMPORAL_TASK_QUEUE: 'q',
      TEMPORAL_UI_URL: 'https://temporal.example.com/',
      TEMPORAL_CLI_PATH: '/opt/temporal',
      TEMPORAL_DEV_PORT: '17233',
      TEMPORAL_DEV_UI_PORT: '18233',
      DATABASE_URL: 'postgres://u@db/webhooks',
      DATA_DIR: '/var/lib/webhooks',
      WEBHOOKS_API_KEYS: ' key-a , key-b,,',
      WEBHOOKS_ALLOW_INSECURE_TARGETS: 'true',
      WEBHOOKS_ATTEMPT_TIMEOUT_MS: '5000',
      WEBHOOKS_MAX_BODY_BYTES: '2048',
      LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      port: 8080,
      temporal: {
        address: 'temporal:7233',
        namespace: 'webhooks',
        taskQueue: 'q',
        uiUrl: 'https://temporal.example.com',
        cliPath: '/opt/temporal',
        devPort: 17233,
        devUiPort: 18233,
      },
      databaseUrl: 'postgres://u@db/webhooks',
      dataDir: '/var/lib/webhooks',
      apiKeys: ['key-a', 'key-b'],
      allowInsecureTargets: true,
      attemptTimeoutMs: 5000,
      maxBodyBytes: 2048,
      logLevel: 'debug',
    });
  });

  test('the UI URL defaults to the dev server UI port', () => {
    expect(loadConfig({ TEMPORAL_DEV_UI_PORT: '9000' }).temporal.uiUrl).toBe('http://localhost:9000');
  });

  test.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
    ['', false],
  ])('WEBHOOKS_ALLOW_INSECURE_TARGETS=%p → %p', (value, expected) => {
    expect(loadConfig({ WEBHOOKS_ALLOW_INSECURE_TARGETS: value }).allowInsecureTargets).toBe(expected);
  });

  test.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['TEMPORAL_UI_URL', 'not a url'],
    ['TEMPORAL_DEV_PORT', '0'],
    ['TEMPORAL_NAMESPACE', ''],
    ['WEBHOOKS_ALLOW_INSECURE_TARGETS', 'yes'],
    ['WEBHOOKS_ATTEMPT_TIMEOUT_MS', '50'],
    ['WEBHOOKS_ATTEMPT_TIMEOUT_MS', '999999'],
    ['WEBHOOKS_MAX_BODY_BYTES', '10'],
    ['WEBHOOKS_DELIVERY_MODE', 'batch'],
    ['WEBHOOKS_DISABLE_AFTER', 'soon'],
    ['WEBHOOKS_DISABLE_AFTER', '500ms'],
    ['WEBHOOKS_DISABLE_ON_GONE', 'maybe'],
    ['LOG_LEVEL', 'verbose'],
  ])('%s=%p is refused, naming the variable', (name, value) => {
    expect(problemsOf({ [name]: value })).toMatch(new RegExp(`^Invalid configuration:\\n  ${name}: `));
  });

  test('auto-disable: WEBHOOKS_DISABLE_AFTER is a duration or off; WEBHOOKS_DISABLE_ON_GONE is on unless false', () => {
    expect(loadConfig({ WEBHOOKS_DISABLE_AFTER: '12h' }).autoDisable).toEqual({
      disableAfterMs: 12 * 3_600_000,
      disableOnGone: true,
    });
    expect(loadConfig({ WEBHOOKS_DISABLE_AFTER: 'off', WEBHOOKS_DISABLE_ON_GONE: 'false' }).autoDisable).toEqual({
      disableAfterMs: null,
      disableOnGone: false,
    });
    expect(loadConfig({ WEBHOOKS_DELIVERY_MODE: 'per-subscriber' }).deliveryMode).toBe('per-subscriber');
  });

  test('every bad variable is named at once', () => {
    const message = problemsOf({ PORT: 'x', LOG_LEVEL: 'loud' });
    expect(message).toContain('PORT: ');
    expect(message).toContain('LOG_LEVEL: ');
  });

  test('unrelated variables are ignored', () => {
    expect(() => loadConfig({ HOME: '/root', SOMETHING_ELSE: '1' })).not.toThrow();
  });
});
