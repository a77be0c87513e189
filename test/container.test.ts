import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isBuiltin } from 'node:module';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError, loadConfig, type Config } from '../src/config.js';

/**
 * The container files, checked without a Docker engine (none runs where the tests run): the
 * Dockerfile and .dockerignore are parsed line by line, compose.yaml with `yaml` and Compose's own
 * variable interpolation, and the HEALTHCHECK command is run with node against a local server.
 */

const ROOT = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// --- Dockerfile -----------------------------------------------------------------------------

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly name: string | undefined;
  readonly base: string;
  readonly instructions: readonly Instruction[];
}

/** Instructions, with `\` continuations joined and comment lines dropped, grouped by FROM. */
function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    const continued = /\\\s*$/.test(line);
    pending += `${continued ? line.replace(/\\\s*$/, '') : line} `;
    if (continued) continue;
    const match = /^\s*([A-Za-z]+)\s+(.*?)\s*$/.exec(pending);
    pending = '';
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]! });
  }
  const stages: { name: string | undefined; base: string; instructions: Instruction[] }[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [base, as, name] = instruction.args.replace(/--\S+\s+/g, '').split(/\s+/);
      stages.push({ name: as?.toUpperCase() === 'AS' ? name : undefined, base: base!, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** `--name=value` options before the rest of an instruction's arguments. */
function options(args: string): { readonly options: Map<string, string>; readonly rest: string } {
  const found = new Map<string, string>();
  let rest = args;
  for (let match = /^--([a-z-]+)=(\S+)\s+/.exec(rest); match; match = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    found.set(match[1]!, match[2]!);
    rest = rest.slice(match[0].length);
  }
  return { options: found, rest };
}

/** `KEY=value` pairs of the ENV instructions of a stage (values without spaces or quotes). */
function environmentOf(stage: Stage): Map<string, string> {
  const environment = new Map<string, string>();
  for (const { args } of stage.instructions.filter(({ keyword }) => keyword === 'ENV')) {
    for (const [, key, value] of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g)) environment.set(key!, value!);
  }
  return environment;
}

const stages = parseDockerfile(read('Dockerfile'));
const finalStage = stages.at(-1)!;
const finalInstructions = finalStage.instructions;
const indexOf = (keyword: string) => finalInstructions.findIndex((instruction) => instruction.keyword === keyword);
const imageEnvironment = environmentOf(finalStage);
const imagePort = Number(imageEnvironment.get('PORT'));

function healthcheckCommand(): string[] {
  const healthcheck = finalInstructions.find(({ keyword }) => keyword === 'HEALTHCHECK');
  if (healthcheck === undefined) throw new Error('the final stage has no HEALTHCHECK');
  const { rest } = options(healthcheck.args);
  const match = /^CMD\s+(\[.*\])$/.exec(rest);
  if (!match) throw new Error(`HEALTHCHECK must be CMD in exec form (a JSON array), got ${JSON.stringify(rest)}`);
  return JSON.parse(match[1]!) as string[];
}

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage on a node image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    // The official node images create the unprivileged `node` user that USER names.
    expect(finalStage.base).toMatch(/^node:20\b/);
  });

  it('runs as a non-root user from before CMD to the end', () => {
    const users = finalInstructions.filter(({ keyword }) => keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(':')[0];
    expect(['root', '0']).not.toContain(user);
    expect(finalInstructions.lastIndexOf(users.at(-1)!)).toBeLessThan(indexOf('CMD'));
  });

  it('starts node on dist/index.js directly, in exec form, so SIGTERM reaches node', () => {
    expect(indexOf('ENTRYPOINT')).toBe(-1);
    const cmd = finalInstructions.find(({ keyword }) => keyword === 'CMD');
    expect(JSON.parse(cmd!.args)).toEqual(['node', 'dist/index.js']);
  });

  it('listens on all interfaces and exposes its port', () => {
    expect(imageEnvironment.get('HOST')).toBe('0.0.0.0');
    expect(Number.isInteger(imagePort)).toBe(true);
    const exposed = finalInstructions.filter(({ keyword }) => keyword === 'EXPOSE').flatMap(({ args }) => args.split(/\s+/));
    expect(exposed.map((port) => Number(port.replace(/\/tcp$/, '')))).toContain(imagePort);
  });

  it('checks health on /ready with node, with every timing set', () => {
    const healthcheck = finalInstructions.find(({ keyword }) => keyword === 'HEALTHCHECK')!;
    expect([...options(healthcheck.args).options.keys()].sort()).toEqual(['interval', 'retries', 'start-period', 'timeout']);
    const command = healthcheckCommand();
    // The slim image has no curl nor wget.
    expect(command[0]).toBe('node');
    expect(command.join(' ')).toContain('/ready');
  });

  it('installs the runtime node_modules without devDependencies', () => {
    const copy = finalInstructions.find(({ keyword, args }) => keyword === 'COPY' && /\/node_modules\b/.test(args));
    const from = /--from=(\S+)/.exec(copy?.args ?? '')?.[1];
    const source = stages.find(({ name }) => name !== undefined && name === from);
    const installs = source?.instructions.filter(({ keyword, args }) => keyword === 'RUN' && /\bnpm (ci|install)\b/.test(args)) ?? [];
    expect(installs.map(({ args }) => args)).toEqual([expect.stringMatching(/\bnpm ci\b.*--omit=dev/)]);
  });
});

