"""What the soak runs against: the orgs, their channels and the configs of
sfemu and sfkafkad, and the fault schedule a seed fixes."""

import random

# Every org of sfemu; o4 comes and goes with reloads.
ORGS = ['o1', 'o2', 'o3', 'o4']
INITIAL_ORGS = ['o1', 'o2', 'o3']
# The four families on every org, plus channels reloads add and remove.
BASE_CHANNELS = ['/topic/SoakA', '/event/SoakB__e', '/data/AccountChangeEvent', '/u/SoakD']
# Read over the Pub/Sub API (feature pubsub), always from earliest: sfemu
# lists no Pub/Sub subscriptions to wait for.
PUBSUB_CHANNELS = ['/event/SoakP__e', '/data/ContactChangeEvent']
PUBSUB_STALL_TIMEOUT_MS = 3000
PUBSUB_KEEPALIVE_MS = 1000
EXTRA_CHANNELS = ['/topic/SoakX', '/u/SoakY/sub']
# Channels a reload adds once each with start: latest, sfkafkad killed just
# after it subscribed (fault fresh_latest).
FRESH_CHANNELS = ['/event/Fresh%d__e' % i for i in range(1, 7)]
# Oversized events go to this channel of o1; its topic refuses records above
# BIG_TOPIC_MAX_BYTES, so they can only end up as dead letters.
BIG_ORG, BIG_CHANNEL = 'o1', '/event/SoakBig__e'
BIG_TOPIC_MAX_BYTES = 65536
BIG_EVENT_BYTES = 400000

CONTROL_TOPIC = 'sfkafka.control'
DEAD_LETTER_TOPIC = 'sfkafka.dead-letters'

MAX_IN_FLIGHT_EVENTS = 200
MAX_EVENTS_PER_RESPONSE = 100
CLIENT_TIMEOUT_MS = 3000

STARTS = ['latest', 'earliest']
POLICIES = ['fail', 'earliest', 'latest']


def org_id(org):
    return '00D0000000%05dAAA' % (ORGS.index(org) + 101)


def topic_of(org, channel):
    return 'soak.%s.%s' % (org, channel.strip('/').replace('/', '.'))


def all_channels(org):
    chans = BASE_CHANNELS + PUBSUB_CHANNELS + EXTRA_CHANNELS + FRESH_CHANNELS
    return chans + [BIG_CHANNEL] if org == BIG_ORG else chans


def all_topics():
    return [topic_of(o, c) for o in ORGS for c in all_channels(o)]


class ChannelCfg:
    def __init__(self, start, policy):
        self.start, self.policy = start, policy


class World:
    """The configuration state reloads change. Deterministic for a seed."""

    def __init__(self, rng, pubsub=False):
        combos = [(s, p) for s in STARTS for p in POLICIES]
        self.cfg = {}
        k = rng.randrange(len(combos))
        for org in ORGS:
            for ch in all_channels(org):
                s, p = combos[k % len(combos)]
                k += 1
                if ch in FRESH_CHANNELS:
                    s = 'latest'
                if ch in PUBSUB_CHANNELS:
                    s = 'earliest'
                self.cfg[(org, ch)] = ChannelCfg(s, p)
        self.orgs = set(INITIAL_ORGS)
        base = BASE_CHANNELS + (PUBSUB_CHANNELS if pubsub else [])
        self.channels = {o: set(base) | ({BIG_CHANNEL} if o == BIG_ORG else set())
                         for o in ORGS}
        self.creds = {o: 0 for o in ORGS}

    def present(self):
        """(org, channel) pairs sfkafkad is configured for."""
        return sorted((o, c) for o in self.orgs for c in self.channels[o])

    def emulator_yaml(self):
        y = ['version: 1', 'connect_hold_ms: 500', 'client_timeout_ms: %d' % CLIENT_TIMEOUT_MS,
             'max_events_per_response: %d' % MAX_EVENTS_PER_RESPONSE, 'orgs:']
        for o in ORGS:
            y += ['  - name: %s' % o, '    org_id: %s' % org_id(o),
                  '    users: [{username: user@%s.example, password: pw-%s}]' % (o, o),
                  '    apps:',
                  '      - {client_id: app-%s, client_secret: secret-%s-0}' % (o, o),
                  '      - {client_id: app2-%s, client_secret: secret-%s-1}' % (o, o),
                  '    channels: [%s]' % ', '.join(all_channels(o))]
        return '\n'.join(y) + '\n'

    def daemon_yaml(self, brokers, login_url, state_dir, pubsub=None):
        """pubsub: (host:port, CA file) of sfemu's Pub/Sub server."""
        y = ['version: 1', 'kafka:', '  brokers: %s' % brokers,
             'state:', '  directory: %s' % state_dir, '  commit_interval_ms: 200',
             'http:', '  listen: ""', 'log:', '  level: info', 'orgs:']
        for o in sorted(self.orgs):
            app = 'app-%s' % o if self.creds[o] == 0 else 'app2-%s' % o
            y += ['  %s:' % o, '    login_url: %s' % login_url,
                  '    max_in_flight_events: %d' % MAX_IN_FLIGHT_EVENTS,
                  '    auth:', '      flow: password', '      client_id: %s' % app,
                  '      client_secret: secret-%s-%d' % (o, self.creds[o]),
                  '      username: user@%s.example' % o, '      password: pw-%s' % o]
            if pubsub:
                y += ['    pubsub:', '      endpoint: "%s"' % pubsub[0], '      ca_file: %s' % pubsub[1],
                      '      stall_timeout_ms: %d' % PUBSUB_STALL_TIMEOUT_MS]
            y += ['    channels:']
            for c in sorted(self.channels[o]):
                cc = self.cfg[(o, c)]
                y += ['      %s:' % c, '        topic: %s' % topic_of(o, c),
                      '        start: %s' % cc.start, '        on_invalid_replay: %s' % cc.policy]
                if c in PUBSUB_CHANNELS:
                    y += ['        transport: pubsub']
        return '\n'.join(y) + '\n'


