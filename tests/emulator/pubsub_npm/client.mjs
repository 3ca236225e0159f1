// Salesforce's npm Pub/Sub client (salesforce-pubsub-api-client, pinned in
// package-lock.json) against sfemu over TLS, used as its README shows:
// user-supplied auth (a token from sfemu's OAuth endpoint), publish and
// publishBatch, subscribe with a requested count and requestAdditionalEvents
// (its flow control), change event bitmaps as the client expands them, and a
// stream reset resumed with subscribeFromReplayId (CUSTOM).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import grpc from '@grpc/grpc-js';
import PubSubApiClient from 'salesforce-pubsub-api-client';

const url = process.env.SFEMU_URL;
const admin = process.env.SFEMU_ADMIN_URL;
const port = process.env.SFEMU_PUBSUB.split(':').pop();
const ORG_ID = '00D000000000001AAA';
const failures = [];

// The client (5.5.2) hands grpc-js its bundled roots (certifi) as the only
// trusted CAs: NODE_EXTRA_CA_CERTS does not apply once roots are given, and
// its one TLS option is rejectUnauthorizedSsl. Rather than switch
// verification off, add sfemu's CA to the roots it passes (same grpc-js
// module instance as the client's).
const sfemuCa = fs.readFileSync(process.env.SFEMU_PUBSUB_CA);
const createSsl = grpc.credentials.createSsl;
grpc.credentials.createSsl = (roots, ...rest) =>
  createSsl(Buffer.concat([roots ?? Buffer.alloc(0), Buffer.from('\n'), sfemuCa]), ...rest);

