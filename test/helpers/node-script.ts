import { spawn } from 'node:child_process';

/**
 * Runs `script` with `node <nodeArgs> -e script` in a child process (for what must not share this process: V8
 * flags, --expose-gc), killed after `timeoutMs`. Resolves with its exit code and its stdout and stderr together.
 */
export async function nodeScript(nodeArgs: readonly string[], script: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [...nodeArgs, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  return { code, out };
}
