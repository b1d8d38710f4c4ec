/** Why a publishing request was refused, in words for the person who sent it. */
export class PublicationError extends Error {
  constructor(readonly kind: 'invalid' | 'too-large' | 'not-found' | 'gone', message: string) {
    super(message);
    this.name = 'PublicationError';
  }
}