# Fault kinds, their weight in a schedule, and the feature they need (None:
# works on what exists). Kinds whose feature is off are left out of the
# schedule (scripts/soak --enable FEATURE adds them).
EMU_KINDS = ['http_500', 'http_503', 'unknown_client', 'auth_invalid', 'reset',
             'malformed_json', 'trailing_garbage', 'slow_body', 'delay']
KINDS = {
    'kill': (8, None), 'term': (5, None), 'sigstop': (6, None),
    'hup_channels': (5, None), 'hup_secret': (3, None), 'hup_org': (3, None),
    'revoke_tokens': (4, None), 'expire_clients': (4, None),
    'broker_restart': (1, None), 'broker_freeze': (2, None), 'broker_slow_restart': (0.6, None),
    'purge': (5, 'gaps'), 'oversized': (4, 'dead_letters'), 'fresh_latest': (3, 'durable_latest'),
    # sfemu fault kinds of the issue-11 work (emulator/faults.h there).
    'emu_events_on_reply': (4, 'subscribe_events'), 'emu_rewind': (3, 'rewind'),
    'emu_server_disconnect': (3, 'server_disconnect'),
    # sfemu's Pub/Sub faults (README, sfemu's Pub/Sub API): a stream ended
    # mid-batch, a stream refused, a silent stream the watchdog must catch.
    'pubsub_reset': (4, 'pubsub'), 'pubsub_fail': (3, 'pubsub'), 'pubsub_stall': (2, 'pubsub'),
}
for _k in EMU_KINDS:
    KINDS['emu_' + _k] = (4, None)
# The match a kind only makes sense on.
FIXED_MATCH = {'emu_events_on_reply': 'subscribe', 'emu_rewind': 'connect',
               'emu_server_disconnect': 'connect'}

FEATURES = {
    'gaps': 'gap records on the control topic (issue 11 item 8): purges that invalidate stored ids',
    'dead_letters': 'dead letters (issue 11 item 7): oversized events',
    'subscribe_events': 'sfemu fault events_on_reply: events on /meta/subscribe replies (issue 11 item 3)',
    'rewind': 'sfemu fault rewind: replay ids going backwards mid-stream (issue 11 item 4)',
    'server_disconnect': 'sfemu fault server_disconnect: a pushed /meta/disconnect',
    'durable_latest': 'start: latest durable before the first commit (issue 11 item 1): '
                      'faults right after a latest channel subscribes',
    'pubsub': 'channels read over the Pub/Sub API (issue 14) and sfemu\'s Pub/Sub faults',
}


def make_schedule(seed, faults, features):
    """The list of faults (kind, parameters) that seed fixes."""
    rng = random.Random('schedule-%d' % seed)
    kinds = sorted(k for k, (w, f) in KINDS.items() if w > 0 and (f is None or f in features))
    weights = [KINDS[k][0] for k in kinds]
    steps = []
    for i in range(faults):
        kind = rng.choices(kinds, weights)[0]
        p = {'pick': rng.randrange(1 << 30), 'pause': round(rng.uniform(0.0, 0.4), 2)}
        if kind == 'kill':
            p['down'] = round(rng.uniform(0.0, 1.5), 2)
        elif kind == 'sigstop':
            p['secs'] = round(rng.choice([rng.uniform(0.2, 1.5), rng.uniform(3.5, 6.0)]), 2)
        elif kind == 'broker_restart':
            p['down'] = round(rng.uniform(0.0, 4.0), 2)
        elif kind == 'broker_freeze':
            p['secs'] = round(rng.uniform(1.0, 8.0), 2)
        elif kind == 'broker_slow_restart':
            p['secs'] = round(rng.uniform(3.0, 10.0), 2)
        elif kind == 'fresh_latest':
            p['after'] = round(rng.uniform(0.0, 0.3), 2)
            p['down'] = round(rng.uniform(0.3, 1.5), 2)
        elif kind == 'purge':
            p['down'] = round(rng.uniform(0.3, 1.0), 2)
        elif kind == 'pubsub_reset':
            p['after'] = rng.randrange(0, 150)
            p['count'] = rng.choice([1, 1, 2])
        elif kind == 'pubsub_fail':
            p['status'] = rng.choice(['UNAVAILABLE', 'INTERNAL', 'UNAUTHENTICATED'])
            p['count'] = rng.choice([1, 2])
        elif kind == 'pubsub_stall':
            p['secs'] = round(rng.uniform(4.0, 7.0), 2)
        elif kind.startswith('emu_'):
            p['match'] = rng.choice(['connect', 'connect', 'connect', 'subscribe', 'handshake',
                                     'token', 'any'])
            if kind == 'emu_unknown_client' and p['match'] == 'token':
                p['match'] = 'connect'
            p['match'] = FIXED_MATCH.get(kind, p['match'])
            p['count'] = rng.choice([1, 1, 2, 3])
            p['delay_ms'] = rng.randrange(200, 3000)
        steps.append((i + 1, kind, p))
    return steps
