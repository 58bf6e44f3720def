/**
 * Model output as markdown, made safe: markdown-it with raw HTML off (any HTML in the text is shown as text),
 * then DOMPurify over the result, so no element or attribute from a model's answer can run script.
 */

import DOMPurify from "dompurify";
import MarkdownIt from "markdown-it";
import { useMemo } from "preact/hooks";

const markdown = new MarkdownIt({ html: false, linkify: true, breaks: true });

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

export function renderMarkdown(text: string): string {
  return DOMPurify.sanitize(markdown.render(text), { USE_PROFILES: { html: true }, FORBID_TAGS: ["style", "form"] });
}

export function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div class="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}
