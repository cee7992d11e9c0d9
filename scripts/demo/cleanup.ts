/**
 * Everything the demo starts or creates registers its undo here; undos run last-in first-out,
 * once, whether the demo finishes, fails, or is interrupted (Ctrl-C, SIGTERM).
 */
export class Cleanup {
  private readonly undos: Array<{ what: string; undo: () => Promise<void> | void }> = [];
  private running: Promise<string[]> | undefined;

  private done = false;

  add(what: string, undo: () => Promise<void> | void): void {
    if (this.done) {
      // Created after clean-up finished (a step that ignored the stop): undo it at once.
      void Promise.resolve()
        .then(undo)
        .catch(() => {});
      return;
    }
    this.undos.push({ what, undo });
  }

  /** Runs every undo (each even if an earlier one failed); returns what could not be undone. */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const problems: string[] = [];
      while (this.undos.length > 0) {
        const { what, undo } = this.undos.pop()!;
        try {
          await undo();
        } catch (err) {
          problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      this.done = true;
      return problems;
    })();
    return this.running;
  }
}
