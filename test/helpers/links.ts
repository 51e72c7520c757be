// Reading a symlink that may vanish meanwhile (an fd closed between readdir and readlink).
import { readlinkSync } from 'node:fs';

/** The link's target, or '' when it is gone. */
export function readlinkOrEmpty(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}
