/**
 * Non-resource answers kept verbatim (discovery, OpenAPI, /version), keyed by path + Accept
 * variant, with upstream's Content-Type and ETag.
 */
import type { Statement } from 'better-sqlite3';
import type { Database } from '../../lib/sqlite.js';
import type { RawAnswer } from '../types.js';

type RawRow = { content_type: string; body: Buffer; etag: string };

/** Creates the table where missing, and gives a file from before ETags were kept its column. */
export function ensureRawTable(db: Database): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS raw_v1 (key TEXT PRIMARY KEY, content_type TEXT NOT NULL, body BLOB NOT NULL, updated_at INTEGER NOT NULL)',
  );
  // Added after raw_v1 shipped: files from then gain the column (recorded answers had no ETag).
  const columns = db.prepare('SELECT name FROM pragma_table_info(?)').all('raw_v1') as { name: string }[];
  if (!columns.some((c) => c.name === 'etag'))
    db.exec("ALTER TABLE raw_v1 ADD COLUMN etag TEXT NOT NULL DEFAULT ''");
}

export class RawAnswers {
  private readonly putStmt: Statement;
  private readonly getStmt: Statement<unknown[], RawRow>;
  private readonly allStmt: Statement<unknown[], RawRow & { key: string }>;

  constructor(db: Database) {
    this.putStmt = db.prepare(
      `INSERT INTO raw_v1 (key, content_type, body, etag, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET content_type = excluded.content_type, body = excluded.body, etag = excluded.etag, updated_at = excluded.updated_at`,
    );
    this.getStmt = db.prepare('SELECT content_type, body, etag FROM raw_v1 WHERE key = ?');
    this.allStmt = db.prepare('SELECT key, content_type, body, etag FROM raw_v1 ORDER BY key');
  }

  /** `etag` '' when upstream sent none. */
  put(key: string, contentType: string, body: Buffer, etag: string): void {
    this.putStmt.run(key, contentType, body, etag, Date.now());
  }

  get(key: string): RawAnswer | undefined {
    const row = this.getStmt.get(key);
    return row ? answer(row) : undefined;
  }

  /** Every answer kept, by key. */
  all(): (RawAnswer & { key: string })[] {
    return this.allStmt.all().map((r) => ({ key: r.key, ...answer(r) }));
  }
}

function answer(r: RawRow): RawAnswer {
  return { contentType: r.content_type, body: r.body, etag: r.etag };
}
