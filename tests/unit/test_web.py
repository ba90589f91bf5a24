"""The chat page's files are part of the package and served with strict headers."""

from __future__ import annotations

import re
from importlib import resources

from fastapi import FastAPI
from starlette.testclient import TestClient

from netra.web import STATIC_DIR, mount
from netra.web.routes import CONTENT_SECURITY_POLICY


def _client() -> TestClient:
    app = FastAPI()
    mount(app)
    return TestClient(app)


def test_page_files_ship_inside_the_package() -> None:
    static = resources.files("netra.web") / "static"
    names = {"index.html", "app.css", "favicon.svg"}
    assert names <= {entry.name for entry in static.iterdir()}
    scripts = {entry.name for entry in (static / "js").iterdir()}
    assert {"app.js", "session.js", "socket.js", "timeline.js", "words.js"} <= scripts
    assert STATIC_DIR.is_dir()


def test_index_is_served_at_root_with_a_strict_csp_and_revalidation() -> None:
    response = _client().get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/static/js/app.js"></script>' in response.text


def test_assets_are_served_with_types_and_etags_and_answer_304() -> None:
    client = _client()
    script = client.get("/static/js/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    again = client.get("/static/js/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")


def test_nothing_outside_the_static_folder_is_served() -> None:
    client = _client()
    assert client.get("/static/../routes.py").status_code == 404
    assert client.get("/static/%2e%2e/routes.py").status_code == 404
    assert client.get("/static/missing.js").status_code == 404


def test_the_page_has_no_inline_script_or_style_and_writes_html_in_one_place() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert " style=" not in html
    assert "<style" not in html
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(")
    writes = []
    for script in sorted((STATIC_DIR / "js").glob("*.js")):
        for line in script.read_text().splitlines():
            writes += [(script.name, line.strip()) for sink in sinks if sink in line]
    # The one HTML sink: an answer's `html` from the server's renderer (netra.web.markdown).
    assert writes == [("timeline.js", "template.innerHTML = html;")]
    source = (STATIC_DIR / "js" / "timeline.js").read_text()
    assert source.count("setAnswerHtml(") == 2  # defined, and called with `message.html`
    assert "setAnswerHtml(message.id, message.html)" in source
    app = (STATIC_DIR / "js" / "app.js").read_text()
    assert re.findall(r"setAnswerHtml\(([^)]*)\)", app) == ["messageId, message.html"]