describe('the Dockerfile HEALTHCHECK command', () => {
  /** Runs the command as Docker would, with PORT set as in the image, and returns its exit code. */
  async function runHealthcheck(port: number): Promise<number | null> {
    const [command, ...args] = healthcheckCommand();
    expect(command).toBe('node');
    const child = spawn(process.execPath, args, { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
    const [code] = (await once(child, 'exit')) as [number | null];
    return code;
  }

  /** A server answering every request with `status`, recording the paths asked for. */
  async function serverAnswering(status: number): Promise<{ server: Server; port: number; paths: string[] }> {
    const paths: string[] = [];
    const server = createServer((request, response) => {
      paths.push(request.url ?? '');
      response.writeHead(status).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { server, port: (server.address() as AddressInfo).port, paths };
  }

  it.each([
    [200, 0],
    [503, 1],
  ])('exits %i → %i on GET /ready of the PORT it is given', async (status, expected) => {
    const { server, port, paths } = await serverAnswering(status);
    try {
      expect(await runHealthcheck(port)).toBe(expected);
      expect(paths).toEqual(['/ready']);
    } finally {
      server.close();
    }
  });

  it('exits 1 when nothing listens', async () => {
    const { server, port } = await serverAnswering(200);
    server.close();
    await once(server, 'close');
    expect(await runHealthcheck(port)).toBe(1);
  });
});

describe('runtime imports', () => {
  const { dependencies = {} } = JSON.parse(read('package.json')) as { dependencies?: Record<string, string> };

  /** Packages a module loads when it runs: type-only imports and exports are erased by tsc. */
  function runtimePackages(file: string): string[] {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    const found: string[] = [];
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly && ts.isStringLiteral(node.moduleSpecifier)) {
        found.push(node.moduleSpecifier.text);
      } else if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        found.push(node.moduleSpecifier.text);
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
        found.push(node.arguments[0].text);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    return found
      .filter((specifier) => !specifier.startsWith('.') && !isBuiltin(specifier))
      .map((specifier) => /^(@[^/]+\/[^/]+|[^/]+)/.exec(specifier)![1]!);
  }

  const sources = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => join(ROOT, 'src', name));

  it('come from dependencies only, which the image installs without devDependencies', () => {
    const missing = sources.flatMap((file) => runtimePackages(file).filter((name) => !(name in dependencies)).map((name) => `${relative(ROOT, file)}: ${name}`));
    expect(missing).toEqual([]);
  });

  it('are found, type-only ones left out', () => {
    expect(runtimePackages(join(ROOT, 'src/yoga.ts'))).toEqual(expect.arrayContaining(['graphql', 'graphql-yoga', '@graphql-yoga/render-graphiql']));
    expect(runtimePackages(join(ROOT, 'src/generated/graphql.ts'))).not.toContain('@graphql-typed-document-node/core');
  });
});

// --- .dockerignore --------------------------------------------------------------------------

/**
 * Whether the build context leaves `path` out, as Docker decides: patterns are relative to the
 * context root, `*` and `?` stay within one path segment, `**` spans any number, a pattern that
 * matches a directory leaves out all that is under it, `!` takes a path back, the last match wins.
 */
function createIgnoreMatcher(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const pattern = (negated ? line.slice(1) : line).trim().replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split(/(\*\*\/|\/\*\*$|\*\*|\*|\?)/)
        .map((part) => {
          switch (part) {
            case '**/':
              return '(?:.*/)?';
            case '/**':
              return '(?:/.*)?';
            case '**':
              return '.*';
            case '*':
              return '[^/]*';
            case '?':
              return '[^/]';
            default:
              return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
          }
        })
        .join('');
      return { negated, regex: new RegExp(`^${source}$`) };
    });
  return (path) => {
    const segments = path.split('/');
    const prefixes = segments.map((_segment, index) => segments.slice(0, index + 1).join('/'));
    let ignored = false;
    for (const { negated, regex } of rules) {
      if (prefixes.some((prefix) => regex.test(prefix))) ignored = !negated;
    }
    return ignored;
  };
}

