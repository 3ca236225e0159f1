#!/usr/bin/env python3
"""Randomized fault soak (issue 12): sfemu, a real Kafka broker and sfkafkad
through a seeded schedule of faults, then the oracle (soak_oracle.py).

  soak.py --seed S --faults N [--sanitize] [--enable all|none|FEATURE,...] [--build DIR]

Usually run through scripts/soak. Exit 0: every check held; 1: a failure,
printed with the seed, the schedule up to it and the command that replays it."""

import argparse
import bisect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from soak_procs import Broker, Daemon, Follower, Publisher, Sfemu, SoakError, now, wait_until  # noqa: E402
from soak_world import (BIG_CHANNEL, BIG_EVENT_BYTES, BIG_ORG, BIG_TOPIC_MAX_BYTES, CONTROL_TOPIC,  # noqa: E402
                        DEAD_LETTER_TOPIC, FEATURES, ORGS, PUBSUB_CHANNELS, World, all_topics,
                        make_schedule, org_id, topic_of)
import random  # noqa: E402
import soak_faults  # noqa: E402
import soak_oracle  # noqa: E402

SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                   'ERROR: UndefinedBehaviorSanitizer')
RECOVERY_DEADLINE = 90.0         # seconds from a fault's end to every channel's next event
BROKER_RECOVERY_DEADLINE = 180.0


def percentile(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100.0 * (len(v) - 1))))]


