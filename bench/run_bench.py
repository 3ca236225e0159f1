#!/usr/bin/env python3
"""The benchmark harness behind ./scripts/bench (standard library only).

Starts a Kafka broker (scripts/kafka) and sfemu, pre-loads events through
sfemu's admin API, and runs each pipeline until every event is acknowledged
by Kafka (the sum of the topics' high watermarks reaches the count), in
alternating order over several rounds. Per pipeline and round it records:

  events_per_second            events / (pipeline start -> last event in Kafka)
  cpu_seconds_per_1000_events  utime+stime of the pipeline process (/proc/<pid>/stat)
                               at that moment, per 1,000 events
  peak_rss_bytes               VmHWM of the pipeline process
  p50_ms / p99_ms              end-to-end latency at a fixed offered rate (scenario
                               "single" only): sfemu creates events at --rate/s on
                               fresh channels the pipeline already streams from; a
                               consumer (bench_kafka consume) takes each record's
                               timestamp (the event's creation time, which every
                               pipeline sets from the event) from its receive time.
                               The plain producer stamps records with the time it
                               creates them, at the same rate.

Pipelines: plain (bench_kafka produce, the machine's limit), sfkafkad (CometD,
replay commits on), sfkafkad-pubsub (the same events over the Pub/Sub API,
value_format json, commits on), aiosfstream (+aiokafka), jsforce (+kafkajs)
and pubsub-api-client (salesforce-pubsub-api-client + kafkajs over Pub/Sub),
the peers with acks=all and no commit. aiosfstream stops being measured after --peer-events
events (at a few thousand events/s the full million would take minutes a
round); jsforce and pubsub-api-client, like the others, run on every event
unless --jsforce-events / --pubsub-peer-events say otherwise.

With a Pub/Sub pipeline the scenario also records sfemu's own Pub/Sub
ceiling for the same events (bench/pubsub_bench), and every run records the
Avro decode cost per event (bench/avro_bench).
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench_report import log, markdown, plot
from bench_support import Sfemu, cpu_seconds, emu_config, org_spec, status_bytes, stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBSUB_PIPELINES = ("sfkafkad-pubsub", "pubsub-api-client")


# ---- the harness ----------------------------------------------------------------

class Bench:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build_dir)
        self.tool = os.path.join(self.build, "bench", "bench_kafka")
        self.work = tempfile.mkdtemp(prefix="sfkafka-bench-")
        self.broker_name = None
        self.procs = []

    # -- broker
    def start_broker(self):
        env_b = os.environ.get("SFKAFKA_BENCH_BOOTSTRAP") or os.environ.get("SFKAFKA_TEST_BOOTSTRAP")
        if env_b:
            self.bootstrap = env_b
            return
        self.broker_name = f"bench-{os.getpid()}"
        out = subprocess.run([os.path.join(ROOT, "scripts", "kafka"), "start", "--name", self.broker_name],
                             check=True, capture_output=True, text=True).stdout
        self.bootstrap = out.strip().splitlines()[-1].split("BOOTSTRAP=", 1)[1]

    def cleanup(self):
        for p in self.procs:
            stop_process(p, 10)
        if self.broker_name:
            subprocess.run([os.path.join(ROOT, "scripts", "kafka"), "stop", "--name", self.broker_name],
                           capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)

    def kafka(self, *args, check=True, timeout=None):
        r = subprocess.run([self.tool, *args, "--brokers", self.bootstrap], capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"bench_kafka {args[0]} failed: {r.stderr[-1500:]} {r.stdout[-500:]}")
        return json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}

    # -- pipeline launchers: each returns a Popen
    def launch(self, pipeline, emu, orgs, topics_of, start, count, tag):
        """orgs: [org spec]; topics_of(org, channel) -> topic."""
        logf = open(os.path.join(self.work, f"{tag}.log"), "w")
        if pipeline == "plain":
            topics = [topics_of(o, c) for o in orgs for c in o["channels"]]
            args = [self.tool, "produce", "--brokers", self.bootstrap, "--topics", ",".join(topics),
                    "--samples", self.samples, "--count", str(count)]
            if start == "rate":
                args += ["--rate", str(self.a.rate)]
            p = subprocess.Popen(args, stdout=logf, stderr=logf)
        elif pipeline in ("sfkafkad", "sfkafkad-pubsub"):
            state = os.path.join(self.work, f"{tag}-state")
            os.makedirs(state, exist_ok=True)
            cfg = os.path.join(self.work, f"{tag}.yaml")
            with open(cfg, "w") as f:
                f.write(self.sfkafkad_config(emu, orgs, topics_of, start, state,
                                             pubsub=pipeline == "sfkafkad-pubsub"))
            p = subprocess.Popen([os.path.join(self.build, "daemon", "sfkafkad"), "--config", cfg,
                                  "--log-level", "warn"], stdout=logf, stderr=logf)
        else:
            spec = {"login_url": emu.url, "pubsub_endpoint": emu.pubsub, "brokers": self.bootstrap,
                    "replay": -2 if start == "earliest" else -1,
                    "orgs": [{"client_id": o["client_id"], "client_secret": o["client_secret"],
                              "username": o["user"], "password": o["password"],
                              "channels": {c: topics_of(o, c) for c in o["channels"]}} for o in orgs]}
            specf = os.path.join(self.work, f"{tag}.json")
            with open(specf, "w") as f:
                json.dump(spec, f)
            if pipeline == "aiosfstream":
                py = os.path.join(self.build, "bench-peers", "venv", "bin", "python")
                cmd = [py, os.path.join(ROOT, "bench", "peers", "python", "peer.py"), specf]
            else:
                script = "peer.js" if pipeline == "jsforce" else "pubsub_peer.js"
                cmd = ["node", os.path.join(ROOT, "bench", "peers", "node", script), specf]
                env = dict(os.environ, NODE_PATH=self.node_modules())
            p = subprocess.Popen(cmd, stdout=logf, stderr=logf,
                                 env=env if pipeline != "aiosfstream" else None)
        self.procs.append(p)
        return p

    def node_modules(self):
        return os.path.join(self.build, "bench-peers", "node", "node_modules")

    def peer_available(self, pipeline):
        if pipeline == "aiosfstream":
            return os.path.exists(os.path.join(self.build, "bench-peers", "venv", "bin", "python"))
        if pipeline == "jsforce":
            return os.path.isdir(os.path.join(self.node_modules(), "jsforce"))
        if pipeline == "pubsub-api-client":
            return os.path.isdir(os.path.join(self.node_modules(), "salesforce-pubsub-api-client"))
        return True

    def sfkafkad_config(self, emu, orgs, topics_of, start, state, pubsub=False):
        y = [f"version: 1\nkafka:\n  brokers: {self.bootstrap}\n",
             f"state:\n  directory: {state}\n  commit_interval_ms: 100\n",
             "http:\n  listen: \"\"\nlog:\n  level: warn\norgs:\n"]
        for o in orgs:
            y.append(f"  {o['name']}:\n    login_url: {emu.url}\n")
            if pubsub:
                y.append(f"    pubsub:\n      endpoint: \"{emu.pubsub}\"\n      ca_file: {emu.pubsub_ca}\n")
            y.append("    auth:\n      flow: password\n"
                     f"      client_id: {o['client_id']}\n      client_secret: {o['client_secret']}\n"
                     f"      username: {o['user']}\n      password: {o['password']}\n    channels:\n")
            for c in o["channels"]:
                y.append(f"      {c}:\n        topic: {topics_of(o, c)}\n"
                         f"        start: {'earliest' if start == 'earliest' else 'latest'}\n")
                if pubsub:
                    y.append("        transport: pubsub\n        value_format: json\n")
        return "".join(y)

    # -- one throughput run
    def throughput(self, pipeline, emu, orgs, count, tag, keep_topics=False):
        topics_of = lambda o, c: f"{tag}.{o['name']}.{c.strip('/').replace('/', '.')}"
        topics = [topics_of(o, c) for o in orgs for c in o["channels"]]
        self.kafka("create", "--topics", ",".join(topics))
        waiter = subprocess.Popen([self.tool, "wait", "--brokers", self.bootstrap, "--topics", ",".join(topics),
                                   "--count", str(count), "--timeout", str(self.a.timeout)],
                                  stdout=subprocess.PIPE, text=True)
        t0 = time.time()
        p = self.launch(pipeline, emu, orgs, topics_of, "earliest", count, tag)
        out = waiter.communicate()[0]
        res = json.loads(out.strip().splitlines()[-1])
        alive = p.poll() is None
        cpu = cpu_seconds(p.pid) if alive else float("nan")
        hwm = status_bytes(p.pid, "VmHWM") if alive else 0
        stop_process(p)
        self.procs.remove(p)
        if "done_unix_ms" not in res:
            raise RuntimeError(f"{pipeline} did not deliver {count} events in time "
                               f"({res.get('records')} landed); see {tag}.log: "
                               + open(os.path.join(self.work, f"{tag}.log")).read()[-1500:])
        secs = res["done_unix_ms"] / 1000 - t0
        if keep_topics:
            return topics
        self.kafka("delete", "--topics", ",".join(topics), check=False)
        return {"events": count, "seconds": secs, "events_per_second": count / secs,
                "cpu_seconds_per_1000_events": cpu / count * 1000, "peak_rss_bytes": hwm}

    # -- one latency run at the offered rate
    def latency(self, pipeline, emu, lat_org, tag):
        count = int(self.a.rate * self.a.latency_seconds)
        topics_of = lambda o, c: f"{tag}.{c.strip('/').replace('/', '.')}"
        topics = [topics_of(lat_org, c) for c in lat_org["channels"]]
        self.kafka("create", "--topics", ",".join(topics))
        consumer = subprocess.Popen([self.tool, "consume", "--brokers", self.bootstrap, "--topics", ",".join(topics),
                                     "--count", str(count), "--timeout", str(self.a.latency_seconds + 60)],
                                    stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)  # consumer assigned and fetching
        p = None
        if pipeline == "plain":
            p = self.launch("plain", emu, [lat_org], topics_of, "rate", count, tag)
        else:
            since = int(time.time() * 1000) - 5
            p = self.launch(pipeline, emu, [lat_org], topics_of, "latest", count, tag)
            deadline = time.time() + 60
            while not self.subscribed(pipeline, emu, lat_org, since):
                if time.time() > deadline or p.poll() is not None:
                    raise RuntimeError(f"{pipeline} did not subscribe; see {tag}.log")
                time.sleep(0.1)
            time.sleep(0.5)
            self.offer(emu, lat_org, count)
        out = consumer.communicate()[0]
        stop_process(p)
        self.procs.remove(p)
        self.kafka("delete", "--topics", ",".join(topics), check=False)
        res = json.loads(out.strip().splitlines()[-1])
        if res["records"] < count:
            # The pipeline cannot sustain the offered rate: no latency figure.
            log(f"    {pipeline} sustained only {res['records']} of {count} records at {self.a.rate}/s")
            return {"p50_ms": None, "p99_ms": None}
        return res

    @staticmethod
    def subscribed(pipeline, emu, org, since):
        if pipeline in PUBSUB_PIPELINES:
            # A stream per channel (streams of pipelines before were closed with them).
            return emu.pubsub_streams(org["name"]) >= len(org["channels"])
        return emu.subscribed(org["name"], org["channels"], since)

    def offer(self, emu, org, count):
        """Creates `count` events in sfemu at --rate per second, round-robin over the channels."""
        chans = org["channels"]
        step = 0.005
        start = time.perf_counter()
        sent = 0
        i = 0
        while sent < count:
            due = min(count, int((time.perf_counter() - start) * self.a.rate) + 1)
            n = due - sent
            if n > 0:
                per = max(1, n // len(chans))
                while n > 0:
                    k = min(per, n)
                    emu.generate(org["name"], chans[i % len(chans)], k, self.a.payload_bytes, seed=i)
                    i += 1
                    n -= k
                    sent += k
            time.sleep(step)

    # -- idle RSS with one org
    def idle_rss(self, emu, lat_org):
        topics_of = lambda o, c: f"idle.{c.strip('/').replace('/', '.')}"
        since = int(time.time() * 1000) - 5
        p = self.launch("sfkafkad", emu, [lat_org], topics_of, "latest", 0, "idle")
        deadline = time.time() + 60
        while not emu.subscribed(lat_org["name"], lat_org["channels"], since):
            if time.time() > deadline or p.poll() is not None:
                raise RuntimeError("sfkafkad (idle) did not subscribe")
            time.sleep(0.1)
        time.sleep(self.a.idle_seconds)
        rss = status_bytes(p.pid, "VmRSS")
        hwm = status_bytes(p.pid, "VmHWM")
        stop_process(p)
        self.procs.remove(p)
        return rss, hwm

    # -- RSS with many orgs streaming live events (scenario "multi")
    def streaming_rss(self, emu, orgs):
        """sfkafkad subscribed to every org (start: latest) while sfemu creates
        --rate events/s for --latency-seconds, spread over every channel in
        turn. Returns (VmRSS at the end, VmHWM, events landed)."""
        topics_of = lambda o, c: f"stream.{o['name']}.{c.strip('/').replace('/', '.')}"
        topics = [topics_of(o, c) for o in orgs for c in o["channels"]]
        self.kafka("create", "--topics", ",".join(topics))
        since = int(time.time() * 1000) - 5
        p = self.launch("sfkafkad", emu, orgs, topics_of, "latest", 0, "stream")
        deadline = time.time() + 120
        pending = list(orgs)
        while pending:
            if time.time() > deadline or p.poll() is not None:
                raise RuntimeError("sfkafkad (streaming) did not subscribe every org; see stream.log")
            pending = [o for o in pending if not emu.subscribed(o["name"], o["channels"], since)]
            time.sleep(0.2)
        pairs = [(o, c) for o in orgs for c in o["channels"]]
        tick, per_tick_channels = 0.1, 20
        per_request = max(1, int(self.a.rate * tick / per_tick_channels))
        sent, i = 0, 0
        start = time.perf_counter()
        ticks = int(self.a.latency_seconds / tick)
        for t in range(ticks):
            for _ in range(per_tick_channels):
                o, c = pairs[i % len(pairs)]
                emu.generate(o["name"], c, per_request, self.a.payload_bytes, seed=i)
                i += 1
                sent += per_request
            time.sleep(max(0.0, start + (t + 1) * tick - time.perf_counter()))
        landed = self.kafka("wait", "--topics", ",".join(topics), "--count", str(sent), "--timeout", "60",
                            check=False)
        rss = status_bytes(p.pid, "VmRSS")
        hwm = status_bytes(p.pid, "VmHWM")
        stop_process(p)
        self.procs.remove(p)
        self.kafka("delete", "--topics", ",".join(topics), check=False)
        if landed.get("records", 0) < sent:
            raise RuntimeError(f"sfkafkad (streaming) delivered {landed.get('records')} of {sent} events")
        log(f"    streaming: {sent} offered, {landed.get('records')} landed")
        return rss, hwm, sent

    def dump_samples(self, topics, n):
        self.samples = os.path.join(self.work, "samples.bin")
        self.kafka("consume", "--topics", ",".join(topics), "--count", str(n), "--dump", self.samples,
                   "--timeout", "60")
        self.kafka("delete", "--topics", ",".join(topics), check=False)

    # -- scenarios
    def run(self):
        a = self.a
        pipelines = [p for p in a.pipelines.split(",") if p]
        for p in list(pipelines):
            if p in ("aiosfstream", "jsforce", "pubsub-api-client") and not self.peer_available(p):
                log(f"{p} is not installed (./scripts/bench sets it up); skipped")
                pipelines.remove(p)
        self.start_broker()
        log("broker", self.bootstrap)
        results = {"meta": self.meta(pipelines), "scenarios": {}}

        for scenario in a.scenarios.split(","):
            ceiling = None
            if scenario == "single":
                orgs = [org_spec("default", [f"/event/Bench{i}__e" for i in range(4)], default_creds=True)]
                lat = org_spec("lat", [f"/event/Lat{i}__e" for i in range(4)])
                per_channel = a.events // 4
                scen_pipes = pipelines
                if any(p in PUBSUB_PIPELINES for p in scen_pipes):
                    # Before this scenario's sfemu holds the events: its own, alone.
                    ceiling = self.pubsub_ceiling(per_channel, len(orgs[0]["channels"]))
                emu = Sfemu(self.build, emu_config(orgs + [lat]), self.work)
            else:
                orgs = [org_spec(f"o{i:03d}", ["/event/Bench0__e", "/event/Bench1__e"]) for i in range(a.orgs)]
                lat = None
                per_channel = a.org_events
                # Every org holds a long poll and may open a second connection.
                emu = Sfemu(self.build, emu_config(orgs), self.work, threads=max(256, 3 * len(orgs)))
                scen_pipes = [p for p in pipelines if p in ("plain", "sfkafkad")]
            total = per_channel * sum(len(o["channels"]) for o in orgs)
            log(f"scenario {scenario}: pre-loading {total} events of ~{a.payload_bytes} B")
            t = time.time()
            for o in orgs:
                for c in o["channels"]:
                    left = per_channel
                    while left:
                        k = min(left, 50000)
                        emu.generate(o["name"], c, k, a.payload_bytes, seed=left)
                        left -= k
            log(f"  pre-loaded in {time.time() - t:.1f} s")
            if not hasattr(self, "samples"):
                log("  sample records for the plain producer (sfkafkad on the first events)")
                n = min(total, 2000)
                topics = self.throughput("sfkafkad", emu, orgs, n, "sample", keep_topics=True)
                self.dump_samples(topics, n)
            if any(p in PUBSUB_PIPELINES for p in scen_pipes):
                self.warm_pubsub(emu, orgs)

            rounds = {p: [] for p in scen_pipes}
            for r in range(a.rounds):
                order = scen_pipes[r % len(scen_pipes):] + scen_pipes[:r % len(scen_pipes)]
                for p in order:
                    count = {"aiosfstream": min(total, a.peer_events),
                             "jsforce": min(total, a.jsforce_events or total),
                             "pubsub-api-client": min(total, a.pubsub_peer_events or total)}.get(p, total)
                    tag = f"{scenario}.r{r}.{p}"
                    log(f"  round {r + 1}/{a.rounds} {p}: {count} events")
                    res = self.throughput(p, emu, orgs, count, tag)
                    if lat is not None and a.latency_seconds > 0:
                        res.update({k: v for k, v in self.latency(p, emu, lat, tag + ".lat").items()
                                    if k in ("p50_ms", "p99_ms")})
                    log("    " + ", ".join(f"{k}={v:.4g}" if v is not None else f"{k}=-" for k, v in res.items()))
                    rounds[p].append(res)
            summary = {}
            for p, rs in rounds.items():
                med = lambda vals: None if any(v is None for v in vals) else statistics.median(vals)
                summary[p] = {k: med([r[k] for r in rs])
                              for k in ("events_per_second", "cpu_seconds_per_1000_events", "peak_rss_bytes",
                                        "p50_ms", "p99_ms") if all(k in r for r in rs)}
                summary[p]["events"] = rs[0]["events"]
                summary[p]["rounds"] = rs
            for own in ("sfkafkad", "sfkafkad-pubsub"):
                for p, o in summary.items() if own in summary else ():
                    if p == own:
                        continue
                    s = summary[own]
                    ratio = {"events_per_second": s["events_per_second"] / o["events_per_second"],
                             "cpu_seconds_per_1000_events": s["cpu_seconds_per_1000_events"] / o["cpu_seconds_per_1000_events"],
                             "peak_rss_bytes": s["peak_rss_bytes"] / o["peak_rss_bytes"] if o["peak_rss_bytes"] else None}
                    if s.get("p99_ms") is not None and o.get("p99_ms") is not None:
                        ratio["p99_ms_delta"] = s["p99_ms"] - o["p99_ms"]
                    s.setdefault("ratio_to", {})[p] = ratio
            if "sfkafkad" in summary:
                s = summary["sfkafkad"]
                if lat is not None and a.idle_seconds > 0:
                    rss, _ = self.idle_rss(emu, lat)
                    s["idle_rss_bytes"] = rss
                if lat is None and a.latency_seconds > 0:
                    log(f"  sfkafkad streaming {a.rate}/s over {len(orgs)} orgs for {a.latency_seconds:g} s")
                    rss, hwm, sent = self.streaming_rss(emu, orgs)
                    s["streaming_rss_bytes"], s["streaming_peak_rss_bytes"], s["streaming_events"] = rss, hwm, sent
            results["scenarios"][scenario] = {"orgs": len(orgs), "channels_per_org": len(orgs[0]["channels"]),
                                              "events": total, "pipelines": summary}
            if ceiling:
                results["scenarios"][scenario]["sfemu_pubsub_ceiling_events_per_second"] = ceiling
            emu.close()
        results["avro_decode_us"] = self.avro_decode()
        results["meta"]["load_after"] = os.getloadavg()
        return results

    # -- Pub/Sub: sfemu's ceiling, its encoding paid before the rounds, the decode cost
    def pubsub_ceiling(self, per_channel, channels):
        """Best events/s of bench/pubsub_bench on the same events (its own sfemu)."""
        log(f"  sfemu's Pub/Sub ceiling: pubsub_bench, {channels} streams x {per_channel} events")
        r = subprocess.run([os.path.join(self.build, "bench", "pubsub_bench"), "--events", str(per_channel),
                            "--topics", str(channels), "--bytes", str(self.a.payload_bytes), "--passes", "2"],
                           capture_output=True, text=True, env=dict(os.environ, SFKAFKA_BUILD_ROOT=self.build),
                           timeout=self.a.timeout)
        best = [line for line in r.stdout.splitlines() if line.startswith("best: ")]
        if r.returncode != 0 or not best:
            raise RuntimeError("pubsub_bench failed: " + r.stderr[-1500:])
        log("    " + best[0])
        return float(best[0].split()[1])

    def warm_pubsub(self, emu, orgs):
        """sfemu encodes a channel's events to Avro on its first Subscribe:
        one short sfkafkad-pubsub run that hears from every channel pays for
        it, so no measured pipeline does."""
        log("  sfemu encoding the events to Avro (one sfkafkad-pubsub run, not measured)")
        t = time.time()
        topics_of = lambda o, c: f"warm.{o['name']}.{c.strip('/').replace('/', '.')}"
        topics = [topics_of(o, c) for o in orgs for c in o["channels"]]
        self.kafka("create", "--topics", ",".join(topics))
        p = self.launch("sfkafkad-pubsub", emu, orgs, topics_of, "earliest", 0, "warm")
        for topic in topics:
            self.kafka("wait", "--topics", topic, "--count", "1", "--timeout", str(self.a.timeout))
        stop_process(p)
        self.procs.remove(p)
        self.kafka("delete", "--topics", ",".join(topics), check=False)
        log(f"    encoded in {time.time() - t:.1f} s")

    def avro_decode(self):
        """bench/avro_bench: µs per event of sfkafkad's Avro decoding."""
        log("Avro decode cost per event (avro_bench)")
        r = subprocess.run([os.path.join(self.build, "bench", "avro_bench"), "--iterations",
                            str(self.a.avro_iterations)], capture_output=True, text=True,
                           env=dict(os.environ, SFKAFKA_BUILD_ROOT=self.build), timeout=600)
        if r.returncode != 0:
            raise RuntimeError("avro_bench failed: " + r.stderr[-1500:])
        for line in r.stdout.splitlines()[:-1]:
            log("  " + line)
        return json.loads(r.stdout.splitlines()[-1])["avro_decode_us"]

    def meta(self, pipelines):
        cpu = "unknown"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "nproc": os.cpu_count(), "cpu": cpu, "load_before": os.getloadavg(),
                "rounds": self.a.rounds, "payload_bytes": self.a.payload_bytes, "rate": self.a.rate,
                "latency_seconds": self.a.latency_seconds, "peer_events": self.a.peer_events,
                "jsforce_events": self.a.jsforce_events, "pubsub_peer_events": self.a.pubsub_peer_events,
                "pipelines": pipelines, "command": " ".join(["./scripts/bench"] + self.a.argv)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small counts, one round, plain + sfkafkad + sfkafkad-pubsub only")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-release"))
    ap.add_argument("--out", default=None, help="results folder (default bench/results; --quick: a temp dir)")
    ap.add_argument("--events", type=int, default=1_000_000, help="scenario single: events over 4 channels")
    ap.add_argument("--orgs", type=int, default=100)
    ap.add_argument("--org-events", type=int, default=1000, help="scenario multi: events per channel")
    ap.add_argument("--payload-bytes", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-events", type=int, default=100_000, help="events aiosfstream is measured on")
    ap.add_argument("--jsforce-events", type=int, default=0, help="events jsforce is measured on (0: all)")
    ap.add_argument("--pubsub-peer-events", type=int, default=0,
                    help="events pubsub-api-client is measured on (0: all)")
    ap.add_argument("--avro-iterations", type=int, default=2000, help="passes of avro_bench over its events")
    ap.add_argument("--rate", type=int, default=10_000, help="offered rate of the latency runs")
    ap.add_argument("--latency-seconds", type=float, default=10)
    ap.add_argument("--idle-seconds", type=float, default=5)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per throughput run")
    ap.add_argument("--pipelines", default="plain,sfkafkad,sfkafkad-pubsub,aiosfstream,jsforce,pubsub-api-client")
    ap.add_argument("--scenarios", default="single,multi")
    argv = sys.argv[1:]
    a = ap.parse_args(argv)
    a.argv = [x for x in argv if x not in ("--no-setup",)]
    if a.quick:
        a.events, a.orgs, a.org_events, a.rounds = 4000, 5, 200, 1
        a.latency_seconds, a.idle_seconds, a.rate = 1, 1, 5000
        a.pipelines, a.avro_iterations = "plain,sfkafkad,sfkafkad-pubsub", 20
    b = Bench(a)
    try:
        res = b.run()
    finally:
        b.cleanup()
    out = a.out or (tempfile.mkdtemp(prefix="sfkafka-bench-quick-") if a.quick
                    else os.path.join(ROOT, "bench", "results"))
    os.makedirs(out, exist_ok=True)
    md = markdown(res)
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump(res, f, indent=2)
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write(md + "\n")
    plot(res, out)
    print(md)
    log(f"results in {out}")
    if a.quick:
        shutil.rmtree(out, ignore_errors=True) if not a.out else None
        # The smoke check: every pipeline delivered and sfkafkad has figures.
        s = res["scenarios"]["single"]["pipelines"]
        ok = all(s[p]["events_per_second"] > 0 for p in ("plain", "sfkafkad", "sfkafkad-pubsub"))
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