/** Every file under `directory` of the repository, as paths relative to its root. */
const filesUnder = (directory: string) =>
  readdirSync(join(ROOT, directory), { recursive: true, encoding: 'utf8' })
    .map((name) => `${directory}/${name}`)
    .filter((path) => statSync(join(ROOT, path)).isFile());

describe('.dockerignore', () => {
  const ignored = createIgnoreMatcher(read('.dockerignore'));

  it('matches as Docker does', () => {
    const matcher = createIgnoreMatcher('**/node_modules\ndist\n*.md\n!README.md\nload/results\n');
    expect(matcher('node_modules/zod/index.js')).toBe(true);
    expect(matcher('src/node_modules/x.js')).toBe(true);
    expect(matcher('dist')).toBe(true);
    expect(matcher('src/dist/x.ts')).toBe(false);
    expect(matcher('NOTES.md')).toBe(true);
    expect(matcher('README.md')).toBe(false);
    expect(matcher('load/results/latest.json')).toBe(true);
    expect(matcher('load/k6/mixed.ts')).toBe(false);
  });

  it.each(['node_modules/zod/package.json', '.git/HEAD', 'dist/index.js', '.env', 'load/results/latest.json'])('leaves out %s', (path) => {
    expect(ignored(path)).toBe(true);
  });

  it('keeps what the build reads: package files, tsconfigs, src (JSON included), schema and codegen.ts', () => {
    const needed = ['package.json', 'package-lock.json', 'tsconfig.json', 'codegen.ts', ...filesUnder('src'), ...filesUnder('schema')];
    expect(needed).toEqual(expect.arrayContaining(['src/tsconfig.json', 'src/generated/persisted-documents.json', 'schema/schema.graphql']));
    expect(needed.filter(ignored)).toEqual([]);
  });

  it('keeps every path the Dockerfile copies from the build context', () => {
    const copied = stages
      .flatMap(({ instructions }) => instructions)
      .filter(({ keyword, args }) => (keyword === 'COPY' || keyword === 'ADD') && !args.includes('--from='))
      .flatMap(({ args }) => options(args).rest.split(/\s+/).slice(0, -1));
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'src']));
    for (const path of copied) {
      expect(existsSync(join(ROOT, path)), path).toBe(true);
      expect(ignored(path), path).toBe(false);
    }
  });
});

// --- compose.yaml ---------------------------------------------------------------------------

/**
 * Compose's interpolation of one value: `$$`, `$NAME`, `${NAME}`, and `${NAME:-default}`,
 * `${NAME-default}`, `${NAME:?error}`, `${NAME?error}`, `${NAME:+value}`, `${NAME+value}`
 * (with `:`, an empty variable counts as unset).
 */
