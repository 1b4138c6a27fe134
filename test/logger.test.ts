/**
 * The process logger writes in batches (src/observability/logger.ts): a line is not held back while traffic is light
 * (it reaches stdout within the flush interval, not only once 4 KB are pending), and whatever is pending when the
 * process exits is written. Checked on a real process's stdout.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Runs `body` in a child process with `logger` created by createLogger('info'); collects its stdout lines. */
function runChild(body: string): { lines: string[]; marks: Map<string, number>; exited: Promise<number | null> } {
  const script = `import { createLogger } from './src/observability/logger.ts';\nconst logger = createLogger('info');\n${body}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    env: { PATH: process.env.PATH },
  });
  const lines: string[] = [];
  const marks = new Map<string, number>();
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) {
      lines.push(line);
      marks.set(JSON.parse(line).msg, performance.now());
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    for (const mark of chunk.toString().split('\n').filter(Boolean)) marks.set(mark, performance.now());
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { lines, marks, exited };
}

describe('process logger', () => {
  it('writes a lone line within the flush interval while the process keeps running', async () => {
    const child = runChild(`logger.info('first');\nprocess.stderr.write('logged\\n');\nsetTimeout(() => {}, 3000);`);
    await child.exited;
    const logged = child.marks.get('logged')!;
    const written = child.marks.get('first')!;
    expect(logged).toBeDefined();
    expect(written).toBeDefined();
    // Held until exit it would arrive about 3 s after; the flush interval is 100 ms.
    expect(written - logged).toBeLessThan(1500);
  });

  it('writes every pending line when the process exits', async () => {
    const child = runChild(`for (let i = 0; i < 50; i++) logger.info({ i }, 'line');\nprocess.exit(0);`);
    expect(await child.exited).toBe(0);
    expect(child.lines).toHaveLength(50);
    expect(child.lines.map((line) => JSON.parse(line).i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
