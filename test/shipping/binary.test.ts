/**
 * dist/islet is one self-contained executable: it runs every mode, answers --help for each
 * subcommand, speaks CNI VERSION with a clean stderr, and works copied alone into an empty
 * directory (no node_modules: better-sqlite3 comes from inside the binary).
 */
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isletBinary, repoRoot } from '../islet-binary.js';
import { runIslet } from './host-root.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML/JSON, inspected field by field
type Loose = any;

const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version as string;

describe('the islet binary', () => {
  it('is a native executable (Node single executable application), not a script', () => {
    const fd = openSync(isletBinary, 'r');
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 4, 0);
    closeSync(fd);
    expect(head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))).toBe(true);
  });

  it('prints its version with nothing on stderr', async () => {
    const r = await runIslet(['version']);
    expect(r).toMatchObject({ code: 0, stdout: `islet ${version}\n`, stderr: '' });
  });

  it('help lists every subcommand; no command is a usage error', async () => {
    const help = await runIslet(['help']);
    expect(help.code).toBe(0);
    for (const cmd of ['proxy', 'install', 'uninstall', 'doctor', 'version'])
      expect(help.stdout).toContain(`islet ${cmd}`);
    const none = await runIslet([]);
    expect(none.code).toBe(2);
    const unknown = await runIslet(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });

  it.each(['proxy', 'install', 'uninstall', 'doctor'])('islet %s --help', async (cmd) => {
    const r = await runIslet([cmd, '--help']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: islet ${cmd} \\[flags\\]`));
  });

  it('is the CNI plugin when CNI_COMMAND is set: VERSION on stdout, stderr silent', async () => {
    const r = await runIslet([], { CNI_COMMAND: 'VERSION' }, isletBinary, '{"cniVersion":"1.0.0"}');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const answer = JSON.parse(r.stdout);
    expect(answer.supportedVersions).toEqual(
      expect.arrayContaining(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']),
    );
  });
});

describe('copied alone into an empty directory', () => {
  let dir: string;
  let alone: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'islet-alone-'));
    alone = join(dir, 'bin', 'islet');
    mkdirSync(join(dir, 'bin'));
    copyFileSync(isletBinary, alone);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs and opens SQLite databases from its embedded addon', async () => {
    expect((await runIslet(['version'], {}, alone)).stdout).toBe(`islet ${version}\n`);
    // A database with two tables, read back by doctor inside the copied binary.
    const dbPath = join(dir, 'host', 'var', 'lib', 'islet', 'ipam.db');
    mkdirSync(join(dir, 'host', 'var', 'lib', 'islet'), { recursive: true });
    const db = new Database(dbPath);
    db.exec(
      "CREATE TABLE snapshots (k TEXT, state TEXT); INSERT INTO snapshots VALUES ('a','live'),('b','held'),('c','held')",
    );
    db.exec('CREATE TABLE notes (x); INSERT INTO notes VALUES (1)');
    db.close();
    const r = await runIslet(
      ['doctor', '--root', join(dir, 'host'), '--json', '--admin', 'http://127.0.0.1:9'],
      {},
      alone,
    );
    const report = JSON.parse(r.stdout);
    const finding = report.findings.find((f: Loose) => f.id === 'snapshot-db');
    expect(finding.status).toBe('ok');
    expect(finding.data.tables).toEqual({
      notes: { rows: 1 },
      snapshots: { rows: 3, byState: { held: 2, live: 1 } },
    });
  });
});
