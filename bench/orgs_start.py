#!/usr/bin/env python3
"""Start-up of many orgs: sfkafkad with N orgs x 2 channels against sfemu and
a Kafka broker; prints how long until every org streams (GET /status), then
its idle RSS and thread count 10 s later.

    python3 bench/orgs_start.py --orgs 500 --brokers 127.0.0.1:9092 [--build build]

sfemu serves one thread per connection: it gets 2 per org plus a margin.
"""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--orgs', type=int, required=True)
    ap.add_argument('--brokers', required=True)
    ap.add_argument('--build', default='build')
    ap.add_argument('--port', type=int, default=19464)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix='sfkafka-orgs-')
    emu = subprocess.Popen([os.path.join(a.build, 'emulator/sfemu'), '--log-level', 'warn',
                            '--threads', str(max(256, 2 * a.orgs + 64))],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = next(line.strip().split('=', 1)[1] for line in emu.stdout if line.startswith('SFEMU_URL='))
    cfg = ['version: 1', 'kafka:', '  brokers: ' + a.brokers, 'state:', '  directory: ' + work + '/state',
           'http:', '  listen: 127.0.0.1:%d' % a.port, 'log:', '  level: warn', 'orgs:']
    for i in range(a.orgs):
        cfg += ['  o%d:' % i, '    login_url: ' + url,
                '    auth: {flow: password, client_id: sfemu-client, client_secret: sfemu-secret, '
                'username: user@example.com, password: password}',
                '    channels:',
                '      /event/Demo__e: {topic: orgs-start.o%d.a}' % i,
                '      /topic/Demo: {topic: orgs-start.o%d.b}' % i]
    with open(work + '/sfkafkad.yaml', 'w') as f:
        f.write('\n'.join(cfg) + '\n')
    start = time.monotonic()
    daemon = subprocess.Popen([os.path.join(a.build, 'daemon/sfkafkad'), '--config', work + '/sfkafkad.yaml'],
                              stderr=open(work + '/sfkafkad.log', 'w'))
    try:
        while True:
            try:
                status = json.load(urllib.request.urlopen('http://127.0.0.1:%d/status' % a.port, timeout=5))
                if sum(o['state'] == 'streaming' for o in status['orgs']) == a.orgs:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        streaming = time.monotonic() - start
        time.sleep(10)
        proc = open('/proc/%d/status' % daemon.pid).read()
        rss = int(re.search(r'VmRSS:\s+(\d+)', proc).group(1)) / 1024
        threads = int(re.search(r'Threads:\s+(\d+)', proc).group(1))
        print('orgs %d: every org streaming after %.1f s; idle RSS %.1f MB, %d threads'
              % (a.orgs, streaming, rss, threads))
    finally:
        daemon.terminate()
        daemon.wait()
        emu.terminate()
        emu.wait()


if __name__ == '__main__':
    main()
