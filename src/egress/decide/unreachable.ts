import { PrivateAddressError } from '../upstream.js';
import { refusal, type Refuse } from './verdict.js';

/**
 * Why an upstream could not be reached. A name that led to a private
 * address is a refusal (the guard decided, not the network); anything else
 * is a failure the transport reports as such.
 */
export interface Unreachable {
  /** Set when the dial was refused by the private-address guard. */
  refuse?: Refuse;
  /** The error's message. */
  why: string;
  /** The system error code (ECONNREFUSED, ENOTFOUND, ...), when the error has one. */
  code?: string;
}

export function unreachable(e: unknown): Unreachable {
  const why = e instanceof Error ? e.message : String(e);
  if (e instanceof PrivateAddressError) {
    return { refuse: refusal(`private-address ${e.range}`, why), why };
  }
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === undefined ? { why } : { why, code };
}
