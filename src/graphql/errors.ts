/**
 * Business failures are values with stable `extensions.code`s that clients branch on. Anything else that escapes a
 * resolver is unexpected: `formatError` (see server.ts) logs it with the request id and masks it in production.
 */
import { GraphQLError } from 'graphql';

export const ErrorCode = {
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  EMAIL_TAKEN: 'EMAIL_TAKEN',
  ORDER_ALREADY_PAID: 'ORDER_ALREADY_PAID',
  ORDER_NOT_PAYABLE: 'ORDER_NOT_PAYABLE',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An expected failure the client caused or can act on; its message is safe to show. */
export class BusinessError extends GraphQLError {
  constructor(code: ErrorCode | string, message: string, details: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...details } });
    this.name = 'BusinessError';
  }
}

/** BAD_USER_INPUT, naming the argument path at fault (e.g. `input.items[2].quantity`). */
export function badUserInput(message: string, argument?: string): BusinessError {
  return new BusinessError(ErrorCode.BAD_USER_INPUT, message, argument ? { argument } : {});
}

export function notFound(typeName: string, id: string | number): BusinessError {
  return new BusinessError(ErrorCode.NOT_FOUND, `${typeName} ${id} does not exist.`, { typeName, id: String(id) });
}
