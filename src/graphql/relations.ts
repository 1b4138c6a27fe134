/**
 * Resolving a non-null relation through a loader: the foreign key guarantees the row exists, so a miss is an
 * internal inconsistency (an error that gets logged and masked), never a client mistake.
 */
export function mustExist<T>(row: Promise<T | null>, typeName: string, id: number): Promise<T> {
  return row.then((found) => {
    if (found === null) throw new Error(`Broken reference: ${typeName} ${id} is missing`);
    return found;
  });
}