function interpolate(value: string, environment: Readonly<Record<string, string | undefined>>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, braced?: string, operator?: string, word?: string, bare?: string) => {
    if (match === '$$') return '$';
    const name = (braced ?? bare)!;
    const current = environment[name];
    const set = operator?.startsWith(':') ? current !== undefined && current !== '' : current !== undefined;
    switch (operator?.replace(':', '')) {
      case '-':
        return set ? current! : word!;
      case '?':
        if (!set) throw new Error(`required variable ${name} is missing a value: ${word}`);
        return current!;
      case '+':
        return set ? word! : '';
      default:
        return current ?? '';
    }
  });
}

/** Every string in a parsed document, interpolated. */
function interpolateAll(value: unknown, environment: Readonly<Record<string, string | undefined>>): unknown {
  if (typeof value === 'string') return interpolate(value, environment);
  if (Array.isArray(value)) return value.map((item) => interpolateAll(item, environment));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolateAll(item, environment)]));
  }
  return value;
}

interface ComposeService {
  readonly build?: unknown;
  readonly image?: string;
  readonly environment?: Record<string, string | number | null> | string[];
  readonly ports?: (string | { target: number; published?: string | number; host_ip?: string })[];
  readonly depends_on?: Record<string, { condition?: string }> | string[];
  readonly healthcheck?: { test?: string | string[]; disable?: boolean };
  readonly restart?: string;
  readonly deploy?: { replicas?: number };
}

interface ComposeFile {
  readonly services: Record<string, ComposeService>;
}

/** Compose's environment, as a map, in either of its two forms. */
function environmentMap(service: ComposeService): Record<string, string> {
  const { environment = {} } = service;
  if (Array.isArray(environment)) {
    return Object.fromEntries(environment.map((entry) => [entry.split('=')[0]!, entry.slice(entry.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, value === null ? '' : String(value)]));
}

/** Published ports of the short syntax (`[ip:]host:container`) and the long one. */
function publishedPorts(service: ComposeService): { host: string; container: number }[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port === 'object') return { host: String(port.published ?? ''), container: port.target };
    const parts = port.replace(/\/tcp$/, '').split(':');
    return { host: parts.length > 1 ? parts.at(-2)! : '', container: Number(parts.at(-1)) };
  });
}

const composeText = read('compose.yaml');
/** The file as written, variables not yet substituted; `<<` merge keys resolved, as Compose does. */
const rawCompose = parseYaml(composeText, { merge: true }) as ComposeFile;
const ADMIN_TOKEN = 'container-test-admin-token';
/** The file as `docker compose up` sees it with ADMIN_TOKEN set and nothing else. */
const compose = interpolateAll(rawCompose, { ADMIN_TOKEN }) as ComposeFile;

const gencacheNames = Object.keys(compose.services).filter((name) => compose.services[name]!.build !== undefined);
const redisName = Object.keys(compose.services).find((name) => /^(valkey\/valkey|redis)(:|$)/.test(compose.services[name]!.image ?? ''));
const gencache = gencacheNames.map((name) => compose.services[name]!);

/** What loadConfig makes of a replica's environment; the Redis tier's variables may not be supported yet. */
function configOf(environment: Record<string, string>): Config {
  try {
    return loadConfig(environment);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    expect(error.problems.filter((problem) => !/^(REDIS_URL|CACHE_NAMESPACE): is not supported yet/.test(problem))).toEqual([]);
    const { REDIS_URL: _url, CACHE_NAMESPACE: _namespace, ...rest } = environment;
    return loadConfig(rest);
  }
}

