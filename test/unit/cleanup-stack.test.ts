import { describe, expect, it } from 'vitest';
import { CleanupStack } from '../../src/util/cleanup.js';

describe('cleanup stack', () => {
  it('releases in reverse order, sync and async alike', async () => {
    const order: string[] = [];
    const c = new CleanupStack();
    c.defer('a', () => order.push('a'));
    c.defer('b', async () => {
      await Promise.resolve();
      order.push('b');
    });
    c.defer('c', () => order.push('c'));
    expect(await c.release()).toEqual([]);
    expect(order).toEqual(['c', 'b', 'a']);
  });

  it('keeps releasing after a release throws or rejects, and names each failure', async () => {
    const order: string[] = [];
    const c = new CleanupStack();
    c.defer('signal handlers', () => order.push('handlers'));
    c.defer('the ledger', () => Promise.reject(new Error('disk gone')));
    c.defer('the control server', () => {
      throw new Error('already closed');
    });
    c.defer('the staged home', () => order.push('home'));
    expect(await c.release()).toEqual([
      'the control server: already closed',
      'the ledger: disk gone',
    ]);
    expect(order).toEqual(['home', 'handlers']);
  });

  it('releases each thing once', async () => {
    let n = 0;
    const c = new CleanupStack();
    c.defer('x', () => n++);
    await c.release();
    await c.release();
    expect(n).toBe(1);
  });
});