class Soak:
    def __init__(self, args):
        self.args = args
        self.root = args.root
        self.build = args.build
        self.features = set(args.enable)
        self.seed = args.seed
        self.rng = random.Random('world-%d' % args.seed)
        self.world = World(self.rng, pubsub='pubsub' in self.features)
        self.schedule = make_schedule(args.seed, args.faults, self.features)
        self.work = tempfile.mkdtemp(prefix='sfkafka-soak-%d-' % args.seed)
        self.state_dir = os.path.join(self.work, 'state')
        self.config_path = os.path.join(self.work, 'sfkafkad.yaml')
        self.log_path = os.path.join(self.work, 'sfkafkad.log')
        self.done = []              # lines of the executed schedule
        self.recovery = {}          # kind -> [seconds]
        self.restarts = {}          # org -> crashes and restarts (duplicate bound)
        self.dead = set()           # channels a gap record declared stopped
        self.gap_rx = {}            # channel -> receive time of its last gap record
        self.arrivals = {}          # (org, channel, replay id) -> first receive time
        self.counts = {}            # kind -> faults run
        self.broker = self.emu = self.daemon = self.follower = self.publisher = None

    # ---- helpers -------------------------------------------------------
    def binary(self, rel):
        p = os.path.join(self.build, rel)
        if not os.path.exists(p):
            raise SoakError('%s not built (ninja -C %s %s)' % (p, self.build, rel))
        return p

    def note(self, text):
        line = '[%7.1fs] %s' % (now() - self.t0, text)
        self.done.append(line)
        if self.args.verbose:
            print(line, flush=True)

    def write_config(self):
        tmp = self.config_path + '.tmp'
        with open(tmp, 'w') as f:
            pubsub = ('localhost:%d' % self.emu.pubsub_port, self.emu.pubsub_ca) if self.emu.pubsub_ca else None
            f.write(self.world.daemon_yaml(self.broker.bootstrap, self.emu.url, self.state_dir, pubsub))
        os.replace(tmp, self.config_path)

    def check_daemon(self):
        rc = self.daemon.unexpected_exit()
        if rc is not None:
            raise SoakError('sfkafkad exited on its own with %d (log: %s)' % (rc, self.log_path))

    def on_record(self, r):
        h = r['h']
        if r['t'] == CONTROL_TOPIC:
            try:
                g = json.loads(r.get('v', ''))
            except ValueError:
                return
            if not isinstance(g, dict) or g.get('type') != 'gap' or g.get('reason') == 'dead_letter':
                return
            key = (g.get('org'), g.get('channel'))
            self.gap_rx[key] = r['rx']
            if g.get('resumed_from') is None:
                if key not in self.dead:
                    self.dead.add(key)
                    self.publisher.set_live(key, False)
            return
        rid = h.get('sf.replay_id')
        if rid is None:
            return
        org = self.org_by_id.get(h.get('sf.org_id'))
        k = (org, h.get('sf.channel'), soak_oracle.record_replay_id(h))
        self.arrivals.setdefault(k, r['rx'])

    def committed(self, key):
        try:
            with open(os.path.join(self.state_dir, 'replay-ids.json')) as f:
                ids = json.load(f)
            return (key[1] in ids.get('orgs', {}).get(key[0], {}) or
                    key[1] in ids.get('pubsub_orgs', {}).get(key[0], {}))
        except (OSError, ValueError):
            return False

    def subscribed(self, key):
        org, channel = key
        if channel in PUBSUB_CHANNELS:
            return True   # always from earliest (soak_world.py)
        for c in self.emu.clients(org)['clients']:
            if c['state'] == 'connected':
                for s in c['subscriptions']:
                    if s['channel'] == channel and s['active']:
                        return True
        return False

    def go_live(self, keys, timeout=120):
        """Waits for sfkafkad to subscribe keys at sfemu, then publishes on
        them; a latest channel must have committed once unless start: latest
        is durable (feature durable_latest)."""
        keys = [k for k in keys if k not in self.dead]
        for k in keys:
            if not wait_until(lambda: self.check_daemon() or self.subscribed(k), timeout, 0.2):
                raise SoakError('%s %s never subscribed' % k)
            self.publisher.set_live(k, True)
        if 'durable_latest' not in self.features:
            for k in keys:
                if self.world.cfg[k].start == 'latest':
                    if not wait_until(lambda: self.check_daemon() or self.committed(k), timeout, 0.2):
                        raise SoakError('%s %s: nothing committed within %d s' % (k + (timeout,)))

    def landed(self, key):
        # Events before a gap record may be the ones it declares lost (the
        # oracle checks exactly); what came after must all arrive.
        since = self.gap_rx.get(key, -1.0)
        return all((key[0], key[1], i) in self.arrivals
                   for t, i in self.publisher.sent.get(key, []) if t > since)

    def quiesce(self, keys, timeout=120):
        """Stops publishing on keys and waits until all they got is in Kafka."""
        for k in keys:
            self.publisher.set_live(k, False)
        for k in keys:
            if k in self.dead:
                continue
            if not wait_until(lambda: self.check_daemon() or self.landed(k), timeout, 0.2):
                raise SoakError('%s %s: published events did not reach Kafka within %d s'
                                % (k + (timeout,)))

    def wait_recovered(self, kind, t_end):
        """Time from t_end until an event published after t_end reached Kafka
        on every live channel."""
        deadline = BROKER_RECOVERY_DEADLINE if kind.startswith('broker') else RECOVERY_DEADLINE
        worst = {}
        while True:
            self.check_daemon()
            pending = []
            for key in sorted(self.publisher.live):
                if key in self.dead:
                    continue
                if key in worst:
                    continue
                sent = self.publisher.sent.get(key, [])
                j = bisect.bisect_left(sent, (t_end, -1))
                got = [self.arrivals[(key[0], key[1], i)] for _, i in sent[j:]
                       if (key[0], key[1], i) in self.arrivals]
                if got:
                    worst[key] = max(0.0, min(got) - t_end)
                else:
                    pending.append(key)
            if not pending:
                r = max(worst.values()) if worst else 0.0
                self.recovery.setdefault(kind, []).append(r)
                return r
            if now() - t_end > deadline:
                raise SoakError('no recovery within %d s after %s: no new event in Kafka for %s'
                                % (deadline, kind, ', '.join('%s %s' % k for k in pending)))
            time.sleep(0.05)

    # ---- the run -------------------------------------------------------
    def setup(self):
        self.t0 = now()
        name = 'soak-%d-%d' % (self.seed, os.getpid())
        self.broker = Broker(self.root, name)
        self.broker.start()
        self.note('broker %s at %s' % (name, self.broker.bootstrap))
        tool = self.binary('tests/soak/soak_kafka')
        lat = ['--config', 'message.timestamp.type=LogAppendTime']
        topics = [t for t in all_topics() if t != topic_of(BIG_ORG, BIG_CHANNEL)]
        for args in ([','.join(topics + [CONTROL_TOPIC, DEAD_LETTER_TOPIC])] + lat,
                     [topic_of(BIG_ORG, BIG_CHANNEL)] + lat +
                     ['--config', 'max.message.bytes=%d' % BIG_TOPIC_MAX_BYTES]):
            p = subprocess.run([tool, 'create', '--brokers', self.broker.bootstrap, '--topic'] + args,
                               capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                raise SoakError('creating topics failed: ' + p.stderr)
        self.org_by_id = {org_id(o): o for o in ORGS}
        emu_cfg = os.path.join(self.work, 'sfemu.yaml')
        with open(emu_cfg, 'w') as f:
            f.write(self.world.emulator_yaml())
        self.emu = Sfemu(self.binary('emulator/sfemu'), emu_cfg, os.path.join(self.work, 'sfemu.log'))
        self.publisher = Publisher(self.emu, self.seed)
        self.follower = Follower(tool, self.broker.bootstrap,
                                 all_topics() + [CONTROL_TOPIC, DEAD_LETTER_TOPIC], [CONTROL_TOPIC],
                                 os.path.join(self.work, 'follower.log'))
        self.follower.listeners.append(self.on_record)
        # A backlog for the earliest channels, there before sfkafkad starts.
        for key in self.world.present():
            if self.world.cfg[key].start == 'earliest':
                self.publisher.publish(key, 5, 300)
        env = dict(os.environ)
        if self.args.sanitize:
            env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0')
            env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1')
        self.daemon = Daemon(self.binary('daemon/sfkafkad'), self.config_path, self.log_path, env)
        self.write_config()
        self.daemon.start()
        self.go_live(self.world.present())
        self.note('sfkafkad streaming %d channels of %d orgs' % (len(self.world.present()),
                                                                  len(self.world.orgs)))

    def run_schedule(self):
        faults = soak_faults.Faults(self)
        for i, kind, p in self.schedule:
            self.check_daemon()
            time.sleep(p['pause'])
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.current = '#%d %s %s' % (i, kind, json.dumps(p, sort_keys=True))
            what, t_end = faults.run(kind, p)
            r = self.wait_recovered(kind, t_end)
            self.note('#%d %s %s: %s; recovered in %.2f s' % (i, kind, json.dumps(p, sort_keys=True),
                                                               what, r))
        self.current = None

    def finish(self):
        self.current = 'final drain'
        for o in self.world.orgs:
            self.emu.fault(o, {'fault': 'clear'})
        self.publisher.stop()
        keys = sorted({(o, c) for (o, c) in self.publisher.sent})
        present = set(self.world.present())
        # Channels still configured must deliver everything they were given;
        # when they do not, the oracle below says exactly what is missing.
        early = []
        try:
            self.quiesce([k for k in keys if k in present], timeout=120)
        except SoakError as e:
            early.append('final drain: %s' % e)
        rc = self.daemon.terminate()
        if rc != 0:
            early.append('sfkafkad SIGTERM at the end: exit %r' % rc)
        time.sleep(1.0)   # the follower reads the last records
        published = {o: self.emu.published(o) for o in sorted({k[0] for k in keys})}
        rep, failures = soak_oracle.check(published, self.follower, self.restarts)
        return rep, early + failures

    def sanitizer_report(self):
        out = []
        try:
            with open(self.log_path, errors='replace') as f:
                for line in f:
                    if any(m in line for m in SANITIZER_MARKS):
                        out.append(line.rstrip())
        except OSError:
            pass
        return out

    def bad_exits(self):
        return [(how, rc) for how, rc in self.daemon.exits
                if (how == 'SIGKILL' and rc != -signal.SIGKILL) or (how != 'SIGKILL' and rc != 0)]

    def teardown(self):
        for x in (self.publisher, ):
            if x:
                x.stopping = True
        if self.daemon and self.daemon.alive():
            self.daemon.kill()
        for x in (self.follower, self.emu):
            if x:
                x.stop()
        if self.broker:
            self.broker.signal(signal.SIGCONT)
            self.broker.stop()

    def replay_command(self):
        cmd = 'scripts/soak --seed %d --faults %d' % (self.seed, self.args.faults)
        if sorted(self.args.enable) != sorted(FEATURES):
            cmd += ' --enable ' + (','.join(sorted(self.args.enable)) or 'none')
        if self.args.sanitize:
            cmd += ' --sanitize'
        return cmd

    def summary(self, rep, elapsed):
        all_r = [r for v in self.recovery.values() for r in v]
        lines = ['soak: seed %d, %d faults in %.0f s (%s)' % (self.seed, sum(self.counts.values()),
                                                             elapsed, self.replay_command()),
                 'faults by kind: ' + ', '.join('%s %d' % kv for kv in sorted(self.counts.items())),
                 'events published %d, delivered %d, lost %d, declared in gap records %d, '
                 'dead letters %d, gap records %d' % (rep['published'], rep['delivered'], rep['lost'],
                                                      rep['excused'], rep['dead_letters'],
                                                      rep['gap_records']),
                 'over Pub/Sub: published %d, delivered %d' % (rep['pubsub_published'], rep['pubsub_delivered']),
                 'duplicates %d (per org %s), delivery runs %d, order errors %d' % (
                     rep['duplicates'], rep['per_org_duplicates'], rep['runs'], rep['order_errors']),
                 'sfkafkad starts %d, exits %s' % (self.daemon.starts, self._exit_summary())]
        if all_r:
            lines.append('recovery s: p50 %.2f, p90 %.2f, p99 %.2f, max %.2f' % (
                percentile(all_r, 50), percentile(all_r, 90), percentile(all_r, 99), max(all_r)))
            for k in sorted(self.recovery):
                v = self.recovery[k]
                lines.append('  %-22s n=%-4d p50 %6.2f  p90 %6.2f  max %6.2f' % (
                    k, len(v), percentile(v, 50), percentile(v, 90), max(v)))
        return '\n'.join(lines)

    def _exit_summary(self):
        c = {}
        for how, rc in self.daemon.exits:
            c['%s->%s' % (how, rc)] = c.get('%s->%s' % (how, rc), 0) + 1
        return ', '.join('%s x%d' % kv for kv in sorted(c.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--faults', type=int, default=100)
    ap.add_argument('--sanitize', action='store_true', help='run the build-asan binaries')
    ap.add_argument('--enable', default='all',
                    help='comma-separated features (default all, "none" for none): ' + ', '.join(FEATURES))
    ap.add_argument('--build', default=None, help='build directory (default build or build-asan)')
    ap.add_argument('--keep', action='store_true', help='keep the work directory')
    ap.add_argument('-v', '--verbose', action='store_true', help='print each fault as it runs')
    args = ap.parse_args()
    args.root = os.environ.get('SFKAFKA_SOURCE_ROOT') or os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    if args.build is None:
        args.build = os.environ.get('SFKAFKA_BUILD_ROOT') or os.path.join(
            args.root, 'build-asan' if args.sanitize else 'build')
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(3), 'big')
    if args.enable == 'all':
        args.enable = sorted(FEATURES)
    elif args.enable == 'none':
        args.enable = []
    else:
        args.enable = [f for f in args.enable.split(',') if f]
    for f in args.enable:
        if f not in FEATURES:
            ap.error('unknown feature %s (known: %s)' % (f, ', '.join(FEATURES)))

    # A SIGTERM (meson's timeout) still stops the broker and the processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    soak = Soak(args)
    print('soak: seed %d, %d faults, features [%s], work %s' % (
        args.seed, args.faults, ','.join(args.enable), soak.work), flush=True)
    t0 = time.time()
    failures, rep = [], None
    try:
        soak.setup()
        soak.run_schedule()
        rep, failures = soak.finish()
    except SoakError as e:
        failures = ['during %s: %s' % (getattr(soak, 'current', None) or 'setup', e)]
    except Exception:
        failures = ['harness error during %s:\n%s' % (getattr(soak, 'current', None) or 'setup',
                                                    traceback.format_exc())]
    finally:
        soak.teardown()
    if soak.daemon:
        failures += ['sfkafkad exit: %s -> %r' % e for e in soak.bad_exits()]
        san = soak.sanitizer_report()
        if san:
            failures.append('sanitizer output in %s:\n  %s' % (soak.log_path, '\n  '.join(san[:20])))
    if rep:
        print(soak.summary(rep, time.time() - t0))
    if failures:
        print('\nSOAK FAILED, seed %d' % args.seed)
        for f in failures:
            print('  FAIL: ' + f)
        print('schedule up to the failure:')
        for line in soak.done:
            print('  ' + line)
        if getattr(soak, 'current', None):
            print('  (failed in) ' + soak.current)
        print('replay with: ' + soak.replay_command())
        print('work directory kept: %s (sfkafkad.log, sfemu.log)' % soak.work)
        return 1
    print('soak passed')
    if not args.keep:
        shutil.rmtree(soak.work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
