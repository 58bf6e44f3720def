/** An error (or a notice) as a sentence, announced to screen readers. */

export function Alert({ message, kind = "error" }: { message: string | null | undefined; kind?: "error" | "info" }) {
  if (!message) return null;
  return kind === "error"
    ? <p class="alert" role="alert">{message}</p>
    : <p class="notice" role="status">{message}</p>;
}

export function Loading({ what }: { what: string }) {
  return <p class="muted" role="status" aria-live="polite">Loading {what}…</p>;
}
