// The config file of `dredge run` (issue #7): dredge.yaml + DREDGE_* environment → `dredge run` argv.
export { ConfigError, loadConfig, loadConfigText, maskValue, type ConfigProblem, type FlagOrigin, type LoadedConfig, type Origin } from './load.js';
export { annotateFlags, DEFAULT_CONFIG, flagOrigin, loadRunConfig, mergeRunLists, resolveConfigPath, splitConfigFlag } from './run-args.js';
export { exampleConfig } from './example.js';
export { BY_ENV, BY_FLAG, BY_KEY, envName, KEYS, OTHER_ENV, SECTIONS, type ConfigKey, type ListFlag } from './schema.js';
