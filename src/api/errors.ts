/** An error answered as JupyterHub does: `{"status": N, "message": "..."}`. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (message = 'Not Found') => new ApiError(404, message);
export const badRequest = (message: string) => new ApiError(400, message);
