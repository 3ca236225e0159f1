// Peer Pub/Sub pipeline for ./scripts/bench: salesforce-pubsub-api-client
// (gRPC over TLS, Avro decoded by avro-js) -> kafkajs.
//
//   node pubsub_peer.js SPEC.json      (NODE_PATH: the folder with node_modules)
//
// SPEC: {"login_url", "pubsub_endpoint": "host:port", "brokers", "replay": -2|-1,
//        "orgs": [{"client_id", "client_secret",
//                  "channels": {"/event/X__e": "topic", ...}}]}
//
// Written as the client's README shows: one client per org logging in with
// the OAuth client credentials flow, subscribeFromEarliestEvent (replay -2)
// or subscribe (-1: the latest) with no event count (the client then asks for 100 events at a time, the most a
// FetchRequest may ask for), each event's decoded payload serialised to JSON
// and sent with acks=all (idempotent, no compression), batched per tick
// rather than awaited per event, and nothing committed. The client's own
// info logging (a line per response) is silenced, which favours the peer.
//
// TLS: the client trusts only the CA bundle it ships (it passes it to
// grpc-js as the root certificates, so NODE_EXTRA_CA_CERTS is not read) and
// offers no option for another CA; sfemu's certificate is signed by its own
// CA, so the connection is made with rejectUnauthorizedSsl: false (still
// TLS, the certificate just not verified).
'use strict';
const fs = require('fs');
const PubSubApiClient = require('salesforce-pubsub-api-client').default;
const { kafkaSink } = require('./kafka_sink');

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

const quiet = {
  debug() {},
  info() {},
  warn: (...a) => console.error(...a),
  error: (...a) => console.error(...a),
};

function createdMs(payload) {
  const h = payload.ChangeEventHeader;
  const t = h ? h.commitTimestamp : payload.CreatedDate;
  return t === undefined || t === null ? undefined : String(t);
}

async function main() {
  const send = await kafkaSink(spec.brokers, 'bench-peer-pubsub');

  for (const org of spec.orgs) {
    const client = new PubSubApiClient({
      authType: 'oauth-client-credentials',
      loginUrl: spec.login_url,
      clientId: org.client_id,
      clientSecret: org.client_secret,
      pubSubEndpoint: spec.pubsub_endpoint,
      rejectUnauthorizedSsl: false,
    }, quiet);
    await client.connect();
    for (const [channel, topic] of Object.entries(org.channels)) {
      const from = spec.replay === -2 ? 'subscribeFromEarliestEvent' : 'subscribe';
      client[from](channel, (info, type, data) => {
        if (type === 'event') {
          send(topic, { value: JSON.stringify(data.payload), timestamp: createdMs(data.payload) });
        } else if (type === 'error' || type === 'end') {
          console.error(`${channel}: ${type}`, data || '');
          process.exit(1);
        }
      });
    }
  }
}

process.on('SIGTERM', () => process.exit(0));
main().catch((e) => { console.error(e); process.exit(1); });
