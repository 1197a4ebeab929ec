import { describe, expect, it } from 'vitest';
import { markdownToHtml } from './markdown';

describe('lab instructions Markdown (HTML disabled)', () => {
  it('renders Markdown', () => {
    expect(markdownToHtml('# Title\n\nSome **bold** `code`.')).toBe('<h1>Title</h1>\n<p>Some <strong>bold</strong> <code>code</code>.</p>\n');
  });
  it('keeps raw HTML as text', () => {
    const html = markdownToHtml('<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\ntext <b onclick="x()">b</b>');
    expect(html).not.toMatch(/<script|<img|<b /);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(2)&quot;&gt;');
  });
  it('refuses script and data links, keeps web links', () => {
    const html = markdownToHtml('[a](javascript:alert(1)) [b](data:text/html,<script>x</script>) [c](https://kernel.org/) [d](file:///etc/passwd)');
    expect(html).not.toMatch(/href="(javascript|data|file):/);
    expect(html).toContain('<a href="https://kernel.org/">c</a>');
  });
});
