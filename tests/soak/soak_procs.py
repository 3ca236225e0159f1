"""The processes the soak drives: a Kafka broker (scripts/kafka), sfemu,
sfkafkad, a Kafka follower (soak_kafka follow) and the event publisher.

Standard library only, so the soak runs wherever the build runs."""

import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse

from soak_world import PUBSUB_KEEPALIVE_MS


class SoakError(Exception):
    """A failure of the system under test (not of the harness)."""


def now():
    return time.monotonic()


def wait_until(pred, timeout, step=0.05):
    """Polls pred until it returns a true value or timeout seconds pass."""
    deadline = now() + timeout
    while True:
        v = pred()
        if v:
            return v
        if now() > deadline:
            return v
        time.sleep(step)


class Broker:
    """A single-node broker of scripts/kafka, under a name of its own."""

    def __init__(self, root, name):
        self.script = os.path.join(root, 'scripts', 'kafka')
        self.name = name
        self.bootstrap = None
        run_root = os.environ.get('SFKAFKA_BROKER_ROOT') or os.path.join(
            os.environ.get('TMPDIR', '/tmp'), 'sfkafka-brokers')
        self.dir = os.path.join(run_root, name)
        self._resume = None

    def _run(self, cmd, check=True):
        p = subprocess.run([self.script, cmd, '--name', self.name], capture_output=True,
                           text=True, timeout=300)
        if check and p.returncode != 0:
            raise SoakError('scripts/kafka %s failed: %s' % (cmd, p.stderr.strip()[-2000:]))
        for line in p.stdout.splitlines():
            if line.startswith('BOOTSTRAP='):
                self.bootstrap = line.split('=', 1)[1]
        return p

    def start(self):
        self._run('start')
        return self.bootstrap

    def stop(self):
        self._run('stop', check=False)

    def pause(self):
        """Stops the broker process, keeping its data and ports."""
        self._run('pause')

    def resume(self):
        self._run('resume')

    def resume_async(self):
        self._resume = subprocess.Popen([self.script, 'resume', '--name', self.name],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait_resumed(self, timeout=300):
        try:
            _, err = self._resume.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._resume.kill()
            raise SoakError('broker did not come back within %d s' % timeout)
        if self._resume.returncode != 0:
            raise SoakError('scripts/kafka resume failed: %s' % err.strip()[-2000:])

    def pid(self):
        try:
            with open(os.path.join(self.dir, 'pid')) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def signal(self, sig):
        pid = self.pid()
        if pid:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


class Sfemu:
    def __init__(self, binary, config_path, log_path):
        self.log = open(log_path, 'ab')
        self.proc = subprocess.Popen([binary, '--config', config_path, '--log-level', 'warn',
                                      '--pubsub-keepalive-ms', str(PUBSUB_KEEPALIVE_MS)],
                                     stdout=subprocess.PIPE, stderr=self.log)
        self.url = self.admin = self.pubsub_ca = None
        self.pubsub_port = 0
        deadline = now() + 60
        while None in (self.url, self.admin, self.pubsub_ca) and now() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            name, _, value = line.strip().partition('=')
            if name == 'SFEMU_URL':
                self.url = value
            elif name == 'SFEMU_ADMIN_URL':
                self.admin = value
            elif name == 'SFEMU_PUBSUB':
                self.pubsub_port = int(value.rsplit(':', 1)[1])
            elif name == 'SFEMU_PUBSUB_CA':
                self.pubsub_ca = value
        if self.admin is None:
            raise SoakError('sfemu did not start (log: %s)' % log_path)
        u = urllib.parse.urlparse(self.admin)
        self.host, self.port = u.hostname, u.port
        self._local = threading.local()

    def _conn(self):
        c = getattr(self._local, 'conn', None)
        if c is None:
            c = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self._local.conn = c
        return c

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(3):
            c = self._conn()
            try:
                c.request(method, path, body=data, headers={'Content-Type': 'application/json'})
                r = c.getresponse()
                text = r.read()
                if r.status >= 300:
                    raise SoakError('sfemu admin %s %s: HTTP %d %s' % (method, path, r.status, text[:300]))
                return json.loads(text)
            except (OSError, http.client.HTTPException):
                c.close()
                self._local.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.2)

    def org_path(self, org, what):
        return '/admin/orgs/%s/%s' % (org, what)

    def generate(self, org, channel, count, payload_bytes, seed):
        r = self.request('POST', self.org_path(org, 'events'),
                         {'channel': channel,
                          'generate': {'count': count, 'payload_bytes': payload_bytes, 'seed': seed}})
        return r['replay_ids']

    def fault(self, org, body):
        return self.request('POST', self.org_path(org, 'faults'), body)

    def armed(self, org):
        return self.request('GET', self.org_path(org, 'faults'))['armed']

    def published(self, org):
        return self.request('GET', self.org_path(org, 'published'))['events']

    def clients(self, org):
        return self.request('GET', self.org_path(org, 'clients'))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Daemon:
    """sfkafkad; every start appends to one log. An exit nobody asked for is
    a crash the soak reports."""

    def __init__(self, binary, config_path, log_path, env=None):
        self.binary, self.config_path, self.log_path = binary, config_path, log_path
        self.env = env
        self.proc = None
        self.exits = []   # (how it was stopped, exit code)
        self.starts = 0

    def start(self):
        log = open(self.log_path, 'ab')
        log.write(('==== soak: start %d\n' % self.starts).encode())
        log.flush()
        self.proc = subprocess.Popen([self.binary, '--config', self.config_path,
                                      '--shutdown-timeout', '30'],
                                     stdout=log, stderr=log, env=self.env)
        log.close()
        self.starts += 1

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def unexpected_exit(self):
        if self.proc is not None and self.proc.poll() is not None:
            return self.proc.returncode
        return None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        self.proc.send_signal(signal.SIGCONT)
        self.proc.kill()
        self.proc.wait()
        self.exits.append(('SIGKILL', self.proc.returncode))

    def terminate(self, timeout=60):
        """SIGTERM; returns the exit code (None: had to be killed)."""
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.exits.append(('SIGTERM-timeout', None))
            return None
        self.exits.append(('SIGTERM', rc))
        return rc


