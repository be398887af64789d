/**
 * One broker per data directory: `<dataDir>/.tern.lock` holds the owner's pid, created exclusively at start and
 * removed at a clean close. A lock left by a process that no longer runs (SIGKILL, power loss) is taken over.
 * Without it a second `tern start` on the same port would join the first through SO_REUSEPORT and both would
 * append to the same files.
 */
import fs from 'node:fs';
import path from 'node:path';

export const LOCK_FILE = '.tern.lock';

export class DataDirLockedError extends Error {
  readonly code = 'ERR_TERN_DATA_DIR_LOCKED';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data dir's lock; returns its release. Throws DataDirLockedError when a live process holds it. */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, LOCK_FILE);
  fs.mkdirSync(dataDir, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new DataDirLockedError(`data dir ${dataDir} is in use by process ${pid} (${file}); stop it first, or remove the file if that process is not a Tern broker`);
      }
      fs.rmSync(file, { force: true }); // left by a process that is gone (or by this one, restarting in place)
    }
  }
  return () => {
    try {
      if (Number.parseInt(fs.readFileSync(file, 'utf8'), 10) === process.pid) fs.rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
}
