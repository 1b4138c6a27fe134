/**
 * IDs are the rows' plain integer keys, serialised as GraphQL `ID` strings ("42"). Anything that is not a positive
 * 32-bit integer is BAD_USER_INPUT, so malformed input never reaches SQL.
 */
import { badUserInput } from './errors.js';

const ID_PATTERN = /^[1-9]\d{0,9}$/;
const MAX_ID = 2_147_483_647;

export function parseId(value: string | number, argument: string): number {
  const text = String(value);
  const id = ID_PATTERN.test(text) ? Number(text) : NaN;
  if (!(id <= MAX_ID)) {
    throw badUserInput(`"${argument}" must be an ID: a positive integer up to ${MAX_ID} (got "${text.slice(0, 40)}").`, argument);
  }
  return id;
}
