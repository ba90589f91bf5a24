"""Answers as HTML: CommonMark (markdown-it-py) with Pygments highlighting, then nh3.

This is the only HTML the chat page ever inserts. Two lines of defence: the
parser has raw HTML turned off (so `<script>` in an answer is text), and its
output goes through an allowlist sanitizer anyway, which also drops any URL that
is not http(s) or mailto and gives every link `rel="noopener noreferrer"`.
Highlighting uses Pygments' short class names (`k`, `s2`, `c1`, ...); the
colours are in the page's own stylesheet, because the page's CSP allows no
inline style.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import lru_cache
from html import escape

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererProtocol
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
    "strong", "em", "s", "del", "code", "pre", "span", "div", "a",
    "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
    "code": {"class"},
    "pre": {"class"},
    "span": {"class"},
    "div": {"class", "data-language"},
    "th": {"scope"},
}
# A link in an answer leaves the page: a new tab that cannot reach back (rel comes from nh3).
_SET_ATTRIBUTES = {"a": {"target": "_blank"}}
_URL_SCHEMES = {"http", "https", "mailto"}
_MAX_HIGHLIGHT_CHARS = 50_000  # a huge block is still shown, just not coloured

_FORMATTER = HtmlFormatter(nowrap=True)  # spans with class names only; the page wraps them


def _fence(code: str, language: str) -> str:
    """A fenced code block: coloured when Pygments knows the language."""
    body = escape(code)
    if language and len(code) <= _MAX_HIGHLIGHT_CHARS:
        with contextlib.suppress(ClassNotFound):  # an unknown language stays plain
            body = highlight(code, get_lexer_by_name(language), _FORMATTER)
    label = escape(language, quote=True)
    return (
        f'<div class="code-block" data-language="{label}">'
        f'<pre class="highlight"><code>{body}</code></pre></div>\n'
    )


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # "commonmark" plus GitHub's tables and strikethrough; html=False makes raw HTML text.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("image")  # `![alt](url)` stays a link: no third-party requests from the page

    def render_fence(
        renderer: RendererProtocol,
        tokens: Sequence[Token],
        idx: int,
        options: OptionsDict,
        env: EnvType,
    ) -> str:
        token = tokens[idx]
        language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
        return _fence(token.content, language)

    def render_code_block(
        renderer: RendererProtocol,
        tokens: Sequence[Token],
        idx: int,
        options: OptionsDict,
        env: EnvType,
    ) -> str:
        return _fence(tokens[idx].content, "")

    md.add_render_rule("fence", render_fence)
    md.add_render_rule("code_block", render_code_block)
    return md


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        link_rel="noopener noreferrer",
        set_tag_attribute_values=_SET_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        url_relative="deny",  # only absolute http(s) and mailto links survive
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """Safe HTML for an answer written in Markdown."""
    return _cleaner().clean(_parser().render(text))
