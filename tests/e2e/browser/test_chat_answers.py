"""Answers on the page (issue 14, items 1-3): Markdown from a local OpenAI-compatible
endpoint, the view following the run, and finished runs folded to one line."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from netra.testing.agui import run_agent
from netra.testing.fake_openai import Stream, chunk, text_stream, tool_call_stream, usage_chunk

pytestmark = pytest.mark.asyncio(loop_scope="session")

CODE = 'def greet(name):\n    return f"Hello, {name}!"  # friendly\n'
MARKDOWN = (
    "## Plan\n\n"
    "Here is **bold**, *emphasis* and `inline code`.\n\n"
    "- first item\n- second item\n\n"
    "| tool | use |\n|------|-----|\n| calculator | sums |\n\n"
    "See [the docs](https://example.com/docs) or [this](javascript:window.pwned=3).\n\n"
    '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>\n\n'
    f"```python\n{CODE}```\n\n"
    "That is all.\n"
)
# Long enough to overflow a desktop conversation well before its middle.
LONG = "## Steps\n\n" + "".join(f"{n}. Step number {n} of the long answer\n" for n in range(1, 81))


def _pieces(text: str) -> list[str]:
    """The answer as a model streams it: a line at a time."""
    return text.splitlines(keepends=True)


async def _markdown_run(chat, model_server, question: str = "Show me a plan") -> None:
    """Send a question; the answer streams half, is checked as plain text, then finishes."""
    release = asyncio.Event()
    model_server.fake.enqueue(text_stream(*_pieces(MARKDOWN), release=release))
    await chat.send(question)
    answer = chat.answers.last
    # While it streams the answer is plain text: the Markdown symbols show as typed.
    await expect(answer).to_contain_text("Here is **bold**")
    await expect(answer.locator(".markdown")).to_have_count(0)
    release.set()
    await chat.wait_for_runs("completed", 1)
    await expect(answer.locator(".markdown h2")).to_have_text("Plan")


async def _expect_rendered(chat) -> None:
    markdown = chat.answers.last.locator(".markdown")
    await expect(markdown.locator("strong")).to_have_text("bold")
    await expect(markdown.locator("em")).to_have_text("emphasis")
    await expect(markdown.locator("p > code")).to_have_text("inline code")
    await expect(markdown.locator("ul > li")).to_have_text(["first item", "second item"])
    await expect(markdown.locator("table th")).to_have_text(["tool", "use"])
    await expect(markdown.locator("table td")).to_have_text(["calculator", "sums"])
    link = markdown.get_by_role("link", name="the docs")
    await expect(link).to_have_attribute("href", "https://example.com/docs")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(link).to_have_attribute("target", "_blank")
    # The javascript: link and the raw HTML are text; nothing of them can run.
    await expect(markdown).to_contain_text("[this](javascript:window.pwned=3)")
    await expect(markdown).to_contain_text('<img src=x onerror="window.pwned=1">')
    assert await markdown.locator("img, script, [onerror], a[href^=javascript]").count() == 0
    block = markdown.locator(".code-block")
    await expect(block.locator(".code-language")).to_have_text("python")
    await expect(block.locator("code")).to_have_text(CODE)
    await expect(block.locator("code .k").first).to_have_text("def")  # Pygments' keyword
    await expect(block.locator("code .c1")).to_have_text("# friendly")
    assert await chat.page.evaluate("window.pwned") is None


async def test_a_markdown_answer_is_rendered_safely_and_its_code_can_be_copied(
    open_chat, model_server, artifacts_dir: Path
) -> None:
    chat = await open_chat(base_url=model_server.base_url, width=1280, height=800)
    await chat.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await chat.register()
    await _markdown_run(chat, model_server)
    await _expect_rendered(chat)

    await chat.answers.last.get_by_role("button", name="Copy code").click()
    assert await chat.page.evaluate("navigator.clipboard.readText()") == CODE
    await chat.runs("completed").get_by_role("button", name="Copy answer").click()
    thread_id = (await chat.net_state())["threadId"]
    stored = (await chat.api("GET", f"/api/threads/{thread_id}/messages")).json()[-1]
    assert stored["text"].strip() == MARKDOWN.strip()
    assert await chat.page.evaluate("navigator.clipboard.readText()") == stored["text"]

    # The view followed the run to its end: the answer's last line and its buttons show.
    assert await chat.distance_to_end() <= 1
    await expect(chat.answers.last.get_by_text("That is all.")).to_be_in_viewport()
    await expect(chat.page.get_by_role("button", name="Copy answer")).to_be_in_viewport()
    await chat.page.screenshot(path=str(artifacts_dir / "chat-markdown-1280x800.png"))

    rendered = await chat.answers.last.inner_html()
    await chat.page.reload()
    await chat.expect_online()
    await chat.wait_for_runs("completed", 1)
    await expect(chat.answers.last.locator(".markdown h2")).to_have_text("Plan")
    assert await chat.answers.last.inner_html() == rendered
    await _expect_rendered(chat)


async def test_a_markdown_answer_on_a_phone(open_chat, model_server, artifacts_dir: Path) -> None:
    chat = await open_chat(base_url=model_server.base_url, width=375, height=740)
    await chat.register()
    await _markdown_run(chat, model_server)
    await _expect_rendered(chat)

    assert await chat.distance_to_end() <= 1
    await expect(chat.answers.last.get_by_text("That is all.")).to_be_in_viewport()
    overflow = await chat.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow == 0
    await chat.page.screenshot(path=str(artifacts_dir / "chat-markdown-375x740.png"))


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (375, 740)])
async def test_the_view_follows_the_run_until_the_reader_scrolls_up(
    open_chat, model_server, artifacts_dir: Path, width: int, height: int
) -> None:
    chat = await open_chat(base_url=model_server.base_url, width=width, height=height)
    await chat.register()
    jump = chat.page.get_by_role("button", name="Jump to latest")

    # A run that streams past the fold is followed to its end.
    model_server.fake.enqueue(text_stream(*_pieces(LONG)))
    await chat.send("Give me the long list")
    await chat.wait_for_runs("completed", 1)
    await expect(chat.answers.last.get_by_text("Step number 80 of")).to_be_in_viewport()
    assert await chat.distance_to_end() <= 1
    await expect(jump).to_be_hidden()

    # The next one: half of it streams, the reader scrolls up, the rest streams.
    release = asyncio.Event()
    model_server.fake.enqueue(text_stream(*_pieces(LONG), release=release))
    await chat.send("And again")
    await expect(chat.answers.nth(1)).to_contain_text("Step number 30 of")
    assert await chat.distance_to_end() <= 24  # followed so far
    box = await chat.timeline.bounding_box()
    assert box
    await chat.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await chat.page.mouse.wheel(0, -600)
    await expect(jump).to_be_visible()
    release.set()
    await chat.wait_for_runs("completed", 2)
    await expect(chat.answers.nth(1).locator(".markdown li")).to_have_count(80)
    assert await chat.distance_to_end() > 300  # the reader was left where they were
    await expect(jump).to_be_visible()
    await chat.page.screenshot(path=str(artifacts_dir / f"chat-jump-{width}x{height}.png"))

    await jump.click()
    await expect(jump).to_be_hidden()
    assert await chat.distance_to_end() <= 1
    await expect(chat.answers.nth(1).get_by_text("Step number 80 of")).to_be_in_viewport()


async def test_a_finished_run_folds_its_steps_into_one_line(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    await chat.send("What is 12 * (3 + 4)?")
    await chat.wait_for_runs("completed", 1)

    run = chat.runs("completed")
    steps = run.locator("details.steps")
    await expect(steps).not_to_have_attribute("open", "")
    summary = steps.locator("summary")
    await expect(summary).to_have_text(re.compile(r"^used calculator · \d+(\.\d)? m?s$"))
    await expect(run.locator("li.event").first).to_be_hidden()
    await summary.click()
    await expect(steps).to_have_attribute("open", "")
    await expect(run.locator("[data-type=tool_completed]")).to_be_visible()
    # One answer, no clock on every row, no token counts.
    assert await chat.timeline.locator("time").count() == 0
    await expect(chat.timeline).not_to_contain_text("tokens")
    await expect(run.locator("[data-type=agent_completed]")).to_have_text("Answered")


async def test_steps_of_a_run_with_a_tool_on_a_model_endpoint(open_chat, model_server) -> None:
    chat = await open_chat(base_url=model_server.base_url)
    await chat.register()
    model_server.fake.enqueue(
        tool_call_stream("calculator", '{"expression": "6 * 7"}'),
        text_stream("It is **42**."),
    )
    await chat.send("What is 6 * 7?")
    await chat.wait_for_runs("completed", 1)

    await expect(chat.runs("completed").locator(".steps summary")).to_have_text(
        re.compile(r"^used calculator · ")
    )
    await expect(chat.answers.last.locator(".markdown strong")).to_have_text("42")


async def test_a_models_reasoning_shows_its_inline_code_as_code(open_chat, model_server) -> None:
    chat = await open_chat(base_url=model_server.base_url)
    await chat.register()
    reasoning = "The `calculator` is not needed; `<b>` stays text."
    body = "".join(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning_content": reasoning}),
            chunk({"content": "Fine."}),
            chunk({}, "stop"),
            usage_chunk(10, 2),
            "data: [DONE]\n\n",
        ]
    )
    model_server.fake.enqueue(Stream(body))
    await chat.send("Think first")
    await chat.wait_for_runs("completed", 1)

    await chat.page.locator(".steps summary").click()
    thinking = chat.page.locator("[data-type=agent_thinking] .what")
    await expect(thinking).to_have_text(reasoning.replace("`", ""))
    await expect(thinking.locator("code")).to_have_text(["calculator", "<b>"])
    assert await thinking.locator("b").count() == 0


async def test_thinking_text_shows_inline_code_as_code(open_chat) -> None:
    chat = await open_chat()
    # The page's own helper, loaded as the page loads it (a same-origin ES module).
    html = await chat.page.evaluate(
        """async () => {
            const {withInlineCode} = await import('/static/js/timeline.js');
            const probe = document.createElement('span');
            probe.append(...withInlineCode('use `calculator` on `<b>x</b>` then `done'));
            return probe.innerHTML;
        }"""
    )
    assert html == "use <code>calculator</code> on <code>&lt;b&gt;x&lt;/b&gt;</code> then `done"


async def test_a_run_waiting_for_a_front_ends_tool_says_so_and_is_no_error(
    open_chat, model_server
) -> None:
    """A run started over AG-UI whose model called a tool the front end offered ends
    waiting for that front end; the page shows the call, not a failure."""
    chat = await open_chat(base_url=model_server.base_url)
    await chat.register()
    thread = (await chat.api("POST", "/api/threads", json={"title": "Orders"})).json()
    model_server.fake.enqueue(tool_call_stream("confirm_order", '{"item": "tea"}'))
    token = (await chat.stored_session())["access_token"]
    body = {
        "threadId": thread["id"],
        "runId": "r1",
        "messages": [{"id": "m1", "role": "user", "content": "Order me a tea"}],
        "tools": [
            {
                "name": "confirm_order",
                "description": "Ask the person to confirm an order",
                "parameters": {"type": "object", "properties": {"item": {"type": "string"}}},
            }
        ],
    }
    async with httpx.AsyncClient(base_url=model_server.base_url, timeout=30) as http:
        events = await run_agent(http, body, {"Authorization": f"Bearer {token}"})
    assert events[-1].type == "RUN_FINISHED"

    await chat.page.goto(f"{model_server.base_url}/#{thread['id']}")
    run = chat.runs("completed")
    await expect(run).to_have_count(1)
    row = run.locator(".client-tool")
    await expect(row.locator(".badge")).to_have_text("Client tool")
    await expect(row.locator(".tool-name")).to_have_text("confirm_order")
    await expect(row.locator(".args")).to_contain_text('"tea"')
    await expect(run.locator(".steps summary")).to_contain_text(
        "Waiting for the front end to run confirm_order"
    )
    await expect(chat.page.locator(".run.failed, .run[data-state=failed]")).to_have_count(0)
