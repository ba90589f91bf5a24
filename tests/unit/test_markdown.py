"""The answer renderer: Markdown in, HTML the page may insert out, and nothing that runs."""

from __future__ import annotations

import re

import pytest

from netra.web.markdown import render_markdown


def _tags(html: str) -> set[str]:
    return {name.lower() for name in re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html)}


def test_commonmark_with_tables_and_strikethrough() -> None:
    html = render_markdown(
        "# Title\n\nSome **bold**, *emphasis*, ~~gone~~ and `x < y`.\n\n"
        "- one\n- two\n\n3. three\n4. four\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n"
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<em>emphasis</em>" in html
    assert "<s>gone</s>" in html
    assert "<code>x &lt; y</code>" in html
    assert "<ul>\n<li>one</li>" in html
    assert '<ol start="3">' in html
    assert "<th>a</th>" in html
    assert "<td>2</td>" in html
    assert "style=" not in html  # the CSP forbids inline style; alignment is dropped


def test_fenced_code_is_highlighted_with_class_names_only() -> None:
    html = render_markdown('```python\ndef f():\n    return "s"  # why\n```\n')
    assert html.startswith('<div class="code-block" data-language="python">')
    assert '<pre class="highlight"><code><span class="k">def</span>' in html
    assert '<span class="s2">"s"</span>' in html
    assert '<span class="c1"># why</span>' in html
    assert "style" not in html


def test_code_in_an_unknown_language_or_indented_is_plain_escaped_text() -> None:
    assert render_markdown("```klingon\n<b>qapla'</b>\n```\n") == (
        '<div class="code-block" data-language="klingon"><pre class="highlight">'
        "<code>&lt;b&gt;qapla'&lt;/b&gt;\n</code></pre></div>\n"
    )
    assert "<code>if a &lt; b:\n</code>" in render_markdown("    if a < b:\n")


def test_links_open_in_a_new_tab_that_cannot_reach_back() -> None:
    html = render_markdown("[docs](https://example.com/a?b=1) and [mail](mailto:ada@example.com)")
    assert (
        '<a href="https://example.com/a?b=1" target="_blank" rel="noopener noreferrer">docs</a>'
        in html
    )
    assert '<a href="mailto:ada@example.com" target="_blank" rel="noopener noreferrer">' in html


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](java\tscript:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<javascript:alert(1)>",
        "[x][ref]\n\n[ref]: javascript:alert(1)",
    ],
)
def test_script_links_never_become_hrefs(source: str) -> None:
    assert "href" not in render_markdown(source)


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://example.com></iframe>",
        '<svg onload="alert(1)"></svg>',
        "<style>body{display:none}</style>",
        '<div onclick="alert(1)">x</div>',
        "![pic](https://tracker.example/pixel.png)",
        '![x](x" onerror="alert(1))',
        "<!-- a comment --> text",
    ],
)
def test_raw_html_is_text_and_nothing_can_run(source: str) -> None:
    html = render_markdown(source)
    assert _tags(html) <= {"p", "a", "pre", "code", "div", "span"}, html
    assert not re.search(r"<[^>]+\son\w+=", html), html  # no event handler attribute
    assert "<img" not in html
    assert "<script" not in html
    assert "<!--" not in html


def test_raw_html_shows_as_its_own_text() -> None:
    assert render_markdown('<img src=x onerror="alert(1)">') == (
        '<p>&lt;img src=x onerror="alert(1)"&gt;</p>\n'
    )


def test_an_image_is_only_a_link_to_it() -> None:
    html = render_markdown("![chart](https://example.com/c.png)")
    assert (
        '<a href="https://example.com/c.png" target="_blank" rel="noopener noreferrer">chart</a>'
        in html
    )


def test_relative_and_protocol_relative_links_lose_their_href() -> None:
    html = render_markdown("[a](/api/me) [b](//evil.example/x)")
    assert "href" not in html


def test_a_language_label_cannot_break_out_of_its_attribute() -> None:
    html = render_markdown('```"><script>alert(1)</script>\ncode\n```\n')
    assert "<script" not in html
    assert _tags(html) <= {"div", "pre", "code"}
