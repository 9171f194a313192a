/** Stable codes for the ways a configuration can fail to load. */
export const CONFIG_ERRORS = {
  /** The file could not be read (missing, a directory, no permission, too large). */
  SW_ERR_CONFIG_UNREADABLE: 'cannot read the configuration file',
  /** The text is not valid YAML. */
  SW_ERR_CONFIG_SYNTAX: 'YAML syntax error',
  /** The YAML is well formed but a value or key is not accepted by the schema. */
  SW_ERR_CONFIG_INVALID: 'invalid configuration',
  /** A command-line override (--listen, --upstream, --log-level) is malformed. */
  SW_ERR_CONFIG_OVERRIDE: 'invalid command-line override',
} as const;

export type ConfigErrorCode = keyof typeof CONFIG_ERRORS;
