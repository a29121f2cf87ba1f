import { describe, expect, it } from 'vitest';
import { firstMatch, hostMatches } from '../../src/egress/host-match.js';

describe('host patterns', () => {
  it.each([
    ['api.example.com', 'api.example.com', undefined, true],
    ['api.example.com', 'API.Example.com', undefined, true],
    ['api.example.com', 'api.example.com.', undefined, true],
    ['api.example.com', 'example.com', undefined, false],
    ['api.example.com', 'evil-api.example.com', undefined, false],
    ['*.example.com', 'a.example.com', undefined, true],
    ['*.example.com', 'a.b.example.com', undefined, true],
    ['*.example.com', 'example.com', undefined, false],
    ['*.example.com', 'badexample.com', undefined, false],
    ['*.example.com', 'example.com.evil.net', undefined, false],
    ['example.com:8443', 'example.com', 8443, true],
    ['example.com:8443', 'example.com', 443, false],
    ['example.com:8443', 'example.com', undefined, false],
    ['example.com', 'example.com', 8443, true],
  ] as const)('%s vs %s:%s -> %s', (pattern, host, port, want) => {
    expect(hostMatches(pattern, host, port)).toBe(want);
  });

  it('firstMatch returns the matching pattern', () => {
    expect(firstMatch(['a.com', '*.b.com'], 'x.b.com')).toBe('*.b.com');
    expect(firstMatch(['a.com'], 'c.com')).toBeUndefined();
  });
});
