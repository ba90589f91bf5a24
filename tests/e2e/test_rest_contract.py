"""REST contract details: error shapes, validation, refresh rotation, throttling."""

from __future__ import annotations

import httpx
import pytest

from netra.testing.fixtures import DEFAULT_PASSWORD


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    return response.status_code, body["error"]["code"]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"email": "not-an-email", "password": "long enough pw"}, (422, "invalid_request")),
        ({"email": "ok@example.com", "password": "short"}, (422, "invalid_request")),
        ({"email": "ok@example.com"}, (422, "invalid_request")),
    ],
)
async def test_register_rejects_bad_input(http: httpx.AsyncClient, payload: dict, expected) -> None:
    response = await http.post("/api/auth/register", json=payload)
    assert _error(response) == expected
    field = "email" if "not-an-email" in str(payload) else "password"
    assert field in response.json()["error"]["message"]


async def test_duplicate_email_and_wrong_password(http: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    again = await http.post(
        "/api/auth/register", json={"email": user.email, "password": "another pw1"}
    )
    assert _error(again) == (409, "email_taken")
    wrong = await http.post(
        "/api/auth/login", json={"email": user.email, "password": "wrong password"}
    )
    assert _error(wrong) == (401, "invalid_credentials")


async def test_refresh_rotates_and_reuse_revokes_the_family(
    http: httpx.AsyncClient, make_user
) -> None:
    user = await make_user()
    rotated = await http.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert rotated.status_code == 200
    new_refresh = rotated.json()["refresh_token"]
    assert new_refresh != user.refresh_token
    assert (
        await http.get(
            "/api/me", headers={"Authorization": f"Bearer {rotated.json()['access_token']}"}
        )
    ).json()["id"] == user.id

    reused = await http.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert _error(reused) == (401, "refresh_token_reused")
    after = await http.post("/api/auth/refresh", json={"refresh_token": new_refresh})
    assert _error(after) == (401, "invalid_refresh_token")


async def test_logout_spends_the_session(http: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    assert (
        await http.post("/api/auth/logout", json={"refresh_token": user.refresh_token})
    ).status_code == 204
    response = await http.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert _error(response) == (401, "invalid_refresh_token")


async def test_login_is_throttled_after_repeated_failures(
    http: httpx.AsyncClient, make_user
) -> None:
    user = await make_user()
    bad = {"email": user.email, "password": "wrong password"}
    codes = [(await http.post("/api/auth/login", json=bad)).status_code for _ in range(5)]
    assert codes == [401] * 5
    blocked = await http.post(
        "/api/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert _error(blocked) == (429, "too_many_attempts")
    assert int(blocked.headers["Retry-After"]) > 0


async def test_unknown_routes_and_methods_use_the_error_shape(
    http: httpx.AsyncClient, make_user
) -> None:
    assert _error(await http.get("/api/nothing-here")) == (404, "not_found")
    assert _error(await http.delete("/api/me")) == (405, "method_not_allowed")
    user = await make_user()
    missing = await http.get("/api/threads/thr_does_not_exist", headers=user.headers)
    assert _error(missing) == (404, "not_found")
    empty = await http.post("/api/threads/thr_x/runs", json={"text": ""}, headers=user.headers)
    assert _error(empty) == (422, "invalid_request")


async def test_health_and_readiness(http: httpx.AsyncClient, make_user) -> None:
    assert (await http.get("/health")).json()["status"] == "ok"
    # Anyone sees each component's status, and nothing else.
    anonymous = (await http.get("/ready")).json()
    assert anonymous == {
        "status": "ready",
        "components": {
            name: {"status": "ok"}
            for name in ("database", "events", "state", "analytics", "agents")
        },
    }
    forged = await http.get("/ready", headers={"Authorization": "Bearer nope"})
    assert _error(forged) == (401, "token_invalid")
    user = await make_user()
    ready = (await http.get("/ready", headers=user.headers)).json()
    assert ready["status"] == "ready"
    assert "active_runs" not in ready["components"]["agents"]  # other users' activity
    assert ready["components"]["database"] == {**ready["components"]["database"], "status": "ok"}
    assert "assistant" in ready["components"]["agents"]["agents"]
    assert list(ready["startup_phases_ms"]) == [
        "data_dir_and_secret",
        "database",
        "services",
        "recover_runs",
    ]
