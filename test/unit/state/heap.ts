import v8 from 'node:v8';
import vm from 'node:vm';

/** A full garbage collection, exposed at run time so that heap figures in tests are settled. */
export function collectGarbage(): void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing !== undefined) {
    existing();
    existing();
    return;
  }
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
}

/** Heap plus array buffer bytes (sketch registers live outside the V8 heap). */
export function usedBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Collects garbage until freed array buffers are accounted (their release can lag a turn). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
  }
}
