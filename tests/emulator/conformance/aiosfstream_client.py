"""Conformance: the real aiosfstream library (password flow) against sfemu.

aiosfstream's transport is aiohttp with its default cookie jar, which drops
cookies set by IP-literal hosts: it works only when the instance_url sfemu
hands out names a host (as Salesforce's always do). It logs in through
"localhost", subscribes, receives events published through the admin API,
then a second client replays them all (-2).
"""
import asyncio
import json
import os
import sys
import urllib.parse
import urllib.request

from aiosfstream import Client, ReplayOption
from aiosfstream.auth import PasswordAuthenticator

URL = os.environ["SFEMU_URL"]
ADMIN = os.environ["SFEMU_ADMIN_URL"]
CHANNEL = "/topic/Demo"
# Log in through a name, as users do with Salesforce's My Domain hosts.
LOGIN = URL.replace("://127.0.0.1:", "://localhost:")


class SfemuAuthenticator(PasswordAuthenticator):
    """The password flow against sfemu's token endpoint (not login.salesforce.com)."""

    @property
    def _token_url(self):
        return LOGIN + "/services/oauth2/token"


def authenticator():
    return SfemuAuthenticator(consumer_key="sfemu-client", consumer_secret="sfemu-secret",
                              username="user@example.com", password="password")


def publish(names):
    body = json.dumps({"channel": CHANNEL, "events": [{"Name": n} for n in names]}).encode()
    req = urllib.request.Request(ADMIN + "/admin/orgs/default/events", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)["replay_ids"]


async def receive(client, count):
    got = []
    while len(got) < count:
        message = await asyncio.wait_for(client.receive(), timeout=60)
        if message.get("channel") == CHANNEL:
            got.append(message)
    return got


def check(condition, what):
    if not condition:
        print("aiosfstream_client: FAILED: " + what, file=sys.stderr)
        sys.exit(1)


async def main():
    loop = asyncio.get_event_loop()
    names = ["aiosfstream-%d" % i for i in range(3)]
    auth = authenticator()
    async with Client(auth) as client:
        host = urllib.parse.urlsplit(auth.instance_url).hostname
        check(host == "localhost", "instance_url %r names no host" % auth.instance_url)
        await client.subscribe(CHANNEL)
        ids = await loop.run_in_executor(None, publish, names)
        got = await receive(client, len(names))
        check([m["data"]["event"]["replayId"] for m in got] == ids,
              "replay ids %r, published %r" % ([m["data"]["event"]["replayId"] for m in got], ids))
        check([m["data"]["sobject"]["Name"] for m in got] == names, "payloads")
        # The long poll keeps working across several connects (cookies round-trip).
        more = await loop.run_in_executor(None, publish, ["late"])
        late = await receive(client, 1)
        check(late[0]["data"]["event"]["replayId"] == more[0], "event after a later connect")

    # A second client replays everything retained (-2).
    async with Client(authenticator(), replay=ReplayOption.ALL_EVENTS) as client:
        await client.subscribe(CHANNEL)
        got = await receive(client, len(names) + 1)
        check([m["data"]["event"]["replayId"] for m in got] == ids + more, "replay -2")
    print("aiosfstream_client: ok (%d events, replay -2)" % (len(names) + 1))


asyncio.get_event_loop().run_until_complete(main())
