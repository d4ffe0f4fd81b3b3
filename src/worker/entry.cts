// The file piscina loads in each worker thread. Piscina loads a task file with require(); on Node 20,
// require() of an ES module (worker.js) instantiates it synchronously, and a process that exits while
// a worker is still doing that (a second Ctrl-C during start-up, exit 130) dies in a V8 fatal error
// ("Module::IsGraphAsync must be used on an instantiated module") instead of exiting. This entry is
// CommonJS, so require() is plain, and it loads the ESM task code with import(), whose instantiation
// a terminating worker abandons cleanly. After the first task the handler is called directly.

type Handler = (typeof import('./worker.js', { with: { 'resolution-mode': 'import' } }))['default'];
type Task = Parameters<Handler>[0];

let handler: Handler | null = null;
let loading: Promise<Handler> | null = null;

function dredgeWorkerEntry(task: Task): ReturnType<Handler> | Promise<ReturnType<Handler>> {
  if (handler !== null) return handler(task);
  loading ??= import('./worker.js').then((m) => (handler = m.default));
  return loading.then((h) => h(task));
}

export = dredgeWorkerEntry;
