"""The soak's oracle: sfemu's published log against what is in Kafka (main
topics and dead letters) and the gap records on the control topic.

Rules (README, "The fault soak"):
- every published event is in its main topic or, as a dead letter, in the
  dead-letter topic, except the ranges gap records declare: for a record with
  stored_replay_id S appended at broker time T, the events after S up to the
  first event of the channel appended at or after T (all later ones when none
  came: the channel stopped);
- every dead letter is declared by a gap record (reason dead_letter);
- in each channel's topic, each record is either the next published event
  after the one before it (skipping only declared or dead-lettered events) or
  goes back (a new delivery run after a restart replays from the committed
  id); anything else is an order error;
- duplicates (records of an id already in the topic) stay within the bound:
  (crashes and restarts + 1) x (max_in_flight_events + max_events_per_response)
  per org."""

import base64
import binascii
import bisect
import json

from soak_world import (CONTROL_TOPIC, DEAD_LETTER_TOPIC, MAX_EVENTS_PER_RESPONSE,
                        MAX_IN_FLIGHT_EVENTS, PUBSUB_CHANNELS, org_id, topic_of, ORGS)

INF = float('inf')


def parse_gaps(records):
    gaps = []
    for r in records:
        try:
            g = json.loads(r.get('v', ''))
        except ValueError:
            continue
        if isinstance(g, dict) and g.get('type') == 'gap':
            g['_ts'] = r['ts']
            gaps.append(g)
    return gaps


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def pubsub_replay_id(text):
    """sfemu's Pub/Sub replay ids are 10 bytes, the numeric id big-endian
    first (emulator/pubsub/core.h); sfkafkad writes them as base64."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (TypeError, ValueError, binascii.Error):
        return None
    return int.from_bytes(raw[:8], 'big') if len(raw) >= 8 else None


def record_replay_id(h):
    """The numeric replay id of a record (or dead letter) by its headers."""
    if h.get('sf.transport') == 'pubsub':
        return pubsub_replay_id(h.get('sf.replay_id'))
    return _int(h.get('sf.replay_id'))


def gap_position(g, field):
    v = g.get(field)
    if isinstance(v, str):
        return pubsub_replay_id(v)
    return _int(v)


def check(published, follower, restarts):
    """published: org -> sfemu's published events; restarts: org -> the
    number of crashes and restarts it went through. Returns (report,
    failures)."""
    failures = []
    gaps = parse_gaps(follower.topic_records(CONTROL_TOPIC))
    dead = follower.topic_records(DEAD_LETTER_TOPIC)
    id_to_org = {org_id(o): o for o in ORGS}
    dl_by_key = {}
    for r in dead:
        h = r['h']
        org = h.get('sf.org') or id_to_org.get(h.get('sf.org_id'))
        dl_by_key.setdefault((org, h.get('sf.channel')), []).append(record_replay_id(h))
    gaps_by_key = {}
    for g in gaps:
        gaps_by_key.setdefault((g.get('org'), g.get('channel')), []).append(g)

    rep = {'published': 0, 'delivered': 0, 'records': 0, 'duplicates': 0, 'dead_letters': len(dead),
           'gap_records': len(gaps), 'excused': 0, 'lost': 0, 'order_errors': 0, 'runs': 0,
           'per_org_duplicates': {}, 'pubsub_published': 0, 'pubsub_delivered': 0}
    keys = set()
    for org, events in published.items():
        for e in events:
            keys.add((org, e['channel']))
    for key in sorted(keys | set(dl_by_key) | set(gaps_by_key)):
        org, channel = key
        if org is None or channel is None:
            failures.append('dead letter or gap record without org/channel: %r' % (key,))
            continue
        pub = sorted(e['replay_id'] for e in published.get(org, []) if e['channel'] == channel)
        pubset = set(pub)
        recs = follower.topic_records(topic_of(org, channel))
        ids = []
        for r in recs:
            rid = record_replay_id(r['h'])
            if r['h'].get('sf.channel') != channel or rid is None:
                failures.append('%s %s: record at offset %d has headers %r' % (org, channel, r['o'], r['h']))
                continue
            ids.append((rid, r['ts']))
        dl = [i for i in dl_by_key.get(key, []) if i is not None]
        excused = set()
        declared_dl = set()
        for g in gaps_by_key.get(key, []):
            if g.get('reason') == 'dead_letter':
                declared_dl.add(gap_position(g, 'replay_id'))
                continue
            lo = gap_position(g, 'stored_replay_id')
            lo = -INF if lo is None else lo
            after = [i for i, ts in ids if ts >= g['_ts'] and i > lo]
            hi = min(after) if after else INF
            excused.update(p for p in pub if lo < p < hi)
        delivered = {i for i, _ in ids} | set(dl)
        for i in sorted(set(dl) - declared_dl):
            failures.append('%s %s: dead letter %d without a gap record' % (org, channel, i))
        unknown = sorted(delivered - pubset)
        if unknown:
            failures.append('%s %s: %d records of events sfemu never published, e.g. %s'
                            % (org, channel, len(unknown), unknown[:5]))
        lost = [p for p in pub if p not in delivered and p not in excused]
        if lost:
            failures.append('%s %s: %d events lost (published, not in Kafka, no gap record): %s%s'
                            % (org, channel, len(lost), lost[:20], ' ...' if len(lost) > 20 else ''))
        # Order within delivery runs.
        skippable = excused | set(dl)
        prev = None
        runs = 1 if ids else 0
        for i, _ in ids:
            if i not in pubset:
                continue
            if prev is not None:
                a, b = bisect.bisect_left(pub, prev), bisect.bisect_left(pub, i)
                if b <= a:
                    runs += 1
                elif any(p not in skippable for p in pub[a + 1:b]):
                    rep['order_errors'] += 1
                    if rep['order_errors'] <= 10:
                        failures.append('%s %s: order: %d follows %d, skipping %s' % (
                            org, channel, i, prev, [p for p in pub[a + 1:b] if p not in skippable][:5]))
            prev = i
        dups = len(ids) - len({i for i, _ in ids}) + len(dl) - len(set(dl))
        if channel in PUBSUB_CHANNELS:
            rep['pubsub_published'] += len(pub)
            rep['pubsub_delivered'] += len(delivered & pubset)
        rep['published'] += len(pub)
        rep['records'] += len(ids)
        rep['delivered'] += len(delivered & pubset)
        rep['duplicates'] += dups
        rep['excused'] += len(excused - delivered)
        rep['lost'] += len(lost)
        rep['runs'] += runs
        rep['per_org_duplicates'][org] = rep['per_org_duplicates'].get(org, 0) + dups
    for org, dups in rep['per_org_duplicates'].items():
        bound = (restarts.get(org, 0) + 1) * (MAX_IN_FLIGHT_EVENTS + MAX_EVENTS_PER_RESPONSE)
        if dups > bound:
            failures.append('%s: %d duplicates, above the bound %d (%d crashes/restarts)'
                            % (org, dups, bound, restarts.get(org, 0)))
    return rep, failures
