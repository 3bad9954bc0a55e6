/** A start-up failure whose message already says what is wrong and what to do (printed as is). */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}
