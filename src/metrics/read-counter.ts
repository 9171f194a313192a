import { Counter, type Registry } from 'prom-client';

/**
 * A counter without labels whose value is read at scrape time from a count kept elsewhere
 * (the component's own stats): nothing is done per event on the hot path.
 */
export function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
