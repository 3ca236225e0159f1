"""The reports of bench/run_bench.py: latest.md's tables and latest.png."""

import os
import shutil
import subprocess
import sys


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def markdown(res):
    m = res["meta"]
    lines = [f"Machine: {m['nproc']} cores, {m['cpu']}; load average {m['load_before'][0]:.2f} before, "
             f"{m['load_after'][0]:.2f} after. {m['date']}, `{m['command']}`, median of {m['rounds']} "
             f"rounds, ~{m['payload_bytes']} B events, latency at {m['rate']:,} events/s.", ""]
    for name, s in res["scenarios"].items():
        lines.append(f"**{name}**: {s['orgs']} org(s) × {s['channels_per_org']} channels, "
                     f"{s['events']:,} events")
        lines.append("")
        lines.append("| pipeline | events | events/s | CPU s / 1k events | peak RSS MB | p50 ms | p99 ms "
                     "| × plain (throughput) | sfkafkad × (throughput) |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        pipes = s["pipelines"]
        sk = pipes.get("sfkafkad", {})
        plain = pipes.get("plain", {}).get("events_per_second")
        for p, v in pipes.items():
            ratio = sk.get("ratio_to", {}).get(p, {}).get("events_per_second")
            to_plain = v["events_per_second"] / plain if plain and p != "plain" else None
            lines.append(f"| {p} | {v['events']:,} | {v['events_per_second']:,.0f} | "
                         f"{v['cpu_seconds_per_1000_events']:.3f} | {v['peak_rss_bytes'] / 1e6:.1f} | "
                         f"{fmt(v.get('p50_ms'), '.1f')} | {fmt(v.get('p99_ms'), '.1f')} | "
                         f"{fmt(to_plain, '.2f')} | {fmt(ratio, '.2f')} |")
        lines += pubsub_lines(s)
        if "idle_rss_bytes" in sk:
            lines.append("")
            lines.append(f"sfkafkad idle RSS (one org, 4 channels subscribed): {sk['idle_rss_bytes'] / 1e6:.1f} MB")
        if "streaming_rss_bytes" in sk:
            lines.append("")
            lines.append(f"sfkafkad streaming {m['rate']:,} events/s over {s['orgs']} orgs "
                         f"({sk['streaming_events']:,} events, all landed): RSS {sk['streaming_rss_bytes'] / 1e6:.1f} MB, "
                         f"peak {sk['streaming_peak_rss_bytes'] / 1e6:.1f} MB")
        lines.append("")
    lines += avro_lines(res.get("avro_decode_us"))
    return "\n".join(lines)


def pubsub_lines(s):
    """The Pub/Sub comparisons under a scenario's table."""
    pipes = s["pipelines"]
    sp = pipes.get("sfkafkad-pubsub")
    out = []
    ceiling = s.get("sfemu_pubsub_ceiling_events_per_second")
    if ceiling:
        out += ["", f"sfemu's own Pub/Sub ceiling for these events (bench/pubsub_bench: its own sfemu, one C++ "
                    f"subscriber, {s['channels_per_org']} streams, no Kafka): {ceiling:,.0f} events/s"
                + (f"; sfkafkad-pubsub reaches {sp['events_per_second'] / ceiling:.2f}× of it" if sp else "")
                + "."]
    peer = pipes.get("pubsub-api-client")
    if sp and peer:
        r = sp["ratio_to"]["pubsub-api-client"]
        out += ["", f"sfkafkad-pubsub vs salesforce-pubsub-api-client + kafkajs: {r['events_per_second']:.2f}× "
                    f"the throughput, {1 / r['cpu_seconds_per_1000_events']:.2f}× less CPU per event."]
    return out


def avro_lines(avro):
    """bench/avro_bench's table: µs per event."""
    if not avro:
        return []
    out = ["**Avro decode per Pub/Sub event** (bench/avro_bench, sfemu's schemas and payloads, µs/event, "
           "fastest of 5 runs; daemon step = schema cache lookup + EventValues::build)", "",
           "| payload | json: decodeToJson | json: daemon step | cometd_compatible: decodeToJson "
           "| cometd_compatible: daemon step | within decodeToJson: checkEncoding "
           "| within decodeToJson: avro-c value new + read |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, v in avro.items():
        out.append(f"| {name} | {v['json_decode']:.2f} | {v['json_build']:.2f} | "
                   f"{v['cometd_compatible_decode']:.2f} | {v['cometd_compatible_build']:.2f} | "
                   f"{v['check_encoding']:.2f} | {v['avro_c_value_new_read']:.2f} |")
    return out + [""]


def plot(res, outdir):
    if not shutil.which("gnuplot"):
        log("gnuplot not found; no plot")
        return
    s = res["scenarios"].get("single") or next(iter(res["scenarios"].values()))
    dat = os.path.join(outdir, "latest.dat")
    with open(dat, "w") as f:
        f.write("pipeline eps cpu rss p99\n")
        for p, v in s["pipelines"].items():
            f.write(f"{p} {v['events_per_second']:.1f} {v['cpu_seconds_per_1000_events']:.4f} "
                    f"{v['peak_rss_bytes'] / 1e6:.2f} {v.get('p99_ms', 0) or 0:.2f}\n")
    script = f"""
set terminal pngcairo size 1200,800 noenhanced
set output '{os.path.join(outdir, "latest.png")}'
set multiplot layout 2,2 title "sfkafka bench ({s['events']:,} events, {res['meta']['nproc']} cores)"
set style data histograms
set style fill solid 0.8
set boxwidth 0.7
set grid ytics
unset key
set xtics nomirror
set title 'events/s (higher is better)'
plot '{dat}' using 2:xtic(1) skip 1 lc rgb '#3b7dd8'
set title 'CPU seconds per 1,000 events (lower is better)'
plot '{dat}' using 3:xtic(1) skip 1 lc rgb '#d8843b'
set title 'peak RSS MB (lower is better)'
plot '{dat}' using 4:xtic(1) skip 1 lc rgb '#3bd87a'
set logscale y
set title 'p99 latency ms at {res['meta']['rate']:,}/s, log scale (lower is better)'
plot '{dat}' using 5:xtic(1) skip 1 lc rgb '#a03bd8'
unset multiplot
"""
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        # pngcairo may be missing from gnuplot-nox builds: fall back to png.
        r = subprocess.run(["gnuplot"], input=script.replace("pngcairo", "png"), text=True, capture_output=True)
    if r.returncode != 0:
        log("gnuplot failed: " + r.stderr[-500:])
    os.remove(dat)
