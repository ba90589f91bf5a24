"""Layout and access on the page (issue 14, item 8), and axe-core's verdict on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from netra.testing.fake_openai import text_stream, tool_call_stream

pytestmark = pytest.mark.asyncio(loop_scope="session")

SIZES = [(1280, 800), (375, 740)]
ANSWER = (
    "## Result\n\nThe calculator says **42**; see [the docs](https://example.com).\n\n"
    "| a | b |\n|---|---|\n| 6 | 7 |\n\n"
    '```python\nprint(6 * 7)  # "42"\n```\n'
)


async def test_a_long_chat_title_ends_in_an_ellipsis(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    long_title = "x" * 200
    created = await chat.api("POST", "/api/threads", json={"title": long_title})
    assert created.status_code == 201
    await chat.page.reload()
    await chat.expect_online()

    name = chat.page.locator("#thread-list .thread-name")
    await expect(name).to_have_text(long_title)
    # Measured in one go on the element in the page: the list may be redrawn meanwhile
    # (it is loaded at sign-in and again after connecting), and a replaced one measures 0.
    measured = await chat.page.wait_for_function(
        """() => {
            const e = document.querySelector('#thread-list .thread-name');
            return e && e.clientWidth > 0
                && [e.scrollWidth, e.clientWidth, getComputedStyle(e).textOverflow];
        }"""
    )
    sizes = await measured.json_value()
    assert sizes[0] > sizes[1]
    assert sizes[2] == "ellipsis"
    sidebar = await chat.page.locator("#sidebar").evaluate("e => e.scrollWidth - e.clientWidth")
    assert sidebar == 0
    await name.click()
    title = chat.page.locator("#thread-title")
    await expect(title).to_have_text(long_title)
    assert await title.evaluate("e => e.scrollWidth > e.clientWidth")
    page_overflow = await chat.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert page_overflow == 0


async def test_signed_out_skip_link_and_invalid_fields(open_chat) -> None:
    chat = await open_chat()
    skip = chat.page.get_by_role("link", name="Skip to the login form")
    await skip.focus()
    await chat.page.keyboard.press("Enter")
    await expect(chat.page.get_by_label("Email")).to_be_focused()

    await chat.page.get_by_role("button", name="Log in").click()
    await expect(chat.page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    await expect(chat.page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    await chat.page.get_by_label("Email").fill("nobody@example.com")
    await expect(chat.page.get_by_label("Email")).not_to_have_attribute("aria-invalid", "true")
    await chat.page.get_by_label("Password").fill("not the password")
    await chat.page.get_by_role("button", name="Log in").click()
    await expect(chat.auth_error).to_contain_text("don't match")
    await expect(chat.page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    await expect(chat.page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")


async def test_phone_login_names_the_product_and_fields_do_not_zoom(open_chat) -> None:
    chat = await open_chat(width=375, height=740)
    await expect(chat.page.get_by_role("heading", name="Netra", level=1)).to_be_in_viewport()
    for field in ("#email", "#password"):
        size = await chat.page.locator(field).evaluate("e => getComputedStyle(e).fontSize")
        assert size == "16px", field
    await chat.register()
    for field in ("#message", "#thread-search"):
        size = await chat.page.locator(field).evaluate("e => getComputedStyle(e).fontSize")
        assert size == "16px", field


async def test_phone_drawer_closes_from_its_backdrop(open_chat) -> None:
    chat = await open_chat(width=375, height=740)
    await chat.register()
    toggle = chat.page.get_by_role("button", name="Chats")
    backdrop = chat.page.locator("#backdrop")
    await expect(backdrop).to_be_hidden()
    await toggle.click()
    await expect(chat.page.locator("#sidebar")).to_be_visible()
    await expect(backdrop).to_be_visible()

    await chat.page.mouse.click(360, 400)  # beside the drawer, on the backdrop

    await expect(chat.page.locator("#sidebar")).to_be_hidden()
    await expect(backdrop).to_be_hidden()
    await expect(toggle).to_have_attribute("aria-expanded", "false")


async def test_who_said_what_is_in_the_roles(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    await chat.send("What is 2 + 2?")
    await chat.wait_for_runs("completed", 1)
    await expect(chat.page.get_by_role("article", name="You")).to_have_text("What is 2 + 2?")
    await expect(chat.page.get_by_role("article", name="Answer")).to_contain_text("2 + 2 = 4")
    # aria-label only where a role gives it meaning.
    bare = await chat.page.evaluate(
        """() => [...document.querySelectorAll('[aria-label]')]
            .filter(e => ['div', 'span', 'p'].includes(e.localName) && !e.getAttribute('role'))
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert bare == []


async def test_axe_finds_no_serious_violation_light_and_dark_on_desktop_and_phone(
    open_chat, model_server, axe_script: Path, artifacts_dir: Path
) -> None:
    chat = await open_chat(base_url=model_server.base_url, width=1280, height=800)
    found: dict[str, list] = {}
    for width, height in SIZES:
        for scheme in ("light", "dark"):
            await chat.page.set_viewport_size({"width": width, "height": height})
            await chat.page.emulate_media(color_scheme=scheme)
            found[f"signed out {width}x{height} {scheme}"] = await chat.axe(axe_script)

    await chat.register()
    model_server.fake.enqueue(
        tool_call_stream("calculator", '{"expression": "6 * 7"}'), text_stream(ANSWER)
    )
    await chat.send("What is 6 * 7?")
    await chat.wait_for_runs("completed", 1)
    await expect(chat.answers.locator(".markdown h2")).to_have_text("Result")
    # Unfold the steps, so their badges (Answered, Result, ...) are checked too.
    await chat.page.locator(".steps summary").click()
    await expect(chat.page.locator("[data-type=agent_completed]")).to_be_visible()
    for width, height in SIZES:
        for scheme in ("light", "dark"):
            await chat.page.set_viewport_size({"width": width, "height": height})
            await chat.page.emulate_media(color_scheme=scheme)
            found[f"signed in {width}x{height} {scheme}"] = await chat.axe(axe_script)
            name = f"chat-steps-{width}x{height}-{scheme}.png"
            await chat.page.screenshot(path=str(artifacts_dir / name))
    # The phone's chat list, open over the conversation.
    await chat.page.get_by_role("button", name="Chats").click()
    found["chat list 375x740 dark"] = await chat.axe(axe_script)

    assert {where: v for where, v in found.items() if v} == {}
    assert len(found) == 9
    await chat.page.screenshot(path=str(artifacts_dir / "chat-list-375x740-dark.png"))

    # axe is really looking: an image without a text alternative is caught.
    await chat.page.evaluate(
        "document.getElementById('timeline').append(Object.assign("
        "document.createElement('img'), {src: '/static/favicon.svg'}))"
    )
    assert "image-alt" in {v["id"] for v in await chat.axe(axe_script)}
