/**
 * The query texts the reference server answers (bench/reference.ts), shared with the cases (bench/load.ts) so both
 * sides send and recognise exactly the same bytes.
 */
export const CASE1_QUERY = '{ orders(first: 50) { nodes { id totalCents user { name } payments { amountCents } } } }';

/** The framework's fixed cost: no field to resolve, no SQL beyond the token lookup. */
export const TYPENAME_QUERY = '{ __typename }';
