/** Every API error as a sentence for a person: never raw JSON, never a blank page. */

import { APIConnectionError, APIError, APITimeoutError, APIUserAbortError, RateLimitError } from "@pluggably/client";

export function errorMessage(error: unknown): string {
  if (error instanceof APIUserAbortError) return "Stopped.";
  if (error instanceof APITimeoutError) return "The gateway took too long to answer. Try again.";
  if (error instanceof APIConnectionError) {
    return "Cannot reach the gateway. Check your connection, or the API URL under Settings.";
  }
  if (error instanceof RateLimitError) {
    const wait = error.retryAfter ? ` Try again in ${Math.ceil(error.retryAfter)} s.` : "";
    return error.message.includes("try again") ? error.message : error.message + wait;
  }
  if (error instanceof APIError) return error.message || "The gateway refused the request.";
  if (error instanceof Error) return error.message;
  return String(error);
}

export const isAbort = (error: unknown): boolean => error instanceof APIUserAbortError;
