/** A failure the benchmark explains itself: printed as its message alone, without a stack. */
export class BenchFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchFailure';
  }
}
