"""API rate limits against the running app (uvicorn on a free port, real SQLite views).

Requests are driven with httpx, no sleeps: a window of one minute never frees a slot
within a test, so the counts are exact.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from config.loader import check_config, load_config
from config.models import RateLimitsConfig
from mtq.http import ApiSettings
from tests.integration.test_api_support import RunningApi, running_api, seed_views

ALICE, BOB = "alice-token-1", "bob-token-2"


def settings(tmp_path: Path, limits: RateLimitsConfig | None) -> ApiSettings:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seeder = seed_views(url, ["acc-a"])
    return ApiSettings(
        db_url=url,
        accounts=seeder.settings,
        tokens_env=f"alice:{ALICE},bob:{BOB}",
        rate_limits=limits,
    )


async def reads(api: RunningApi, token: str | None, count: int) -> list[httpx.Response]:
    async with api.client(token) as client:
        return list(await asyncio.gather(*(client.get("/accounts") for _ in range(count))))


async def test_flood_when_one_token_floods_then_429s_and_another_token_still_reads(
    tmp_path: Path,
) -> None:
    limits = RateLimitsConfig(reads="10/minute", control="3/minute")
    async with running_api(settings(tmp_path, limits)) as api:
        flood, others = await asyncio.gather(reads(api, ALICE, 40), reads(api, BOB, 8))
        codes = [r.status_code for r in flood]
        assert codes.count(200) == 10
        assert codes.count(429) == 30
        assert [r.status_code for r in others] == [200] * 8, "bob was slowed by alice's flood"
        refused = next(r for r in flood if r.status_code == 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        body = refused.json()
        assert body["code"] == 429
        assert "too many reads requests from token 'alice'" in body["message"]
        assert "10 per 1 minute" in body["message"]
        assert "api.rate_limits.reads" in body["message"]
        assert body["detail"]["retry_after_s"] == int(refused.headers["retry-after"])
        # Without a token the caller is its address: a budget of its own, not alice's.
        anonymous = await reads(api, None, 3)
        assert [r.status_code for r in anonymous] == [200] * 3
        async with api.client() as client:
            assert (await client.get("/health")).status_code == 200  # never counted


async def test_control_when_over_its_lower_limit_then_429_while_reads_go_on(
    tmp_path: Path,
) -> None:
    limits = RateLimitsConfig(reads="100/minute", control="3/minute")
    async with running_api(settings(tmp_path, limits)) as api:
        async with api.client(ALICE) as client:
            answers = [
                await client.post("/accounts/acc-a/pause", json={"reason": "test"})
                for _ in range(5)
            ]
            codes = [r.status_code for r in answers]
            assert 429 not in codes[:3]  # answered by the API (503: no NATS here)
            assert codes[3:] == [429, 429]
            assert "too many control requests" in answers[3].json()["message"]
            assert "retry-after" in answers[3].headers
            assert (await client.get("/accounts")).status_code == 200
            check = await client.post(
                "/accounts/acc-a/orders/check",
                json={"symbol": "EURUSD", "side": "buy", "volume": 0.1},
            )
            assert check.status_code == 429, "the pre-trade check counts as control"
        async with api.client(BOB) as client:
            bob = await client.post("/accounts/acc-a/pause", json={"reason": "test"})
            assert bob.status_code != 429


async def test_wrong_tokens_when_flooding_then_counted_by_address(tmp_path: Path) -> None:
    limits = RateLimitsConfig(reads="5/minute", control="5/minute")
    async with running_api(settings(tmp_path, limits)) as api:
        codes = []
        for i in range(8):
            async with api.client(f"made-up-{i}") as client:
                codes.append((await client.get("/api/workers")).status_code)
        assert codes[:5] == [401] * 5
        assert codes[5:] == [429] * 3, "a new made-up token buys no new budget"
        assert [r.status_code for r in await reads(api, ALICE, 2)] == [200, 200]


async def test_limits_when_off_then_nothing_refused(tmp_path: Path) -> None:
    off = RateLimitsConfig(reads="2/minute", enabled=False)
    async with running_api(settings(tmp_path, off)) as api:
        assert {r.status_code for r in await reads(api, ALICE, 10)} == {200}


def test_config_when_rate_limits_given_then_they_reach_the_api(tmp_path: Path) -> None:
    path = tmp_path / "mtq.yaml"
    path.write_text("accounts: []\napi:\n  rate_limits: {reads: 50/second, control: 5/minute}\n")
    config = load_config(path)
    limits = ApiSettings.from_config(config, "sqlite://").rate_limits
    assert limits == RateLimitsConfig(reads="50/second", control="5/minute")


def test_config_when_rate_is_not_a_rate_then_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "mtq.yaml"
    path.write_text("accounts: []\napi:\n  rate_limits:\n    control: lots\n")
    config, result = check_config(path)
    assert config is None
    (issue,) = result.errors
    assert (issue.line, issue.path) == (4, "api.rate_limits.control")
    assert "rate limit 'lots': write N/period" in issue.message
