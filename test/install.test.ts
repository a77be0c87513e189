import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `npm ci` prints nothing a newcomer would wonder about (README, Quick start): no package in the
 * lockfile asks for a Node that this one is not (`npm warn EBADENGINE`), and every dependency's
 * install script has been reviewed (npm 11.16 and later list the others after installing).
 */

const ROOT = join(import.meta.dirname, '..');

interface LockEntry {
  readonly version?: string;
  readonly hasInstallScript?: boolean;
}

const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };

describe('npm ci', () => {
  it('warns of nothing: npm finds every locked package fit for this Node', () => {
    // npm judges the engines itself, in a dry run on copies of the two files: offline and with an
    // empty cache, so it reads the lockfile alone and touches neither the network nor node_modules.
    // A lockfile out of step with package.json (say, with its overrides) fails here too
    // (ENOTCACHED): npm would have to ask the registry again.
    const dir = mkdtempSync(join(tmpdir(), 'gencache-npm-ci-'));
    try {
      for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, file), join(dir, file));
      const npm = spawnSync('npm', ['ci', '--dry-run', '--offline', '--no-audit', '--no-fund', '--cache', join(dir, 'cache')], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(npm.status, npm.stderr).toBe(0);
      const warnings = `${npm.stdout}\n${npm.stderr}`.split('\n').filter((line) => /^npm (warn|error)\b/i.test(line));
      expect(warnings).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('runs no unreviewed install script: each package that has one is named in allowScripts', () => {
    const allowScripts = packageJson.allowScripts ?? {};
    const withScripts = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.hasInstallScript === true)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts.filter((name) => typeof allowScripts[name] !== 'boolean')).toEqual([]);
    // By name alone: npm checks a pinned entry (`esbuild@0.28.2`) against the registry URL in the
    // lockfile, which this one does not record, so a pinned entry would never match.
    expect(Object.keys(allowScripts).filter((key) => /.@/.test(key))).toEqual([]);
  });
});
