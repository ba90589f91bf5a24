"""The chat page in a real browser: a live run, its history, a drop, cancel, no HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from netra.testing.fixtures import register_user
from netra.testing.ws import EventValidator, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

CALCULATION = "What is 12 * (3 + 4)?"
CALCULATOR_ENTRIES = [
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_thinking",
    "agent_completed",
]


def _shown(rows: list[tuple[int, str, str]]) -> list[tuple[int, str]]:
    return [(seq, kind) for seq, kind, _ in rows]


def _persisted_entries(events: list[dict]) -> list[tuple[int, str]]:
    # Deltas are streamed into the answer, not shown as timeline entries.
    return [(e["seq"], e["type"]) for e in events if e["type"] != "agent_message_delta"]


async def test_register_and_watch_the_calculator_run_answer_84(
    open_chat, artifacts_dir: Path
) -> None:
    chat = await open_chat()
    await chat.register(display_name="Ada")
    await expect(chat.page.locator("#account-name")).to_have_text("Ada")

    await chat.send(CALCULATION)
    await chat.wait_for_runs("completed", 1)

    rows = await chat.entry_rows()
    assert [kind for _, kind, _ in rows] == CALCULATOR_ENTRIES
    texts: dict[str, str] = {}
    for _, kind, text in rows:
        texts.setdefault(kind, text)  # the first entry of each type
    assert "calculator" in texts["tool_executing"]
    assert '"expression":"12 * (3 + 4)"' in texts["tool_executing"]
    assert '"value":84' in texts["tool_completed"]
    assert " ms" in texts["tool_completed"] or " s\n" in texts["tool_completed"]
    assert "evaluating" in texts["agent_thinking"]
    run = chat.runs("completed")
    await expect(run.locator(".bubble.user")).to_have_text(CALCULATION)
    await expect(run.get_by_role("article", name="Answer").locator(".answer-body")).to_have_text(
        "12 * (3 + 4) = 84"
    )
    await expect(run.locator(".tool-status")).to_have_text("done")
    thread_id = (await chat.net_state())["threadId"]
    assert _shown(rows) == _persisted_entries(await chat.history(thread_id))
    await expect(chat.page.get_by_role("button", name=CALCULATION)).to_be_visible()
    assert chat.page.url.endswith(f"#{thread_id}")

    screenshot = artifacts_dir / "chat-page-after-run.png"
    await chat.page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 0


async def test_reload_keeps_the_session_and_shows_the_history(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    await chat.send(CALCULATION)
    await chat.wait_for_runs("completed", 1)
    await chat.send("What is 6 * 7?")
    await chat.wait_for_runs("completed", 2)
    before = await chat.entry_rows()

    await chat.page.reload()
    await chat.expect_online()
    await chat.wait_for_runs("completed", 2)

    after = await chat.entry_rows()
    assert after == before
    assert len({seq for seq, _, _ in after}) == len(after)
    answers = chat.answers
    await expect(answers).to_have_text(["12 * (3 + 4) = 84", "6 * 7 = 42"])
    await expect(chat.page.locator(".bubble.user")).to_have_text([CALCULATION, "What is 6 * 7?"])
    await expect(chat.page.locator("#thread-title")).to_have_text(CALCULATION)

    # A new chat, then back to the first one from the list.
    await chat.page.get_by_role("button", name="New chat").click()
    await expect(chat.runs()).to_have_count(0)
    await expect(chat.page.get_by_label("Message")).to_be_focused()
    await chat.page.get_by_role("button", name=CALCULATION).click()
    await chat.wait_for_runs("completed", 2)
    assert await chat.entry_rows() == before


async def test_dropped_connection_mid_run_resumes_with_nothing_twice_and_nothing_missed(
    open_chat, netra_server
) -> None:
    user = await register_user(netra_server.base_url)
    chat = await open_chat()
    await chat.login(user.email)
    await chat.expect_online()

    await chat.send("wait 3 seconds")
    await expect(chat.entries.and_(chat.page.locator("[data-type=tool_executing]"))).to_have_count(
        1
    )
    # A drop: the page reconnects by itself and resubscribes from the last seq it showed.
    await chat.page.evaluate("window.netra.drop()")
    await chat.page.wait_for_function("() => window.netra.state.connects >= 2")
    await chat.expect_online()
    # Now stay offline until the run is over, so the rest can only come from the replay.
    await chat.page.evaluate("window.netra.pause()")
    await expect(chat.connection).to_have_text("Offline (paused)")
    offline_at = (await chat.net_state())["lastSeq"]
    thread_id = (await chat.net_state())["threadId"]
    run_id = await chat.runs().first.get_attribute("data-run-id")
    assert run_id
    watcher = await WsClient.connect(netra_server.ws_url, user.access_token)
    try:
        await watcher.send({"type": "subscribe", "thread_id": thread_id, "after_seq": 0})
        finished = await watcher.events_until_terminal(run_id)
    finally:
        await watcher.close()
    assert finished[-1]["type"] == "agent_completed"
    await expect(chat.runs("completed")).to_have_count(0)

    await chat.page.evaluate("window.netra.resume()")
    await chat.wait_for_runs("completed", 1)

    rows = await chat.entry_rows()
    history = await chat.history(thread_id)
    assert _shown(rows) == _persisted_entries(history)
    assert len({seq for seq, _, _ in rows}) == len(rows)
    assert offline_at < history[-1]["seq"]
    assert (await chat.net_state())["lastSeq"] == history[-1]["seq"]
    EventValidator().assert_valid(history, require_critical=True)
    await expect(chat.answers).to_have_text("Done: I waited 3 seconds.")


async def test_a_message_sent_just_before_a_drop_is_shown_once_when_its_run_turns_up(
    open_chat,
) -> None:
    chat = await open_chat()
    await chat.register()
    await chat.send(CALCULATION)
    await chat.wait_for_runs("completed", 1)
    await chat.page.get_by_label("Message").fill("What is 6 * 7?")

    # The frame goes out, then the socket drops before run_accepted can come back:
    # the page cannot know whether the server got it.
    await chat.page.evaluate(
        "() => { document.getElementById('send').click(); window.netra.drop(); }"
    )
    await chat.page.wait_for_function("() => window.netra.state.connects >= 2")

    await chat.wait_for_runs("completed", 2)
    await expect(chat.page.locator(".bubble.user")).to_have_text([CALCULATION, "What is 6 * 7?"])
    await expect(chat.answers).to_have_text(["12 * (3 + 4) = 84", "6 * 7 = 42"])
    thread_id = (await chat.net_state())["threadId"]
    assert _shown(await chat.entry_rows()) == _persisted_entries(await chat.history(thread_id))


async def test_html_from_the_person_and_the_model_is_shown_as_text(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    payload = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'

    await chat.send(f"remember {payload}")
    await chat.wait_for_runs("completed", 1)
    await chat.send("what are my notes?")  # the model's answer repeats the note
    await chat.wait_for_runs("completed", 2)

    await expect(chat.page.locator(".bubble.user").first).to_have_text(f"remember {payload}")
    await expect(chat.answers.last).to_contain_text(payload)
    await expect(chat.page.locator("#thread-list")).to_contain_text(payload[:20])
    assert await chat.timeline.locator("img, script, b").count() == 0
    assert await chat.page.locator("#thread-list img, #thread-list script").count() == 0
    assert await chat.page.evaluate("window.pwned") is None


async def test_stop_button_cancels_the_run_which_reads_as_stopped_not_failed(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    await chat.send("wait 60 seconds")
    message = chat.page.get_by_label("Message")
    await expect(message).to_be_focused()  # focus stays in the box after Send
    stop = chat.page.get_by_role("button", name="Stop")
    await expect(chat.page.locator("[data-type=tool_executing]")).to_have_count(1)
    await expect(chat.page.get_by_role("button", name="Send")).to_be_hidden()

    await stop.click()
    await chat.wait_for_runs("cancelled", 1)

    await expect(message).to_be_focused()  # ... and after Stop
    run = chat.runs("cancelled")
    # Folded to one neutral line; nothing on the run says failed or error.
    summary = run.locator(".steps summary")
    await expect(summary).to_have_text(re.compile(r"^Stopped · used timer · \d"))
    await expect(run.locator(".steps")).not_to_have_attribute("open", "")
    await summary.click()
    cancelled = chat.page.locator("[data-type=agent_cancelled]")
    await expect(cancelled).to_contain_text("You cancelled this run")
    await expect(cancelled.locator(".badge")).to_have_text("Stopped")
    await expect(chat.page.locator(".tool-status")).to_have_text("stopped")
    await expect(chat.page.locator("[data-type=tool_completed] .badge")).to_have_text("Stopped")
    await expect(run.locator(".failed")).to_have_count(0)
    assert not re.search(r"(?i)error|failed", await run.inner_text())
    await expect(stop).to_be_hidden()
    rows = await chat.entry_rows()
    assert [kind for _, kind, _ in rows][-2:] == ["tool_completed", "agent_cancelled"]
    await message.fill("What is 1 + 1?")
    await expect(chat.page.get_by_role("button", name="Send")).to_be_enabled()


async def test_narrow_screen_fits_and_lists_chats_behind_a_button(
    open_chat, artifacts_dir: Path
) -> None:
    chat = await open_chat(width=375, height=740)
    await chat.register()
    await chat.send(CALCULATION)
    await chat.wait_for_runs("completed", 1)

    overflow = await chat.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow == 0
    thread_button = chat.page.get_by_role("button", name=CALCULATION)
    await expect(thread_button).to_be_hidden()
    await expect(chat.page.get_by_role("button", name="Send")).to_be_in_viewport()
    screenshot = artifacts_dir / "chat-page-375px.png"
    await chat.page.screenshot(path=str(screenshot))

    toggle = chat.page.get_by_role("button", name="Chats")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(thread_button).to_be_visible()
    await chat.page.keyboard.press("Escape")
    await expect(thread_button).to_be_hidden()
    assert screenshot.stat().st_size > 0

    # Offline, the top bar's longest state still fits beside the Chats and Log out buttons.
    await chat.page.context.set_offline(True)
    await chat.page.evaluate("window.netra.drop()")
    fits = await chat.page.wait_for_function(
        """() => document.getElementById('connection').dataset.state === 'waiting'
            && Math.max(...[...document.querySelectorAll('.topbar > *')]
                .map(e => e.getBoundingClientRect().right)) <= window.innerWidth"""
    )
    assert await fits.json_value()
    await expect(chat.page.get_by_role("button", name="Log out")).to_be_in_viewport(ratio=1)
    await chat.page.context.set_offline(False)
    await chat.expect_online()


async def test_keyboard_only_send_and_screen_reader_announcements(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    message = chat.page.get_by_label("Message")
    await message.focus()
    await chat.page.keyboard.type(CALCULATION)
    await chat.page.keyboard.press("Enter")
    await chat.wait_for_runs("completed", 1)

    announcer = chat.page.locator("[aria-live=polite]")
    await expect(announcer).to_contain_text("Using the calculator tool.")
    await expect(announcer).to_contain_text("Answer: 12 * (3 + 4) = 84")
    await expect(chat.page.get_by_role("status")).to_have_text("Connected")
    await expect(message).to_have_value("")
    assert await chat.page.get_by_role("navigation", name="Chats").count() == 1

    # The skip link takes focus to the message box and leaves the open chat alone.
    thread_id = (await chat.net_state())["threadId"]
    skip = chat.page.get_by_role("link", name="Skip to the message box")
    await skip.focus()
    await expect(skip).to_be_in_viewport()
    await chat.page.keyboard.press("Enter")
    await expect(message).to_be_focused()
    await expect(chat.page.locator("#thread-title")).to_have_text(CALCULATION)
    await expect(chat.runs("completed")).to_have_count(1)
    assert chat.page.url.endswith(f"#{thread_id}")


async def test_an_outage_is_announced_once_not_every_second_or_attempt(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    # Record every text the status live region takes, and count the retries.
    await chat.page.evaluate(
        """() => {
            const status = document.querySelector('[role=status]');
            const connection = document.getElementById('connection');
            window.spoken = [status.textContent];
            window.waits = 0;
            new MutationObserver(() => {
                const text = status.textContent;
                if (text !== window.spoken.at(-1)) window.spoken.push(text);
            }).observe(status, {childList: true, characterData: true, subtree: true});
            new MutationObserver(() => {
                if (connection.dataset.state === 'waiting') window.waits += 1;
            }).observe(connection, {attributes: true, attributeFilter: ['data-state']});
        }"""
    )
    await chat.page.context.set_offline(True)
    await chat.page.evaluate("window.netra.drop()")
    await chat.page.wait_for_function("() => window.waits >= 3")  # two failed attempts
    await chat.page.context.set_offline(False)
    await chat.expect_online()

    spoken = await chat.page.evaluate("window.spoken")
    assert spoken == ["Connected", "Offline. Reconnecting", "Connected"]