describe('compose.yaml', () => {
  it('runs two gencache replicas, built from this Dockerfile, and Redis', () => {
    // Two services rather than `deploy.replicas: 2`: each replica gets a port of its own.
    expect(gencacheNames).toHaveLength(2);
    for (const service of gencache) expect(service.deploy?.replicas ?? 1).toBe(1);
    expect(redisName).toBeDefined();
  });

  it('gives each replica its own host port, onto the port the image listens on', () => {
    const ports = gencache.map(publishedPorts);
    for (const published of ports) {
      expect(published).toHaveLength(1);
      expect(published[0]!.container).toBe(imagePort);
      expect(published[0]!.host).toMatch(/^\d+$/);
    }
    const hosts = ports.map((published) => published[0]!.host);
    expect(new Set(hosts).size).toBe(hosts.length);
  });

  it('points every replica at the redis service, under one namespace, listening on all interfaces', () => {
    const environments = gencache.map(environmentMap);
    for (const environment of environments) {
      const url = new URL(environment.REDIS_URL ?? '');
      expect(url.protocol).toBe('redis:');
      expect(url.hostname).toBe(redisName);
      expect(url.username + url.password).toBe('');
      expect(environment.HOST).toBe('0.0.0.0');
      expect(Number(environment.PORT ?? imagePort)).toBe(imagePort);
      expect(environment.CACHE_NAMESPACE).toBe('gencache:v1:');
    }
    expect(new Set(environments.map((environment) => environment.CACHE_NAMESPACE)).size).toBe(1);
  });

  it('sets only variables that src/config.ts reads, with values it accepts', () => {
    const known = new Set(read('src/config.ts').match(/\b[A-Z][A-Z0-9_]*\b/g));
    for (const environment of gencache.map(environmentMap)) {
      expect(Object.keys(environment).filter((name) => !known.has(name))).toEqual([]);
      const config = configOf(environment);
      expect(config.host).toBe('0.0.0.0');
      expect(config.port).toBe(imagePort);
      expect(config.adminToken).toBe(ADMIN_TOKEN);
    }
  });

  it('starts the replicas once Redis is healthy, and restarts every service', () => {
    for (const service of gencache) {
      expect(service.depends_on).toEqual({ [redisName!]: expect.objectContaining({ condition: 'service_healthy' }) });
    }
    for (const [name, service] of Object.entries(compose.services)) {
      expect([name, service.restart]).toEqual([name, expect.stringMatching(/^(always|unless-stopped|on-failure(:\d+)?)$/)]);
    }
  });

  it('checks the health of Redis with a ping, and keeps the image healthcheck of the replicas', () => {
    const test = compose.services[redisName!]!.healthcheck?.test;
    expect([test].flat().join(' ')).toMatch(/\b(redis|valkey)-cli ping\b/);
    for (const service of gencache) {
      // No override: the Dockerfile's HEALTHCHECK on /ready applies; an override must target /ready too.
      expect(service.healthcheck?.disable).not.toBe(true);
      if (service.healthcheck?.test !== undefined) expect([service.healthcheck.test].flat().join(' ')).toContain('/ready');
    }
  });

  it('holds no secret: ADMIN_TOKEN is required from outside, secrets have no literal default', () => {
    expect(() => interpolateAll(rawCompose, {})).toThrow(/ADMIN_TOKEN/);
    for (const name of gencacheNames) {
      const environment = environmentMap(rawCompose.services[name]!);
      expect(environment.ADMIN_TOKEN).toMatch(/^\$\{ADMIN_TOKEN(:?\?[^}]*)?\}$/);
      for (const [variable, value] of Object.entries(environment)) {
        if (!/TOKEN|SECRET|PASSWORD|API_KEY/.test(variable)) continue;
        expect([variable, value]).toEqual([variable, expect.stringMatching(new RegExp(`^\\$\\{${variable}(:?\\?[^}]*|:?-)?\\}$`))]);
      }
    }
    expect(composeText).not.toMatch(/requirepass|redis:\/\/[^/\s]*@/);
  });

  const composeCli = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0;
  // `docker compose config` needs no engine, only the Compose plugin, which this machine may lack.
  it.skipIf(!composeCli)('is valid for docker compose', () => {
    const result = spawnSync('docker', ['compose', '-f', 'compose.yaml', 'config', '--quiet'], {
      cwd: ROOT,
      env: { ...process.env, ADMIN_TOKEN },
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
  });
});
