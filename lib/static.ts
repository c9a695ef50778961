/**
 * `--staticdir`: static files. (Stub: being implemented.)
 *
 * @module
 */

import { textResponse } from "./request.ts";

/**
 * Serves a file or directory listing from `root` for a clean, decoded URL path.
 * @param req The request (method, conditional and Range headers).
 * @param root Absolute root directory.
 * @param urlPath Clean decoded path, starting with `/`.
 */
export function serveStatic(req: Request, root: string, urlPath: string): Promise<Response> {
  void req, root, urlPath;
  return Promise.resolve(textResponse(501, "static files: not implemented yet\n"));
}
