/**
 * The scorecards of `sipwarden assess` runs against this gateway (table `assessments` in the
 * events database), for the console's Assessment page: the newest MAX_KEPT are kept, older
 * ones removed as new ones come. Each is stored as the JSON the route validated.
 */
import Database from 'better-sqlite3';

export const MAX_KEPT_ASSESSMENTS = 50;

export interface StoredAssessment {
  readonly id: number;
  /** When it was stored (ms since the epoch). */
  readonly at: number;
  readonly scorecard: Record<string, unknown>;
}

export interface AssessmentStore {
  add(scorecard: Record<string, unknown>, at: number): StoredAssessment;
  /** Newest first. */
  list(limit: number): StoredAssessment[];
  close(): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS assessments (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  scorecard TEXT NOT NULL
);
`;

export function openAssessmentStore(database: string, maxKept = MAX_KEPT_ASSESSMENTS): AssessmentStore {
  const db = new Database(database);
  db.pragma('journal_mode = WAL');
  db.exec(SCHEMA);
  const insert = db.prepare<{ at: number; scorecard: string }>(
    'INSERT INTO assessments (at, scorecard) VALUES (@at, @scorecard)',
  );
  const prune = db.prepare<[number]>(
    'DELETE FROM assessments WHERE id NOT IN (SELECT id FROM assessments ORDER BY id DESC LIMIT ?)',
  );
  const select = db.prepare<[number], { id: number; at: number; scorecard: string }>(
    'SELECT id, at, scorecard FROM assessments ORDER BY id DESC LIMIT ?',
  );
  const addOne = db.transaction((scorecard: Record<string, unknown>, at: number) => {
    const result = insert.run({ at, scorecard: JSON.stringify(scorecard) });
    prune.run(maxKept);
    return { id: Number(result.lastInsertRowid), at, scorecard };
  });
  return {
    add: (scorecard, at) => addOne(scorecard, at),
    list: (limit) =>
      select.all(limit).map((row) => ({
        id: row.id,
        at: row.at,
        scorecard: JSON.parse(row.scorecard) as Record<string, unknown>,
      })),
    close: () => db.close(),
  };
}
