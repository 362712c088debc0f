/** A request the client got wrong: answered with its status and this message (never a 500). */
// Internal: the HTTP server answers it with its status; it never reaches a pipeline.
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** decodeURIComponent for a path segment or query value; a malformed `%` escape is a 400. */
export function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, 'malformed percent escape (%) in the URL');
  }
}

/** The request's URL, parsed; a target that does not parse is a 400. */
export function requestUrl(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://localhost');
  } catch {
    throw new HttpError(400, 'the request target is not a valid URL');
  }
}
