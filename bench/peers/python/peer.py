"""Peer pipeline for ./scripts/bench: aiosfstream (CometD streaming) -> aiokafka.

    peer.py SPEC.json

SPEC: {"login_url", "brokers", "replay": -2|-1,
       "orgs": [{"client_id", "client_secret", "username", "password",
                 "channels": {"/event/X__e": "topic", ...}}]}

Written the way such a bridge is usually written: each message is serialised
back to JSON and sent with acks=all (idempotent, linger 5 ms, no compression);
the send is not awaited per message, and nothing is committed anywhere (both
favour the peer). The record timestamp is the event's creation time, as
sfkafkad sets it, so the harness measures latency identically.
"""

import asyncio
import datetime
import functools
import json
import sys

# aiocometd 0.4.5 passes loop= to asyncio functions that Python 3.10 removed
# it from. Shim them here (the installed package stays untouched).
if sys.version_info >= (3, 10):
    def _drop_loop(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            kwargs.pop("loop", None)
            return fn(*args, **kwargs)
        return wrapper

    for _name in ("sleep", "wait", "wait_for", "gather", "shield"):
        setattr(asyncio, _name, _drop_loop(getattr(asyncio, _name)))
    for _name in ("Queue", "Lock", "Event", "Condition", "Semaphore", "BoundedSemaphore"):
        _cls = getattr(asyncio, _name)
        setattr(asyncio, _name, type(_name, (_cls,), {"__init__": _drop_loop(_cls.__init__)}))

from aiokafka import AIOKafkaProducer  # noqa: E402
from aiosfstream import Client, ReplayOption  # noqa: E402
from aiosfstream.auth import PasswordAuthenticator  # noqa: E402


class LocalPasswordAuthenticator(PasswordAuthenticator):
    """The password flow against a given login URL (sfemu) instead of login.salesforce.com."""

    def __init__(self, login_url, **kwargs):
        super().__init__(**kwargs)
        self._login_url = login_url.rstrip("/")

    @property
    def _token_url(self):
        return self._login_url + "/services/oauth2/token"


def created_ms(data):
    """The event's creation time: payload CreatedDate, event createdDate or CDC commitTimestamp."""
    payload = data.get("payload") or {}
    if isinstance(payload, dict):
        header = payload.get("ChangeEventHeader")
        if isinstance(header, dict) and "commitTimestamp" in header:
            return int(header["commitTimestamp"])
        text = payload.get("CreatedDate")
    else:
        text = None
    text = text or (data.get("event") or {}).get("createdDate")
    if not text:
        return None
    dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(dt.timestamp() * 1000)


async def stream_org(org, spec, producer):
    auth = LocalPasswordAuthenticator(spec["login_url"], consumer_key=org["client_id"],
                                      consumer_secret=org["client_secret"], username=org["username"],
                                      password=org["password"])
    replay = ReplayOption.ALL_EVENTS if spec["replay"] == -2 else ReplayOption.NEW_EVENTS
    async with Client(auth, replay=replay, max_pending_count=1000) as client:
        for channel in org["channels"]:
            await client.subscribe(channel)
        async for message in client:
            topic = org["channels"].get(message["channel"])
            if topic is None:
                continue
            data = message["data"]
            await producer.send(topic, json.dumps(data).encode(), timestamp_ms=created_ms(data))


async def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    producer = AIOKafkaProducer(bootstrap_servers=spec["brokers"], acks="all", enable_idempotence=True,
                                linger_ms=5)
    await producer.start()
    try:
        await asyncio.gather(*(stream_org(o, spec, producer) for o in spec["orgs"]))
    finally:
        await producer.stop()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
