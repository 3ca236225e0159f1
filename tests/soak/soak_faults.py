"""The fault kinds of the soak. Each returns (what happened, when the fault
ended); the runner then measures the recovery from that moment."""

import signal
import time

from soak_procs import SoakError, now, wait_until
from soak_world import (BIG_CHANNEL, BIG_EVENT_BYTES, BIG_ORG, EXTRA_CHANNELS, FRESH_CHANNELS,
                        INITIAL_ORGS, ORGS)


class Faults:
    def __init__(self, soak):
        self.s = soak

    def run(self, kind, p):
        if kind.startswith('emu_'):
            return self.emu(kind[4:], p)
        return getattr(self, kind)(p)

    # ---- helpers -------------------------------------------------------
    def orgs(self):
        return sorted(self.s.world.orgs)

    def pick_org(self, p):
        o = self.orgs()
        return o[p['pick'] % len(o)]

    def restarted(self, orgs):
        for o in orgs:
            self.s.restarts[o] = self.s.restarts.get(o, 0) + 1

    def reload(self):
        self.s.write_config()
        self.s.daemon.signal(signal.SIGHUP)

    # ---- sfkafkad ------------------------------------------------------
    def kill(self, p):
        self.s.daemon.kill()
        time.sleep(p['down'])
        self.s.daemon.start()
        self.restarted(self.orgs())
        return 'SIGKILL, down %.2f s' % p['down'], now()

    def term(self, p):
        rc = self.s.daemon.terminate()
        if rc != 0:
            raise SoakError('sfkafkad exited %r on SIGTERM' % rc)
        self.s.daemon.start()
        self.restarted(self.orgs())
        return 'SIGTERM exit 0', now()

    def sigstop(self, p):
        self.s.daemon.signal(signal.SIGSTOP)
        time.sleep(p['secs'])
        self.s.daemon.signal(signal.SIGCONT)
        return 'SIGSTOP %.2f s' % p['secs'], now()

    def hup_channels(self, p):
        org = self.pick_org(p)
        ch = EXTRA_CHANNELS[(p['pick'] >> 8) % len(EXTRA_CHANNELS)]
        key = (org, ch)
        chans = self.s.world.channels[org]
        self.restarted([org])
        if ch in chans:
            self.s.quiesce([key])
            chans.discard(ch)
            self.reload()
            return 'SIGHUP: %s removed from %s' % (ch, org), now()
        chans.add(ch)
        self.reload()
        t = now()
        self.s.go_live([key])
        return 'SIGHUP: %s added to %s' % (ch, org), t

    def hup_secret(self, p):
        org = self.pick_org(p)
        self.s.world.creds[org] ^= 1
        self.restarted([org])
        self.reload()
        return 'SIGHUP: %s credentials rotated to app %d' % (org, self.s.world.creds[org]), now()

    def hup_org(self, p):
        extra = [o for o in ORGS if o not in INITIAL_ORGS]
        org = extra[p['pick'] % len(extra)]
        self.restarted([org])
        keys = [(org, c) for c in sorted(self.s.world.channels[org])]
        if org in self.s.world.orgs:
            self.s.quiesce(keys)
            self.s.world.orgs.discard(org)
            self.reload()
            return 'SIGHUP: org %s removed' % org, now()
        self.s.world.orgs.add(org)
        self.reload()
        t = now()
        self.s.go_live(keys)
        return 'SIGHUP: org %s added' % org, t

    def fresh_latest(self, p):
        """A reload adds a channel with start: latest; sfkafkad is killed
        just after it subscribed, before anything of it is committed."""
        org = self.pick_org(p)
        chans = self.s.world.channels[org]
        fresh = [c for c in FRESH_CHANNELS if c not in chans]
        if not fresh:
            return self.kill(p)
        key = (org, fresh[0])
        chans.add(fresh[0])
        self.restarted([org])
        self.reload()
        self.s.go_live([key])
        time.sleep(p['after'])
        self.s.daemon.kill()
        time.sleep(p['down'])
        self.s.daemon.start()
        self.restarted(self.orgs())
        return ('%s added to %s (start: latest), SIGKILL %.2f s after it subscribed, down %.2f s'
                % (fresh[0], org, p['after'], p['down'])), now()

    # ---- sfemu ---------------------------------------------------------
    def emu(self, fault, p):
        org = self.pick_org(p)
        body = {'fault': fault, 'match': p['match'], 'count': p['count'], 'delay_ms': p['delay_ms'],
                'chunk_bytes': 512, 'interval_ms': 10}
        emu = self.s.emu
        emu.fault(org, body)
        # Faults on requests that a streaming session makes only after a
        # rejection need a push: a forgotten client, a revoked token.
        if p['match'] in ('handshake', 'subscribe'):
            emu.fault(org, {'fault': 'expire_clients'})
        elif p['match'] == 'token':
            emu.fault(org, {'fault': 'revoke_tokens'})
        fired = wait_until(lambda: self.s.check_daemon() or not emu.armed(org), 6, 0.1)
        if not fired:
            emu.fault(org, {'fault': 'clear'})
        return '%s on %s x%d at %s%s' % (fault, p['match'], p['count'], org,
                                          '' if fired else ' (not all used, cleared)'), now()

    # ---- sfemu's Pub/Sub server -------------------------------------------
    def pubsub(self, org, body):
        return self.s.emu.request('POST', self.s.emu.org_path(org, 'pubsub/faults'), body)

    def pubsub_reset(self, p):
        org = self.pick_org(p)
        self.pubsub(org, {'fault': 'reset_stream', 'after_events': p['after'], 'count': p['count']})
        return 'Pub/Sub streams of %s reset after %d events x%d' % (org, p['after'], p['count']), now()

    def pubsub_fail(self, p):
        org = self.pick_org(p)
        self.pubsub(org, {'fault': 'fail_subscribe', 'status': p['status'], 'count': p['count']})
        # Only a new subscribe meets it: end the current streams.
        self.pubsub(org, {'fault': 'reset_stream', 'after_events': 0, 'count': 1})
        return 'Pub/Sub subscribes of %s fail with %s x%d' % (org, p['status'], p['count']), now()

    def pubsub_stall(self, p):
        org = self.pick_org(p)
        self.pubsub(org, {'fault': 'stall_keepalives', 'ms': int(p['secs'] * 1000)})
        time.sleep(p['secs'])
        return 'Pub/Sub streams of %s silent %.2f s' % (org, p['secs']), now()

    def revoke_tokens(self, p):
        org = self.pick_org(p)
        self.s.emu.fault(org, {'fault': 'revoke_tokens'})
        return 'tokens of %s revoked' % org, now()

    def expire_clients(self, p):
        org = self.pick_org(p)
        self.s.emu.fault(org, {'fault': 'expire_clients'})
        return 'clients of %s expired' % org, now()

    def purge(self, p):
        """sfkafkad down, the channel's retained events purged up to the
        newest: its stored id is no longer valid when sfkafkad comes back."""
        live = sorted(k for k in self.s.publisher.live if k not in self.s.dead)
        if not live:
            return 'purge: no live channel', now()
        key = live[p['pick'] % len(live)]
        self.s.daemon.kill()
        time.sleep(p['down'])
        sent = self.s.publisher.sent.get(key, [])
        if not sent:
            self.s.daemon.start()
            return 'purge: nothing published on %s %s' % key, now()
        upto = sent[-1][1]
        self.s.emu.fault(key[0], {'fault': 'purge', 'channel': key[1], 'replay_id': upto})
        self.s.daemon.start()
        self.restarted(self.orgs())
        return 'SIGKILL, %s %s purged up to %d (policy %s)' % (
            key + (upto, self.s.world.cfg[key].policy)), now()

    def oversized(self, p):
        key = (BIG_ORG, BIG_CHANNEL)
        if key not in self.s.publisher.live:
            return 'oversized: channel not live', now()
        with self.s.publisher.lock:
            ids = self.s.publisher.publish(key, 1, BIG_EVENT_BYTES)
        return 'oversized event %s on %s %s' % (ids, BIG_ORG, BIG_CHANNEL), now()

    # ---- the broker ----------------------------------------------------
    def broker_restart(self, p):
        b = self.s.broker
        b.pause()
        time.sleep(p['down'])
        b.resume()
        self.restarted(self.orgs())
        return 'broker stopped %.2f s, started' % p['down'], now()

    def broker_freeze(self, p):
        self.s.broker.signal(signal.SIGSTOP)
        time.sleep(p['secs'])
        self.s.broker.signal(signal.SIGCONT)
        self.restarted(self.orgs())
        return 'broker SIGSTOP %.2f s' % p['secs'], now()

    def broker_slow_restart(self, p):
        """Stopped, then started but frozen for secs while starting."""
        b = self.s.broker
        old = b.pid()
        b.pause()
        b.resume_async()
        wait_until(lambda: b.pid() not in (None, old), 30, 0.05)
        b.signal(signal.SIGSTOP)
        time.sleep(p['secs'])
        b.signal(signal.SIGCONT)
        b.wait_resumed()
        self.restarted(self.orgs())
        return 'broker restarted, frozen %.2f s while starting' % p['secs'], now()
