// The piscina worker entry: one exported function, synchronous CPU work only (tasks.ts). The result of
// an aggregate task is a SharedArrayBuffer (shared back, not copied); a merge returns a table handle.

import { runTask, type Task } from './tasks.js';

export default function dredgeWorker(task: Task): ReturnType<typeof runTask> {
  return runTask(task);
}