class Follower:
    """Reads every soak topic from the beginning with soak_kafka follow and
    keeps each record once (by topic and offset)."""

    def __init__(self, binary, bootstrap, topics, value_topics, log_path):
        args = [binary, 'follow', '--brokers', bootstrap, '--topics', ','.join(topics)]
        for t in value_topics:
            args += ['--values', t]
        self.log = open(log_path, 'ab')
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        self.lock = threading.Lock()
        self.records = {t: {} for t in topics}   # topic -> offset -> record
        self.listeners = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            r['rx'] = now()
            with self.lock:
                byoff = self.records.setdefault(r['t'], {})
                if r['o'] in byoff:
                    continue
                byoff[r['o']] = r
                for f in self.listeners:
                    f(r)

    def topic_records(self, topic):
        with self.lock:
            return [self.records.get(topic, {})[o] for o in sorted(self.records.get(topic, {}))]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Publisher:
    """Publishes events continuously through sfemu's admin API: every tick,
    1-3 generated events on each live channel. Keeps (time, replay id) per
    channel for the recovery measurements."""

    def __init__(self, emu, rng_seed, tick=0.25, payload_bytes=300):
        self.emu = emu
        self.tick = tick
        self.payload_bytes = payload_bytes
        self.live = set()           # (org, channel)
        self.sent = {}              # (org, channel) -> [(time, replay id)]
        self.lock = threading.Lock()       # held during one tick
        self.counter = rng_seed * 1000003
        self.errors = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            t0 = now()
            with self.lock:
                for key in sorted(self.live):
                    self.counter += 1
                    count = 1 + self.counter % 3
                    self.publish(key, count, self.payload_bytes)
            time.sleep(max(0.0, self.tick - (now() - t0)))

    def publish(self, key, count, payload_bytes):
        org, channel = key
        try:
            ids = self.emu.generate(org, channel, count, payload_bytes, self.counter)
        except Exception:   # sfemu's published log stays the oracle's truth
            self.errors += 1
            return []
        t = now()
        lst = self.sent.setdefault(key, [])
        for i in ids:
            lst.append((t, i))
        return ids

    def set_live(self, key, live):
        # A new set each time: other threads iterate the old one unlocked.
        with self.lock:
            self.live = self.live | {key} if live else self.live - {key}

    def stop(self):
        self.stopping = True
        self.thread.join(10)
