/**
 * The configuration module: defaults, parsing, and one error that lists every problem at once.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/index.js';

describe('loadConfig', () => {
  it('has working defaults: embedded database, port 4000, Sandbox in development', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      nodeEnv: 'development',
      http: { port: 4000, host: '0.0.0.0', maxBodyBytes: 1024 * 1024 },
      database: { url: undefined, poolMax: 10, migrateOnStart: true },
      graphql: { introspection: true, landingPage: true },
    });
  });

  it('turns Sandbox and introspection off in production unless enabled explicitly', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).graphql).toMatchObject({ introspection: false, landingPage: false });
    expect(loadConfig({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' }).graphql.introspection).toBe(true);
  });

  it('reads a Postgres URL and pool settings', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://app:secret@db:5432/ledger',
      DB_POOL_MAX: '25',
      DB_STATEMENT_TIMEOUT_MS: '2500',
      DB_CONNECT_TIMEOUT_SECONDS: '3',
      DB_IDLE_TIMEOUT_SECONDS: '60',
    });
    expect(config.database).toMatchObject({
      url: 'postgres://app:secret@db:5432/ledger',
      poolMax: 25,
      statementTimeoutMs: 2500,
      connectTimeoutSeconds: 3,
      idleTimeoutSeconds: 60,
    });
  });

  it('lists every problem in one error and never echoes a URL', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        NODE_ENV: 'staging',
        DATABASE_URL: 'mysql://root:hunter2@db/x',
        REDIS_URL: 'not a url with secret',
        DB_POOL_MAX: '0',
        MIGRATE_ON_START: 'maybe',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toMatch(/PORT/);
    expect(problems.join('\n')).toMatch(/NODE_ENV/);
    expect(problems.join('\n')).toMatch(/DB_POOL_MAX/);
    expect((error as Error).message).not.toMatch(/hunter2|secret/);
  });
});
