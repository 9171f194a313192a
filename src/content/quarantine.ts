/**
 * Copies of refused content, kept for the operator: one file per message in a directory only
 * its owner may read (0700, files 0600), bounded in count and bytes, the oldest removed first.
 * Files are named by time (`<ms since epoch>-<n>.sip`), so that name order is age order, and
 * written one at a time off the message's path; past `maxPending` writes waiting, a copy is
 * not kept (and the caller says so in its event).
 */
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface QuarantineSettings {
  readonly dir: string;
  readonly maxFiles: number;
  readonly maxBytes: number;
}

const NAME = /^(\d{13})-(\d+)\.sip$/;
const MAX_PENDING = 32;

export class Quarantine {
  /** Kept files, oldest first, with their sizes. */
  private readonly files: { name: string; bytes: number }[] = [];
  private bytes = 0;
  private sequence = 0;
  private pending = 0;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(private readonly settings: QuarantineSettings) {}

  /**
   * Opens (creating it owner-only) the directory and takes stock of what it holds; an
   * existing directory is made owner-only. Throws with the directory named when it cannot.
   */
  static open(settings: QuarantineSettings): Quarantine {
    const quarantine = new Quarantine(settings);
    try {
      mkdirSync(settings.dir, { recursive: true, mode: 0o700 });
      chmodSync(settings.dir, 0o700);
      const names = readdirSync(settings.dir).filter((name) => NAME.test(name));
      names.sort();
      for (const name of names) {
        const bytes = statSync(join(settings.dir, name)).size;
        quarantine.files.push({ name, bytes });
        quarantine.bytes += bytes;
      }
    } catch (error) {
      throw new Error(
        `content.quarantine.dir: cannot use ${settings.dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        { cause: error },
      );
    }
    return quarantine;
  }

  /** Files and bytes kept now. */
  get usage(): { readonly files: number; readonly bytes: number } {
    return { files: this.files.length, bytes: this.bytes };
  }

  get dir(): string {
    return this.settings.dir;
  }

  /**
   * Keeps `data` as a new file; resolves with its name, or undefined when it was not kept
   * (larger than the whole quarantine, too many writes waiting, a write error).
   */
  keep(data: Buffer, now: number): Promise<string | undefined> {
    if (data.length > this.settings.maxBytes || this.pending >= MAX_PENDING) {
      return Promise.resolve(undefined);
    }
    this.pending++;
    const name = `${String(now).padStart(13, '0')}-${++this.sequence}.sip`;
    const written = this.chain.then(() => this.write(name, data));
    this.chain = written.catch(() => undefined);
    return written.then(
      (kept) => {
        this.pending--;
        return kept;
      },
      () => {
        this.pending--;
        return undefined;
      },
    );
  }

  private async write(name: string, data: Buffer): Promise<string | undefined> {
    // Room first, oldest first: the new file always fits afterwards.
    while (
      this.files.length > 0 &&
      (this.files.length + 1 > this.settings.maxFiles || this.bytes + data.length > this.settings.maxBytes)
    ) {
      const oldest = this.files.shift()!;
      this.bytes -= oldest.bytes;
      await unlink(join(this.settings.dir, oldest.name)).catch(() => undefined);
    }
    // wx: never follow or replace a file that is there already; 0600: the owner's alone.
    const file = await open(join(this.settings.dir, name), 'wx', 0o600);
    try {
      await file.writeFile(data);
    } finally {
      await file.close();
    }
    this.files.push({ name, bytes: data.length });
    this.bytes += data.length;
    return name;
  }
}