function check(cond, what) {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`);
  if (!cond) failures.push(what);
}

async function post(target, body, form = false) {
  const res = await fetch(target, {
    method: 'POST',
    headers: { 'Content-Type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: form ? new URLSearchParams(body) : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `POST ${target}: HTTP ${res.status}`);
  return JSON.parse(text || '{}');
}

const adminPost = (path, body) => post(`${admin}/admin/orgs/default/${path}`, body);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, predicate, ms = 10000) {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// Debug and info are chatty (every event); warnings and errors go to stderr.
const logger = {
  debug() {}, info() {},
  warn: (...a) => console.error('client warn:', ...a),
  error: (...a) => console.error('client error:', ...a),
};

const token = await post(`${url}/services/oauth2/token`, {
  grant_type: 'password', client_id: 'sfemu-client', client_secret: 'sfemu-secret',
  username: 'user@example.com', password: 'password' }, true);

async function newClient() {
  // localhost is one of the server certificate's SANs.
  const client = new PubSubApiClient({
    authType: 'user-supplied',
    accessToken: token.access_token,
    instanceUrl: token.instance_url,
    organizationId: ORG_ID,
    pubSubEndpoint: `localhost:${port}`,
  }, logger);
  await client.connect();
  return client;
}

// One subscription's view through the client's callback: events, batch
// ends, errors, and whether the client ever counted more than it asked for.
function recorder() {
  const r = { events: [], lastEvents: 0, errors: [], ended: false, exceeded: false };
  r.callback = (info, type, data) => {
    if (type === 'event') {
      r.events.push(data);
      if (info.receivedEventCount > info.requestedEventCount) r.exceeded = true;
    } else if (type === 'lastEvent') {
      r.lastEvents++;
    } else if (type === 'error') {
      r.errors.push(data);
    } else if (type === 'end') {
      r.ended = true;
    }
  };
  return r;
}

const topic = '/event/Demo__e';
await adminPost('events', { channel: topic, events: [{ Text__c: 'seed', Amount__c: 1.5 }] });
const client = await newClient();

// publish (Publish RPC): the client fetches the topic's schema and encodes Avro.
const one = await client.publish(topic, {
  CreatedDate: 1700000000000, CreatedById: '005000000000001AAA',
  Text__c: { string: 'npm 0' }, Amount__c: { double: 0 } }, 'npm-0');
check(one.correlationKey === 'npm-0' && typeof one.replayId === 'number', 'publish: correlation key echoed, a replay id');

// publishBatch (PublishStream RPC).
let batchResults = null;
await client.publishBatch(topic, [1, 2, 3, 4, 5, 6].map((i) => ({ id: `npm-${i}`, payload: {
  CreatedDate: 1700000000000 + i, CreatedById: '005000000000001AAA',
  Text__c: { string: `npm ${i}` }, Amount__c: { double: i } } })), (info, type, data) => {
  if (type === 'publishResponse') batchResults = data.results;
});
await waitFor('the publishBatch response', () => batchResults);
check(batchResults.length === 6 && batchResults.every((r, i) => r.correlationKey === `npm-${i + 1}`),
  'publishBatch: 6 results, correlation keys echo ids');
const published = [one.replayId, ...batchResults.map((r) => r.replayId)];

// Flow control: batches of 3, the next requested only at lastEvent; nothing
// may arrive between a batch's last event and the next request.
const flow = recorder();
client.subscribeFromEarliestEvent(topic, flow.callback, 3);
let quietAfterBatch = true;
for (const [have, next] of [[3, 3], [6, 2]]) {
  await waitFor(`${have} events`, () => flow.events.length >= have);
  await sleep(300);
  if (flow.events.length !== have) quietAfterBatch = false;
  client.requestAdditionalEvents(topic, next);
}
await waitFor('8 events', () => flow.events.length >= 8);
await sleep(300);
check(flow.events.length === 8, 'Subscribe EARLIEST: the seed and the 7 published events, no more');
check(quietAfterBatch && !flow.exceeded && flow.lastEvents === 3,
  'flow control: no event beyond the requested count, lastEvent after each batch');
const texts = flow.events.map((e) => e.payload.Text__c);
check(texts[0] === 'seed' && texts.slice(1).join() === published.map((_, i) => `npm ${i}`).join(),
  'events decode (Avro by the client) in order');
check(flow.events[3].payload.CreatedDate === 1700000000002 && flow.events[2].payload.Amount__c === 1,
  'long and double fields decode');
check(flow.events.slice(1).map((e) => e.replayId).join() === published.join(), 'replay ids match publish results');
client.close();

// A stream reset mid-batch: resume with subscribeFromReplayId (CUSTOM, the
// client sends the 8 bytes it keeps) from the last event seen. The client
// looks each event's schema up asynchronously and drops events whose lookup
// ends after the stream's 'end' (it forgets the subscription there): publish
// first so that this client has the schema cached, as a long-running one would.
await adminPost('pubsub/faults', { fault: 'reset_stream', after_events: 4, count: 1 });
const reset = await newClient();
const extra = await reset.publish(topic, {
  CreatedDate: 1700000000007, CreatedById: '005000000000001AAA',
  Text__c: { string: 'npm 7' }, Amount__c: { double: 7 } });
const all = [...flow.events.map((e) => e.replayId), extra.replayId];
const cut = recorder();
reset.subscribeFromEarliestEvent(topic, cut.callback, 9);
await waitFor('the reset', () => cut.errors.length > 0 && cut.ended);
check(cut.events.length === 4 && cut.errors[0].code === 14, 'reset_stream: 4 events, then UNAVAILABLE');
const rest = recorder();
reset.subscribeFromReplayId(topic, rest.callback, 5, cut.events.at(-1).replayId);
await waitFor('the resumed events', () => rest.events.length >= 5);
await sleep(300);
const seen = [...cut.events, ...rest.events].map((e) => e.replayId);
check(seen.join() === all.join(), 'resumed with CUSTOM: every event exactly once, in order');
check(!rest.exceeded && rest.errors.length === 0 && rest.lastEvents === 1, 'resumed stream: within its credit, no error');
reset.close();

// Change events: the client expands the bitmaps to field names itself.
await adminPost('events', { channel: '/data/AccountChangeEvent', events: [
  { ChangeEventHeader: { changeType: 'CREATE', changedFields: ['Name', 'Industry'] },
    Name: 'Acme', Industry: 'Energy', BillingAddress: { City: 'Paris', Street: '1 rue' } },
  { ChangeEventHeader: { changeType: 'UPDATE', changedFields: ['BillingAddress.Street', 'Phone'],
    nulledFields: ['Industry'] }, Phone: '555', BillingAddress: { Street: '2 rue' } }] });
const cdcClient = await newClient();
const cdc = recorder();
cdcClient.subscribeFromEarliestEvent('/data/AccountChangeEvent', cdc.callback, 2);
await waitFor('2 change events', () => cdc.events.length >= 2);
const [create, update] = cdc.events.map((e) => e.payload);
check(create.ChangeEventHeader.changeType === 'CREATE' && create.Name === 'Acme', 'change event decodes');
check(create.ChangeEventHeader.changedFields.join() === 'Name,Industry', 'changedFields: Name, Industry');
check([...update.ChangeEventHeader.changedFields].sort().join() === 'BillingAddress.Street,Phone',
  'changedFields: Phone and the compound BillingAddress.Street');
check(update.ChangeEventHeader.nulledFields.join() === 'Industry', 'nulledFields: Industry');
check(update.Name === null, 'unchanged fields are null');
cdcClient.close();

console.log(`${failures.length} failure(s)`);
process.exit(failures.length ? 1 : 0);
