import { assertUrlAllowed, MAX_URL_LENGTH, TargetRefusedError } from '../../core/targets';

const strict = { allowInsecure: false };
const insecure = { allowInsecure: true };

function refusal(url: string, policy = strict): string {
  try {
    assertUrlAllowed(url, policy);
  } catch (error) {
    expect(error).toBeInstanceOf(TargetRefusedError);
    return (error as Error).message;
  }
  throw new Error(`expected ${url} to be refused`);
}

describe('assertUrlAllowed', () => {
  test('https:// URLs are accepted', () => {
    expect(assertUrlAllowed('https://hooks.example.com/in?x=1', strict).hostname).toBe('hooks.example.com');
  });

  test('http:// is refused unless insecure targets are allowed', () => {
    expect(refusal('http://hooks.example.com/in')).toMatch(/must use https:\/\/.*WEBHOOKS_ALLOW_INSECURE_TARGETS/);
    expect(assertUrlAllowed('http://127.0.0.1:4000/', insecure).port).toBe('4000');
  });

  test.each(['ftp://example.com/', 'file:///etc/passwd', 'javascript:alert(1)', 'data:text/plain,hi'])(
    '%s is refused whatever the policy',
    (url) => {
      expect(refusal(url, insecure)).toMatch(/must use/);
    },
  );

  test.each(['example.com/hook', '/hook', '', 'https://'])('%p is not an absolute URL', (url) => {
    expect(refusal(url)).toBe('is not a valid absolute URL');
  });

  test.each(['https://user:pass@example.com/', 'https://user@example.com/'])('credentials are refused: %s', (url) => {
    expect(refusal(url)).toBe('must not contain credentials');
  });

  test('fragments are refused', () => {
    expect(refusal('https://example.com/#frag')).toBe('must not contain a fragment');
  });

  test('overlong URLs are refused', () => {
    expect(refusal(`https://example.com/${'a'.repeat(MAX_URL_LENGTH)}`)).toMatch(/at most 2048/);
  });
});
