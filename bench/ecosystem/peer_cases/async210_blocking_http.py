"""Peer: ruff/flake8-async ASYNC210 (blocking HTTP call in async function). Ours: AM205."""

import urllib.request

import httpx
import requests


async def fetch_with_requests(url: str) -> bytes:
    return requests.get(url, timeout=5).content  # expect: AM205


async def post_with_requests(url: str) -> None:
    requests.post(url, json={"a": 1}, timeout=5)  # expect: AM205


async def nested_in_print(url: str) -> None:
    print(requests.head(url, timeout=5).status_code)  # expect: AM205


async def fetch_with_urllib(url: str) -> bytes:
    with urllib.request.urlopen(url) as resp:  # expect: AM205
        return resp.read()


async def sync_httpx_helper(url: str) -> int:
    return httpx.get(url).status_code  # expect: AM205


async def async_client(url: str) -> int:
    async with httpx.AsyncClient() as client:
        r = await client.get(url)  # ok
    return r.status_code


async def attribute_reference_only() -> None:
    getter = requests.get  # ok
    print(getter)


async def dict_get_is_not_http(cfg: dict[str, str]) -> str:
    return cfg.get("url", "")  # ok


async def shadowing_local_function() -> None:
    def urlopen(x: str) -> str:
        return x

    urlopen("not a request")  # ok


def sync_code_may_block(url: str) -> bytes:
    return requests.get(url, timeout=5).content  # ok
