/**
 * Access that was just taken away (a share revoked, someone left a group). Whatever was let in
 * earlier and stays open, such as a proxied WebSocket, is checked again by the listeners and closed
 * when it is no longer allowed. Requests made afterwards are refused by the usual checks, since the
 * identity cache is dropped before this is announced.
 */
export class Revocations {
  private readonly listeners = new Set<() => void>();

  /** Returns a function that removes the listener. */
  onRevoked(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  revoked(): void {
    for (const listener of this.listeners) listener();
  }
}
