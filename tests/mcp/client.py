"""Runs a list of MCP requests with the official Python SDK (`mcp` from PyPI)
and prints one JSON document with their results, for the Rust tests to check.

Usage: client.py PLAN.json, where the plan is
    {"url": "https://127.0.0.1:PORT/mcp", "ca": "CA PEM file",
     "headers": {"X-API-Key": "..."}, "mode": "auto" | "legacy",
     "fresh_connections": false,
     "steps": [{"op": "list_tools"} | {"op": "list_resources"}
               | {"op": "read_resource", "uri": "..."}
               | {"op": "call", "name": "...", "arguments": {...}}]}

`mode` is the SDK's: "auto" speaks 2026-07-28 (server/discover, no
initialize), "legacy" the initialize handshake of 2025-11-25. Output:
    {"protocol_version": "...", "results": [{"ok": RESULT} | {"error": TEXT}]}
or {"connect_error": TEXT} when no connection could be made.
"""

import asyncio
import json
import ssl
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


def dump(result):
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


def describe(error):
    if isinstance(error, MCPError):
        return {"code": error.code, "message": error.message}
    if isinstance(error, BaseExceptionGroup):
        return " | ".join(str(describe(e)) for e in error.exceptions)
    return f"{type(error).__name__}: {error}"


async def step(client, s):
    op = s["op"]
    if op == "list_tools":
        return await client.list_tools(cache_mode="refresh")
    if op == "list_resources":
        return await client.list_resources(cache_mode="refresh")
    if op == "read_resource":
        return await client.read_resource(s["uri"], cache_mode="refresh")
    if op == "call":
        return await client.call_tool(s["name"], s.get("arguments", {}))
    raise ValueError(f"unknown op {op}")


async def run(plan):
    tls = ssl.create_default_context(cafile=plan["ca"])
    # Without keep-alive every request opens its own connection, so a TCP
    # balancer spreads one client's requests over its backends.
    limits = httpx2.Limits(max_keepalive_connections=0) if plan.get("fresh_connections") else httpx2.Limits()
    http = httpx2.AsyncClient(
        verify=tls, headers=plan.get("headers", {}), timeout=httpx2.Timeout(30.0), limits=limits
    )
    transport = streamable_http_client(plan["url"], http_client=http)
    results = []
    try:
        async with http, Client(transport, mode=plan.get("mode", "auto"), cache=None) as client:
            for s in plan["steps"]:
                try:
                    results.append({"ok": dump(await step(client, s))})
                except Exception as error:  # reported to the test, which judges it
                    results.append({"error": describe(error)})
            return {"protocol_version": client.protocol_version, "results": results}
    except BaseException as error:  # the connection itself failed
        if results:
            return {"results": results, "connect_error": describe(error)}
        return {"connect_error": describe(error)}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        plan = json.load(f)
    print(json.dumps(asyncio.run(run(plan))))


if __name__ == "__main__":
    main()
