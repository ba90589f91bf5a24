"""Chats, messages and the connection on the page (issue 14, items 5-7)."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Route, WebSocketRoute, expect

pytestmark = pytest.mark.asyncio(loop_scope="session")

CALCULATION = "What is 12 * (3 + 4)?"
HANG_GUARD = 30  # seconds; reached only if something hangs, which is itself the failure


async def test_rename_a_chat_and_search_the_list(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    await chat.send(CALCULATION)
    await chat.wait_for_runs("completed", 1)
    thread_id = (await chat.net_state())["threadId"]

    await chat.page.get_by_role("button", name="Rename").click()
    title = chat.page.get_by_label("Chat title")
    await expect(title).to_be_focused()
    await expect(title).to_have_value(CALCULATION)
    await title.fill("Arithmetic")
    await title.press("Enter")
    await expect(chat.page.locator("#thread-title")).to_have_text("Arithmetic")
    await expect(chat.page.locator("#thread-title")).to_be_focused()
    listed = chat.page.locator("#thread-list .thread-name")
    await expect(listed).to_have_text(["Arithmetic"])
    assert (await chat.api("GET", f"/api/threads/{thread_id}")).json()["title"] == "Arithmetic"

    # A blank title is refused on the page, and the old one stays.
    await chat.page.get_by_role("button", name="Rename").click()
    await title.fill("   ")
    await title.press("Enter")
    await expect(title).to_have_attribute("aria-invalid", "true")
    await chat.page.get_by_role("button", name="Cancel").click()
    await expect(chat.page.locator("#thread-title")).to_have_text("Arithmetic")

    for name in ("Trip to Lyon", "Groceries"):
        created = await chat.api("POST", "/api/threads", json={"title": name})
        assert created.status_code == 201
    await chat.page.reload()
    await chat.expect_online()
    await expect(listed).to_have_count(3)
    search = chat.page.get_by_label("Search chats")
    await search.fill("LYON")
    await expect(listed).to_have_text(["Trip to Lyon"])
    await search.fill("nothing like this")
    await expect(listed).to_have_count(0)
    await expect(chat.page.locator("#thread-list-empty")).to_have_text("No chats match.")
    await search.fill("")
    await expect(listed).to_have_count(3)


async def test_the_list_shows_a_running_chat_and_deleting_it_stops_the_run(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    await chat.send(CALCULATION)
    await chat.wait_for_runs("completed", 1)
    done_id = (await chat.net_state())["threadId"]
    await chat.page.get_by_role("button", name="New chat").click()
    await chat.send("wait 60 seconds")
    await expect(chat.page.locator("[data-type=tool_executing]")).to_have_count(1)
    running_id = (await chat.net_state())["threadId"]

    running = chat.page.locator(f"[data-thread-id={running_id}]")
    await expect(running.locator(".thread-running")).to_have_count(1)
    await expect(running).to_contain_text("(running)")  # for screen readers too
    finished = chat.page.locator(f"[data-thread-id={done_id}]")
    await expect(finished.locator(".thread-running")).to_have_count(0)
    # Another chat open: the list still says which one is running.
    await finished.click()
    await chat.wait_for_runs("completed", 1)
    await expect(running.locator(".thread-running")).to_have_count(1)

    await running.click()
    await expect(chat.runs("running")).to_have_count(1)
    await chat.page.get_by_role("button", name="Delete").click()
    await expect(chat.page.get_by_role("button", name="Keep it")).to_be_focused()
    await chat.page.get_by_role("button", name="Delete chat").click()

    await expect(running).to_have_count(0)
    await expect(chat.page.locator("#thread-title")).to_have_text("New chat")
    await expect(chat.page.get_by_label("Message")).to_be_focused()
    gone = await chat.api("GET", f"/api/threads/{running_id}")
    assert gone.status_code == 404
    kept = (await chat.api("GET", "/api/threads")).json()
    assert [(t["id"], t["active_run_id"]) for t in kept] == [(done_id, None)]


async def test_a_list_read_before_a_delete_and_answered_after_it_does_not_bring_the_chat_back(
    open_chat,
) -> None:
    # Deleting a running chat ends its run first, and that end makes the page reload its
    # list: the reload can be read before the delete commits and answered after it.
    chat = await open_chat()
    await chat.register()
    await chat.send("wait 60 seconds")
    await expect(chat.page.locator("[data-type=tool_executing]")).to_have_count(1)
    thread_id = (await chat.net_state())["threadId"]
    listed = chat.page.locator(f"[data-thread-id={thread_id}]")
    await expect(listed).to_have_count(1)
    before = (await chat.api("GET", "/api/threads")).json()  # the list with the chat in it
    assert [t["id"] for t in before] == [thread_id]
    held: list[Route] = []
    asked = asyncio.Event()

    async def hold_the_first_list(route: Route) -> None:
        if route.request.method == "GET" and not held:
            held.append(route)
            asked.set()
        else:
            await route.fallback()

    async def answer_the_delete_once_the_list_was_asked(route: Route) -> None:
        response = await route.fetch()  # the chat is deleted now
        await asyncio.wait_for(asked.wait(), HANG_GUARD)
        await route.fulfill(response=response)

    await chat.page.route("**/api/threads", hold_the_first_list)
    await chat.page.route(f"**/api/threads/{thread_id}", answer_the_delete_once_the_list_was_asked)
    await chat.page.get_by_role("button", name="Delete").click()
    await chat.page.get_by_role("button", name="Delete chat").click()
    await expect(listed).to_have_count(0)  # the page has its answer to the delete

    async with chat.page.expect_event("requestfinished", lambda r: r == held[0].request):
        await held[0].fulfill(json=before)  # the list as it was before the delete, late
    await chat.page.evaluate("() => new Promise((done) => setTimeout(done))")
    assert await listed.count() == 0
    await chat.page.unroute("**/api/threads")
    await expect(chat.page.locator("#thread-list-empty")).to_have_text("No chats yet.")


async def test_copy_and_regenerate_the_last_answer(open_chat) -> None:
    chat = await open_chat()
    await chat.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await chat.register()
    await chat.send(CALCULATION)
    await chat.wait_for_runs("completed", 1)

    copy = chat.page.locator(".answer-actions .copy")  # its name changes to "Copied"
    await expect(copy).to_have_text("Copy answer")
    await copy.click()
    await expect(copy).to_have_text("Copied")
    assert await chat.page.evaluate("navigator.clipboard.readText()") == "12 * (3 + 4) = 84"

    regenerate = chat.page.get_by_role("button", name="Regenerate")
    await expect(regenerate).to_have_count(1)
    await regenerate.click()
    await expect(chat.page.get_by_label("Message")).to_have_value("")
    await chat.wait_for_runs("completed", 2)
    await expect(chat.page.locator(".bubble.user .bubble-text")).to_have_text(
        [CALCULATION, CALCULATION]
    )
    await expect(chat.answers).to_have_text(["12 * (3 + 4) = 84", "12 * (3 + 4) = 84"])
    # Only the newest answer offers to be regenerated.
    await expect(regenerate).to_have_count(1)
    await expect(chat.runs().last.get_by_role("button", name="Regenerate")).to_be_visible()


async def test_a_message_never_confirmed_can_be_sent_again(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    # The page's socket goes through a proxy that loses the next user_message.
    swallow = {"on": True}

    def proxy(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if swallow["on"] and '"user_message"' in str(message):
                swallow["on"] = False
                return
            server.send(message)

        ws.on_message(from_page)

    await chat.page.route_web_socket("**/ws", proxy)
    await chat.page.evaluate("window.netra.drop()")
    await chat.page.wait_for_function("() => window.netra.state.connects >= 2")
    await chat.expect_online()

    await chat.send("What is 6 * 7?")
    await expect(chat.page.locator(".bubble-state")).to_have_text("Sending…")
    assert not swallow["on"]  # the server never got it
    await chat.page.evaluate("window.netra.drop()")
    await chat.page.wait_for_function("() => window.netra.state.connects >= 3")
    await expect(chat.page.locator(".bubble-state")).to_contain_text("Not confirmed")

    await chat.page.get_by_role("button", name="Send again").click()
    await chat.wait_for_runs("completed", 1)
    await expect(chat.page.locator(".bubble.user")).to_have_count(1)
    await expect(chat.page.locator(".bubble.user .bubble-text")).to_have_text("What is 6 * 7?")
    await expect(chat.answers).to_have_text(["6 * 7 = 42"])
    await expect(chat.page.get_by_role("button", name="Send again")).to_have_count(0)


async def test_the_browser_going_offline_is_shown_at_once_on_the_conversation_too(
    open_chat,
) -> None:
    chat = await open_chat()
    await chat.register()
    notice = chat.page.locator("#chat-connection")
    await expect(notice).to_be_hidden()

    # No drop() here: the browser's own offline event must be enough, long before a
    # ping would time out (25 s + 10 s).
    await chat.page.context.set_offline(True)
    await expect(chat.connection).to_contain_text("Offline. Reconnecting")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("This device is offline")
    await chat.page.get_by_label("Message").fill("What is 1 + 1?")
    await chat.page.get_by_label("Message").press("Enter")
    alert = chat.page.locator("#chat-error")
    await expect(alert).to_contain_text("Not connected yet")

    await chat.page.context.set_offline(False)
    await chat.expect_online()
    await expect(notice).to_be_hidden()
    await expect(alert).to_be_hidden()
    await chat.page.get_by_role("button", name="Send").click()
    await chat.wait_for_runs("completed", 1)


async def test_a_connect_attempt_that_gets_no_answer_times_out_and_retries(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    # Sockets open but nobody answers, as through a dead proxy, until `answer` is set.
    answer = {"on": False}
    attempts: list[str] = []

    def route(ws: WebSocketRoute) -> None:
        attempts.append(ws.url)
        if answer["on"]:
            ws.connect_to_server()

    await chat.page.route_web_socket("**/ws", route)
    await chat.page.evaluate(
        """() => {
            const connection = document.getElementById('connection');
            window.states = [];
            new MutationObserver(() => window.states.push(connection.dataset.state))
                .observe(connection, {attributes: true, attributeFilter: ['data-state']});
        }"""
    )
    await chat.page.evaluate("window.netra.drop()")
    # connecting (no answer) ... then given up on: waiting again, with the reason.
    await chat.page.wait_for_function(
        "() => window.states.join(' ').includes('connecting waiting')", timeout=30_000
    )
    await expect(chat.connection).to_have_attribute("title", "The server did not answer")
    await expect(chat.page.locator("#chat-connection")).to_contain_text("The server did not answer")
    assert attempts

    answer["on"] = True
    await expect(chat.connection).to_have_text("Connected", timeout=45_000)
    await expect(chat.page.locator("#chat-connection")).to_be_hidden()
