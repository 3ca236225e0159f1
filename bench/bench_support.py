"""Processes and sfemu for bench/run_bench.py: CPU and memory figures of a
pipeline process, and an sfemu with events pre-loaded through its admin API."""

import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- process figures ----------------------------------------------------------

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_bytes(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def stop_process(p, timeout=30):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---- sfemu --------------------------------------------------------------------

class Sfemu:
    def __init__(self, build, config_text, work, threads=256):
        self.cfg = os.path.join(work, "sfemu.yaml")
        with open(self.cfg, "w") as f:
            f.write(config_text)
        self.out = open(os.path.join(work, "sfemu.out"), "w+")
        self.err = open(os.path.join(work, "sfemu.log"), "w")
        # localhost, not 127.0.0.1: aiohttp's cookie jar ignores IP-literal hosts.
        self.proc = subprocess.Popen(
            [os.path.join(build, "emulator", "sfemu"), "--config", self.cfg,
             "--listen", "localhost:0", "--admin-listen", "127.0.0.1:0", "--log-level", "warn",
             "--threads", str(threads)],
            stdout=self.out, stderr=self.err)
        self.url = self.admin = self.pubsub = self.pubsub_ca = None
        for _ in range(200):
            self.out.seek(0)
            text = self.out.read()
            for line in text.splitlines():
                if line.startswith("SFEMU_URL="):
                    self.url = line.split("=", 1)[1]
                if line.startswith("SFEMU_ADMIN_URL="):
                    self.admin = line.split("=", 1)[1]
                if line.startswith("SFEMU_PUBSUB="):
                    # The certificate names localhost.
                    self.pubsub = "localhost:" + line.rsplit(":", 1)[1]
                if line.startswith("SFEMU_PUBSUB_CA="):
                    self.pubsub_ca = line.split("=", 1)[1]
            if self.url and self.admin and self.pubsub_ca:
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not (self.url and self.admin):
            raise RuntimeError("sfemu did not start: " + open(self.err.name).read()[-2000:])
        u = urllib.parse.urlparse(self.admin)
        self.host, self.port = u.hostname, u.port
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "c", None)
        if c is None:
            c = http.client.HTTPConnection(self.host, self.port, timeout=600)
            self.local.c = c
        return c

    def request(self, method, path, body=None):
        for attempt in range(2):
            c = self.conn()
            try:
                data = None if body is None else json.dumps(body)
                c.request(method, path, body=data,
                          headers={"Content-Type": "application/json"} if data else {})
                r = c.getresponse()
                payload = r.read()
                if r.status != 200:
                    raise RuntimeError(f"{method} {path}: {r.status} {payload[:300]!r}")
                return json.loads(payload)
            except (http.client.HTTPException, ConnectionError):
                self.local.c = None
                if attempt:
                    raise

    def generate(self, org, channel, count, payload_bytes, seed=1):
        self.request("POST", f"/admin/orgs/{org}/events",
                     {"channel": channel, "generate": {"count": count, "payload_bytes": payload_bytes,
                                                       "seed": seed}})

    def subscribed(self, org, channels, since_ms):
        """True once clients created after since_ms (a pipeline may use one
        client per channel) hold active subscriptions to every channel."""
        clients = self.request("GET", f"/admin/orgs/{org}/clients")
        active = set()
        for c in clients.get("clients", []):
            if c.get("state") != "connected" or c.get("created_ms", 0) < since_ms or c.get("connects", 0) == 0:
                continue
            active |= {s["channel"] for s in c.get("subscriptions", []) if s.get("active")}
        return set(channels) <= active

    def pubsub_streams(self, org):
        """Open Pub/Sub streams of an org."""
        usage = self.request("GET", f"/admin/orgs/{org}/usage")
        return sum(1 for c in usage.get("clients", []) if c.get("transport") == "pubsub" and c.get("open"))

    def close(self):
        stop_process(self.proc)


def emu_config(orgs, hold_ms=10000):
    y = [f"version: 1\nconnect_hold_ms: {hold_ms}\nclient_timeout_ms: 40000\n"
         "max_events_per_response: 1000\norgs:\n"]
    for i, o in enumerate(orgs):
        y.append(f"  - name: {o['name']}\n    org_id: 00D{i + 1:012d}AAA\n"
                 f"    users:\n      - username: {o['user']}\n        password: {o['password']}\n"
                 f"    apps:\n      - client_id: {o['client_id']}\n        client_secret: {o['client_secret']}\n"
                 f"        run_as: {o['user']}\n"
                 "    channels:\n" + "".join(f"      - {c}\n" for c in o["channels"]))
    return "".join(y)


def org_spec(name, channels, default_creds=False):
    if default_creds:
        return {"name": name, "user": "user@example.com", "password": "password",
                "client_id": "sfemu-client", "client_secret": "sfemu-secret", "channels": channels}
    return {"name": name, "user": f"user@{name}.example", "password": f"pw-{name}",
            "client_id": f"app-{name}", "client_secret": f"secret-{name}", "channels": channels}
