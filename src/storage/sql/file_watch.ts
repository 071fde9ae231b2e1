/**
 * Notices writes by other processes to an SQLite database without polling: in WAL mode
 * every commit appends to the `-wal` file (and checkpoints write the database file), so
 * a file watch (inotify, kqueue, …) fires on each one.
 *
 * @module
 */

/**
 * Calls `onChange` whenever one of `paths` changes; gives a function that stops watching,
 * or `undefined` when nothing could be watched (no such file, or no `node:fs` on an edge
 * runtime), in which case the caller falls back to its timeout.
 */
export async function watchFiles(
  paths: string[],
  onChange: () => void,
): Promise<(() => void) | undefined> {
  let fs: typeof import("node:fs");
  try {
    // Loaded on first use, so importing the storage pulls in nothing runtime-specific.
    fs = await import("node:fs");
  } catch {
    return undefined;
  }
  const watchers: import("node:fs").FSWatcher[] = [];
  for (const path of paths) {
    try {
      const watcher = fs.watch(path, () => onChange());
      watcher.on("error", () => watcher.close()); // e.g. the file was deleted
      watchers.push(watcher);
    } catch {
      // A file that does not exist (yet) cannot be watched; another one may be.
    }
  }
  if (watchers.length === 0) return undefined;
  return () => watchers.forEach((watcher) => watcher.close());
}
