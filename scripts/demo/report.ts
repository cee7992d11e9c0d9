/**
 * Human-readable progress of the demo: numbered steps, ✓/✗ checks, indented details. Every ✗ is
 * counted so the demo can exit non-zero; the output is also what the smoke test reads.
 */
export class Reporter {
  private stepNo = 0;
  private failed = 0;
  private passed = 0;
  private readonly color: boolean;

  constructor(
    private readonly totalSteps: number,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {
    this.color = out.isTTY === true && !process.env.NO_COLOR;
  }

  get failures(): number {
    return this.failed;
  }

  get checks(): number {
    return this.passed + this.failed;
  }

  title(text: string): void {
    this.write(this.paint('1', text));
  }

  /** Starts the next step, or step `n` (the clean-up step keeps its number after an early stop). */
  step(text: string, n?: number): void {
    this.stepNo = n ?? this.stepNo + 1;
    this.write(`\n${this.paint('1', `[${this.stepNo}/${this.totalSteps}] ${text}`)}`);
  }

  ok(text: string): void {
    this.passed++;
    this.write(`  ${this.paint('32', '✓')} ${text}`);
  }

  fail(text: string): void {
    this.failed++;
    this.write(`  ${this.paint('31', '✗')} ${text}`);
  }

  /** One ✓ or ✗ line; returns whether it passed so callers can stop a step early. */
  check(pass: boolean, text: string, whyNot?: string): boolean {
    if (pass) this.ok(text);
    else this.fail(whyNot ? `${text} — ${whyNot}` : text);
    return pass;
  }

  info(text: string): void {
    this.write(`    ${this.paint('2', text)}`);
  }

  line(text = ''): void {
    this.write(text);
  }

  private paint(code: string, text: string): string {
    return this.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  private write(text: string): void {
    this.out.write(`${text}\n`);
  }
}
