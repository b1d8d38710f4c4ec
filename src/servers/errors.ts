/** A request about a server that cannot be carried out, with a message fit for the user. */
export class ServerRequestError extends Error {
  constructor(message: string, readonly kind: 'conflict' | 'invalid' | 'not-found' | 'limit') {
    super(message);
    this.name = 'ServerRequestError';
  }
}
