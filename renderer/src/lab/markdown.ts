/**
 * Lab instructions are untrusted Markdown. They are rendered with raw HTML disabled (a
 * `<script>` or `<img onerror>` in the source comes out as text), links limited to http(s),
 * and the result is sanitized by DOMPurify before it reaches `v-html`, so even a renderer bug
 * cannot turn lab text into markup that runs.
 */
import MarkdownIt from 'markdown-it';
import DOMPurify from 'dompurify';

const md = new MarkdownIt({ html: false, linkify: false, typographer: false });
// markdown-it's default link check already refuses javascript:, vbscript:, file: and most data:
// URLs; allow only plain web links and in-page anchors.
md.validateLink = (url: string) => /^(https?:\/\/|#)/i.test(url.trim());

/** Markdown → HTML with HTML disabled (no DOM needed; unit-testable). */
export function markdownToHtml(source: string): string {
  return md.render(source);
}

/** Markdown → sanitized HTML, safe for v-html. */
export function renderMarkdown(source: string): string {
  return DOMPurify.sanitize(markdownToHtml(source), { USE_PROFILES: { html: true }, FORBID_TAGS: ['style', 'form', 'input', 'iframe'], FORBID_ATTR: ['style'] });
}
