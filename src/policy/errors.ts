/**
 * A request that may not do what it asks. `hidden` answers as if the thing did not exist (404), as
 * JupyterHub does when a scope is held only for other resources, so nobody learns which exist.
 */
export class AccessDenied extends Error {
  constructor(readonly hidden: boolean, message: string) {
    super(message);
    this.name = 'AccessDenied';
  }
}
