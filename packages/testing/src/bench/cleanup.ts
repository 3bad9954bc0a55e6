/**
 * Everything the benchmark starts registers how to undo it here. `run()` undoes it all, newest
 * first, once, whether the run ended normally, failed, or was interrupted (SIGINT/SIGTERM); a
 * synchronous last resort (kill children, remove temp dirs) runs on process exit.
 */
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';

type Step = { what: string; undo: () => Promise<void> | void };

export class Cleanup {
  private readonly steps: Step[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly dirs = new Set<string>();
  private running?: Promise<void>;

  constructor() {
    process.once('exit', () => this.lastResort());
  }

  add(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  /** A child killed with SIGKILL on exit if it is still alive then. */
  child(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  /** A directory removed on exit if a step has not removed it already. */
  dir(dir: string): void {
    this.dirs.add(dir);
    this.add(`remove ${dir}`, () => {
      fs.rmSync(dir, { recursive: true, force: true });
      this.dirs.delete(dir);
    });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step.undo();
        } catch (err) {
          process.stderr.write(`bench: cleanup step "${step.what}" failed: ${(err as Error).message}\n`);
        }
      }
    })();
    return this.running;
  }

  private lastResort(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const dir of this.dirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}
