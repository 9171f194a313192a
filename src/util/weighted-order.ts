/**
 * RFC 2782: lowest priority first; within a priority, a weighted random order (a record of
 * weight 0 has a small chance, the others in proportion to their weight).
 */
export function orderSrv<T extends { priority: number; weight: number }>(
  records: readonly T[],
  random: () => number,
): T[] {
  const byPriority = new Map<number, T[]>();
  for (const record of records) {
    const group = byPriority.get(record.priority);
    if (group === undefined) byPriority.set(record.priority, [record]);
    else group.push(record);
  }
  const ordered: T[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Weight-0 records first in the list, as RFC 2782 asks, so that they are picked rarely.
    const remaining = byPriority
      .get(priority)!
      .sort((a, b) => (a.weight === 0 ? -1 : 0) - (b.weight === 0 ? -1 : 0));
    while (remaining.length > 0) {
      const total = remaining.reduce((sum, r) => sum + r.weight, 0);
      let pick = 0;
      if (total > 0) {
        const threshold = random() * total;
        let running = 0;
        pick = remaining.length - 1;
        for (let i = 0; i < remaining.length; i++) {
          running += remaining[i]!.weight;
          if (running > threshold) {
            pick = i;
            break;
          }
        }
      }
      ordered.push(remaining.splice(pick, 1)[0]!);
    }
  }
  return ordered;
}
