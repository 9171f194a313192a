import type { z } from 'zod';
import { StageConfigError } from './stage.ts';

/** Checks a stage's settings against its schema once, at start; every problem as `path: reason`. */
export function parseStageSettings<T extends z.ZodType>(schema: T, raw: unknown): z.output<T> {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new StageConfigError(
    result.error.issues.map((issue) => {
      const path = issue.path
        .map((segment, index) =>
          typeof segment === 'number' ? `[${segment}]` : `${index === 0 ? '' : '.'}${String(segment)}`,
        )
        .join('');
      return `${path || '(settings)'}: ${issue.message}`;
    }),
  );
}
