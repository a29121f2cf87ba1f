import { describe, expect, it } from 'vitest';
import { parseHumanSize, parsePodmanImages } from '../../src/backend/podman/images.js';

// What podman 4.3 prints (trimmed): `images --format json` and `system df --verbose`.
const IMAGES = JSON.stringify([
  {
    Id: '186b630fab5eb03e730e03ec7f89974537092f59a96e4c4203ef7e2c268e65e6',
    Names: ['localhost/bot-bottle-claude:e544c0f47e798a49'],
    Size: 778562591,
    SharedSize: 0,
    Containers: 1,
    Created: 1796125638,
  },
  {
    Id: '27196cbd223e25b2331fc41b74edf08698648a8c8e8356b2f40859897aef2f2d',
    Names: ['localhost/bot-bottle-base:bookworm', 'localhost/other:latest'],
    Size: 243911050,
    Containers: 0,
    Created: 1796114000,
  },
  { Id: '0d1b6bc7265d0000', Names: null, Size: 5 },
]);
const DF = `Images space usage:

REPOSITORY                     TAG               IMAGE ID      CREATED     SIZE        SHARED SIZE  UNIQUE SIZE  CONTAINERS
localhost/bot-bottle-base      bookworm          27196cbd223e  3 hours     243.9MB     243.9MB      0B           0
localhost/bot-bottle-claude    e544c0f47e798a49  186b630fab5e  39 minutes  778.6MB     243.9MB      534.7MB      1

Containers space usage:

CONTAINER ID  IMAGE  COMMAND  LOCAL VOLUMES  SIZE  CREATED  STATUS  NAMES
`;

describe('podman image listing', () => {
  it("reads bot-bottle's images with podman's names, sizes and users", () => {
    expect(parsePodmanImages(IMAGES, DF)).toEqual([
      {
        ref: 'bot-bottle-claude:e544c0f47e798a49',
        id: '186b630fab5eb03e730e03ec7f89974537092f59a96e4c4203ef7e2c268e65e6',
        size: 778562591,
        uniqueSize: 534_700_000,
        created: new Date(1796125638 * 1000).toISOString(),
        containers: 1,
      },
      {
        ref: 'bot-bottle-base:bookworm',
        id: '27196cbd223e25b2331fc41b74edf08698648a8c8e8356b2f40859897aef2f2d',
        size: 243911050,
        uniqueSize: 0,
        created: new Date(1796114000 * 1000).toISOString(),
        containers: 0,
      },
    ]);
  });

  it('counts the whole size as unique when the df table is missing, and reads human sizes', () => {
    expect(parsePodmanImages(IMAGES, '')[0]?.uniqueSize).toBe(778562591);
    expect(parsePodmanImages('', DF)).toEqual([]);
    expect(parseHumanSize('954.4kB')).toBe(954_400);
    expect(parseHumanSize('1.04GB')).toBe(1_040_000_000);
    expect(parseHumanSize('0B')).toBe(0);
    expect(parseHumanSize('lots')).toBe(0);
  });
});
