// Peer pipeline for ./scripts/bench: jsforce streaming (Faye, with jsforce's
// Replay extension) -> kafkajs.
//
//   node peer.js SPEC.json      (NODE_PATH: the folder with node_modules)
//
// SPEC: {"login_url", "brokers", "replay": -2|-1,
//        "orgs": [{"client_id", "client_secret", "username", "password",
//                  "channels": {"/event/X__e": "topic", ...}}]}
//
// Written the way such a bridge is usually written: each message is
// serialised back to JSON and sent with acks=all (idempotent, no
// compression), batched per tick rather than awaited per message, and nothing
// is committed (both favour the peer). The record timestamp is the event's
// creation time, as sfkafkad sets it.
'use strict';
const fs = require('fs');
const jsforce = require('jsforce');
const { StreamingExtension } = require('jsforce/lib/api/streaming');
const { kafkaSink } = require('./kafka_sink');

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

function createdMs(data) {
  const p = data.payload || {};
  if (p.ChangeEventHeader && p.ChangeEventHeader.commitTimestamp) return String(p.ChangeEventHeader.commitTimestamp);
  const text = p.CreatedDate || (data.event && data.event.createdDate);
  return text ? String(Date.parse(text)) : undefined;
}

async function main() {
  const send = await kafkaSink(spec.brokers, 'bench-peer');

  for (const org of spec.orgs) {
    const conn = new jsforce.Connection({
      oauth2: { loginUrl: spec.login_url, clientId: org.client_id, clientSecret: org.client_secret },
      version: '62.0',
    });
    await conn.login(org.username, org.password);
    for (const [channel, topic] of Object.entries(org.channels)) {
      const replay = new StreamingExtension.Replay(channel, spec.replay);
      const client = conn.streaming.createClient([replay]);
      client.subscribe(channel, (data) => {
        send(topic, { value: JSON.stringify(data), timestamp: createdMs(data) });
      });
    }
  }
}

process.on('SIGTERM', () => process.exit(0));
main().catch((e) => { console.error(e); process.exit(1); });
