#!/usr/bin/env python3
"""Unit test of the soak's oracle (no network): what it accepts and what it
reports, on records made up here."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import soak_oracle  # noqa: E402
from soak_world import CONTROL_TOPIC, DEAD_LETTER_TOPIC, org_id, topic_of  # noqa: E402

ORG, CH = 'o1', '/topic/SoakA'


class FakeFollower:
    def __init__(self):
        self.topics = {}

    def add(self, topic, ts, headers=None, value=None):
        recs = self.topics.setdefault(topic, [])
        r = {'t': topic, 'o': len(recs), 'ts': ts, 'h': headers or {}}
        if value is not None:
            r['v'] = json.dumps(value)
        recs.append(r)

    def event(self, rid, ts):
        self.add(topic_of(ORG, CH), ts, {'sf.channel': CH, 'sf.replay_id': str(rid),
                                        'sf.org_id': org_id(ORG)})

    def gap(self, ts, stored, resumed, reason='invalid_replay_id', replay_id=None):
        self.add(CONTROL_TOPIC, ts, value={'type': 'gap', 'org': ORG, 'channel': CH, 'reason': reason,
                                           'policy': 'latest', 'stored_replay_id': stored,
                                           'resumed_from': resumed, 'replay_id': replay_id})

    def topic_records(self, topic):
        return list(self.topics.get(topic, []))


def published(ids):
    return {ORG: [{'channel': CH, 'replay_id': i} for i in ids]}


class OracleTest(unittest.TestCase):
    def check(self, f, ids, restarts=None):
        return soak_oracle.check(published(ids), f, restarts or {})

    def test_all_delivered_with_a_replay(self):
        f = FakeFollower()
        for i, rid in enumerate([1, 2, 3, 2, 3, 4]):
            f.event(rid, 100 + i)
        rep, fails = self.check(f, [1, 2, 3, 4])
        self.assertEqual(fails, [])
        self.assertEqual((rep['lost'], rep['duplicates'], rep['runs']), (0, 2, 2))

    def test_missing_event_is_lost_and_an_order_error(self):
        f = FakeFollower()
        for i, rid in enumerate([1, 2, 4]):
            f.event(rid, 100 + i)
        rep, fails = self.check(f, [1, 2, 3, 4])
        self.assertEqual((rep['lost'], rep['order_errors']), (1, 1))
        self.assertTrue(any('1 events lost' in x and '[3]' in x for x in fails), fails)

    def test_gap_record_declares_up_to_the_first_event_after_it(self):
        f = FakeFollower()
        f.event(1, 100)
        f.event(2, 101)
        f.gap(200, stored=2, resumed=-1)
        f.event(6, 201)
        f.event(7, 202)
        rep, fails = self.check(f, [1, 2, 3, 4, 5, 6, 7])
        self.assertEqual(fails, [])
        self.assertEqual((rep['lost'], rep['excused']), (0, 3))

    def test_events_after_the_first_delivered_are_not_declared(self):
        f = FakeFollower()
        f.event(1, 100)
        f.gap(200, stored=1, resumed=-1)
        f.event(3, 201)
        rep, fails = self.check(f, [1, 2, 3, 4])
        self.assertEqual(rep['lost'], 1)
        self.assertTrue(any('[4]' in x for x in fails), fails)

    def test_deliveries_before_the_gap_record_do_not_end_its_range(self):
        f = FakeFollower()
        f.event(1, 100)
        f.event(2, 101)   # delivered, not committed: the stored id is 1
        f.gap(200, stored=1, resumed=-1)
        f.event(5, 201)
        rep, fails = self.check(f, [1, 2, 3, 4, 5])
        self.assertEqual(fails, [])
        self.assertEqual(rep['lost'], 0)

    def test_stopped_channel_declares_everything_after(self):
        f = FakeFollower()
        f.event(1, 100)
        f.gap(200, stored=1, resumed=None, reason='channel_stopped')
        rep, fails = self.check(f, [1, 2, 3])
        self.assertEqual((fails, rep['excused']), ([], 2))

    def test_dead_letters_need_their_gap_record(self):
        f = FakeFollower()
        f.event(1, 100)
        f.event(3, 102)
        f.add(DEAD_LETTER_TOPIC, 101, {'sf.org': ORG, 'sf.channel': CH, 'sf.replay_id': '2'})
        _, fails = self.check(f, [1, 2, 3])
        self.assertTrue(any('dead letter 2 without a gap record' in x for x in fails), fails)
        f.gap(101, stored=1, resumed=None, reason='dead_letter', replay_id=2)
        rep, fails = self.check(f, [1, 2, 3])
        self.assertEqual((fails, rep['lost'], rep['order_errors']), ([], 0, 0))

    def test_unknown_records_and_the_duplicate_bound(self):
        f = FakeFollower()
        f.event(9, 100)
        _, fails = self.check(f, [1])
        self.assertTrue(any('never published' in x for x in fails), fails)
        f = FakeFollower()
        ids = list(range(1, 401))
        for i in ids + ids:
            f.event(i, 100)
        _, fails = self.check(f, ids)
        self.assertTrue(any('above the bound' in x for x in fails), fails)
        _, fails = self.check(f, ids, {ORG: 1})
        self.assertEqual(fails, [])


if __name__ == '__main__':
    unittest.main()
