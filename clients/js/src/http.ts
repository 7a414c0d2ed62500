/**
 * JSON over fetch against the gateway: every non-2xx answer becomes a
 * `ProblemError` (problem+json parsed when the server sent one), a request
 * that got no answer a `NetworkError`.
 */
import { NetworkError, ProblemError } from "./errors.js";

export interface JsonResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  body?: unknown;
  token?: string;
  signal?: AbortSignal;
}

/** `base` + `path`, tolerating a trailing slash on the base. */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}

export async function requestJson<T>(
  fetchFn: typeof fetch,
  url: string,
  options: RequestOptions = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.token) headers["Authorization"] = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetchFn(url, {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (cause) {
    throw new NetworkError(`${options.method ?? "GET"} ${url}: no answer (${String(cause)})`, { cause });
  }
  const text = await response.text().catch(() => "");
  if (!response.ok) {
    let problem: Record<string, unknown> = {};
    try {
      problem = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      problem = { detail: text.slice(0, 200) };
    }
    const retryAfter = Number(response.headers.get("Retry-After"));
    throw new ProblemError(response.status, problem, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
  }
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch (cause) {
      throw new NetworkError(`${url}: the answer is not JSON`, { cause });
    }
  }
  return { status: response.status, body: body as T, headers: response.headers };
}
