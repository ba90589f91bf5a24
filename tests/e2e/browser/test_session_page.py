"""Signing in and out of the chat page, and refresh-token rotation across tabs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from netra.testing.fixtures import register_user
from netra.web.routes import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_wrong_password_and_taken_email_are_explained_in_plain_words(
    open_chat, netra_server
) -> None:
    user = await register_user(netra_server.base_url)
    chat = await open_chat()

    await chat.login(user.email, password="not the password")
    await expect(chat.auth_error).to_have_text("That email and password don't match an account.")
    await expect(chat.page.get_by_label("Message")).to_be_hidden()

    await chat.page.get_by_role("button", name="Create an account").click()
    await chat.page.get_by_label("Email").fill(user.email)
    await chat.page.get_by_label("Password").fill("a long enough password")
    await chat.page.get_by_role("button", name="Create account").click()
    await expect(chat.auth_error).to_have_text(
        "An account with this email already exists. Log in instead."
    )
    await chat.page.get_by_label("Password").fill("short")
    await chat.page.get_by_role("button", name="Create account").click()
    await expect(chat.auth_error).to_have_text(
        "The password must be between 8 and 1024 characters."
    )
    assert await chat.stored_session() is None


async def test_log_in_log_out_and_the_page_is_served_with_a_strict_csp(
    open_chat, netra_server
) -> None:
    user = await register_user(netra_server.base_url, display_name="Grace")
    chat = await open_chat()
    response = await chat.page.request.get(f"{netra_server.base_url}/")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert await chat.page.locator("script:not([src])").count() == 0

    await chat.login(user.email)
    await chat.expect_online()
    await expect(chat.page.locator("#account-name")).to_have_text("Grace")
    refresh_token = (await chat.stored_session())["refresh_token"]

    await chat.page.get_by_role("button", name="Log out").click()
    await expect(chat.auth_error).to_have_text("You have logged out.")
    await expect(chat.page.get_by_label("Email")).to_be_focused()
    assert await chat.stored_session() is None
    async with httpx.AsyncClient(base_url=netra_server.base_url) as http:
        revoked = await http.post("/api/auth/refresh", json={"refresh_token": refresh_token})
    assert revoked.status_code == 401

    await chat.page.reload()
    await expect(chat.page.get_by_role("button", name="Log in")).to_be_visible()


async def test_two_tabs_refreshing_at_once_stay_signed_in(open_chat) -> None:
    first = await open_chat()
    await first.register()
    second = await open_chat(context=first.page.context)
    await second.expect_online()
    before = (await first.stored_session())["refresh_token"]

    results = await asyncio.gather(
        first.page.evaluate("window.netra.refresh()"),
        second.page.evaluate("window.netra.refresh()"),
    )

    assert results == ["refreshed", "refreshed"]
    stored = await first.stored_session()
    assert stored["refresh_token"] != before
    await second.page.reload()
    await second.expect_online()
    await second.send("What is 2 + 3?")
    await second.wait_for_runs("completed", 1)
    assert await second.page.evaluate("window.netra.refresh()") == "refreshed"


async def test_a_spent_refresh_token_signs_the_page_out_cleanly(open_chat, netra_server) -> None:
    chat = await open_chat()
    await chat.register()
    stolen = (await chat.stored_session())["refresh_token"]
    async with httpx.AsyncClient(base_url=netra_server.base_url) as http:
        # Someone else rotates the token, then presents it again: the login is revoked.
        assert (await http.post("/api/auth/refresh", json={"refresh_token": stolen})).is_success
        reused = await http.post("/api/auth/refresh", json={"refresh_token": stolen})
    assert reused.json()["error"]["code"] == "refresh_token_reused"

    outcome = await chat.page.evaluate("window.netra.refresh()")

    assert outcome == "invalid_refresh_token"  # the whole login was revoked
    await expect(chat.auth_error).to_have_text("Your session has ended. Please log in again.")
    await expect(chat.page.locator("#chat-view")).to_be_hidden()
    await expect(chat.connection).to_be_hidden()
    assert await chat.stored_session() is None


async def test_a_refused_access_token_is_renewed_once_and_the_page_reconnects(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    before = await chat.stored_session()
    # The stored access token goes bad (as after a key change) while the login stays valid.
    await chat.page.evaluate(
        """() => {
            const s = JSON.parse(localStorage.getItem('netra.session'));
            s.access_token = 'not-a-valid-token';
            localStorage.setItem('netra.session', JSON.stringify(s));
        }"""
    )

    await chat.page.reload()  # REST calls get 401 and the socket is closed with 4401 at once

    await chat.expect_online()
    await expect(chat.page.locator("#account-name")).to_have_text("Ada")
    after = await chat.stored_session()
    assert after["access_token"] != "not-a-valid-token"
    assert after["refresh_token"] != before["refresh_token"]
    await chat.send("What is 5 * 5?")
    await chat.wait_for_runs("completed", 1)
    await expect(chat.answers).to_have_text("5 * 5 = 25")


async def test_logging_out_leaves_nothing_of_the_person_on_the_page(
    open_chat, netra_server
) -> None:
    user = await register_user(netra_server.base_url)
    async with httpx.AsyncClient(base_url=netra_server.base_url) as http:
        created = await http.post(
            "/api/threads",
            json={"title": "Private plans"},
            headers={"Authorization": f"Bearer {user.access_token}"},
        )
    assert created.status_code == 201
    chat = await open_chat()
    await chat.login(user.email)
    await chat.expect_online()
    await chat.page.get_by_role("button", name="Private plans").click()
    await expect(chat.page).to_have_title("Private plans · Netra")
    await chat.page.get_by_label("Message").fill("a draft about the plans")

    await chat.page.get_by_role("button", name="Log out").click()

    await expect(chat.auth_error).to_have_text("You have logged out.")
    # Hidden is not gone: the next person at this browser must not find any of it.
    await expect(chat.page.locator("#thread-list li")).to_have_count(0)
    await expect(chat.page.get_by_label("Message")).to_have_value("")
    await expect(chat.page.locator("#account-name")).to_have_text("")
    await expect(chat.page).to_have_title("Netra")
    assert "Private plans" not in await chat.page.locator("body").text_content()


async def test_logging_out_during_a_token_refresh_stays_logged_out(open_chat) -> None:
    chat = await open_chat()
    await chat.register()
    fetched = asyncio.Event()
    release = asyncio.Event()

    async def hold_the_answer(route: Any) -> None:
        # The real server rotates the token now; its answer reaches the page later.
        response = await route.fetch()
        fetched.set()
        await release.wait()
        await route.fulfill(response=response)

    await chat.page.route("**/api/auth/refresh", hold_the_answer)
    refreshing = asyncio.ensure_future(chat.page.evaluate("window.netra.refresh()"))
    await fetched.wait()
    await chat.page.get_by_role("button", name="Log out").click()
    await expect(chat.auth_error).to_have_text("You have logged out.")

    release.set()
    outcome = await refreshing

    assert outcome != "refreshed"
    assert await chat.stored_session() is None
    await expect(chat.page.locator("#chat-view")).to_be_hidden()
    await expect(chat.connection).to_be_hidden()
