/**
 * Reading variables for a role: each given name is parsed (default applied) and every problem is
 * collected, so one start-up failure lists everything wrong, naming each variable.
 */
import { VARIABLES, type VariableName, type VariableValue } from './variables';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} configuration problems:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export class VariableReader {
  /** Each problem once, however many roles read the same variable. */
  private readonly problems = new Set<string>();

  constructor(private readonly env: Env) {}

  /** The variable's value, its default when unset or empty, or undefined when it has neither. */
  optional<N extends VariableName>(name: N): VariableValue<N> | undefined {
    const spec = VARIABLES[name];
    const raw = this.env[name];
    const text = raw === undefined || raw.trim() === '' ? spec.default : raw;
    if (text === undefined) return undefined;
    const parsed = spec.schema.safeParse(text);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      // The value is not echoed: some variables (the signer token) are secrets.
      this.problems.add(`${name} ${why}`);
      return undefined;
    }
    return parsed.data as VariableValue<N>;
  }

  /** Like optional, but records a problem when the variable has no value and no default. */
  required<N extends VariableName>(name: N, hint: string): VariableValue<N> {
    const value = this.optional(name);
    if (value === undefined && ![...this.problems].some((p) => p.startsWith(`${name} `))) {
      this.problems.add(`${name} is required: ${hint}`);
    }
    return value as VariableValue<N>;
  }

  isSet(name: VariableName): boolean {
    const raw = this.env[name];
    return raw !== undefined && raw.trim() !== '';
  }

  problem(message: string): void {
    this.problems.add(message);
  }

  /** True when no problem was found so far (so a value derived from others can be trusted). */
  get ok(): boolean {
    return this.problems.size === 0;
  }

  /** Throws one ConfigError listing every problem found so far. */
  done(): void {
    if (this.problems.size > 0) throw new ConfigError([...this.problems]);
  }
}
