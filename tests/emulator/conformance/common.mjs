// Helpers shared by the conformance clients: token, admin API, waiting.
import assert from 'node:assert/strict';

export const url = process.env.SFEMU_URL;
export const admin = process.env.SFEMU_ADMIN_URL;
export const org = 'default';
assert.ok(url && admin, 'SFEMU_URL and SFEMU_ADMIN_URL must be set');

export async function token() {
  const body = new URLSearchParams({
    grant_type: 'password',
    client_id: 'sfemu-client',
    client_secret: 'sfemu-secret',
    username: 'user@example.com',
    password: 'password',
  });
  const res = await fetch(`${url}/services/oauth2/token`, { method: 'POST', body });
  assert.equal(res.status, 200, 'token request');
  return res.json();
}

async function adminPost(path, json) {
  const res = await fetch(`${admin}/admin/orgs/${org}/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(json),
  });
  const text = await res.text();
  assert.ok(res.ok, `admin ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text);
}

export async function publish(channel, count, tag) {
  const events = [];
  for (let i = 0; i < count; ++i) events.push({ Name: `${tag}-${i}` });
  return (await adminPost('events', { channel, events })).replay_ids;
}

export const arm = (fault) => adminPost('faults', fault);

export async function clients() {
  const res = await fetch(`${admin}/admin/orgs/${org}/clients`);
  return (await res.json()).clients;
}

export async function waitFor(what, predicate, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The scenario every client must pass, driven through three callbacks:
// start(replayFrom, onEvent, onHandshake) and stop().
export async function scenario(name, client) {
  const channel = '/topic/Demo';
  const initial = await publish(channel, 5, `${name}-a`);
  const received = [];
  let handshakes = 0;
  // 1. Handshake and subscribe with a stored replay id: resume after it.
  await client.start(channel, initial[1], (replayId) => received.push(replayId), () => ++handshakes);
  await waitFor('replayed events', () => received.length >= 3);
  assert.deepEqual(received, initial.slice(2), 'events after the stored replay id, in order');

  // 2. New events arrive in order.
  const more = await publish(channel, 3, `${name}-b`);
  await waitFor('new events', () => received.length >= 6);
  assert.deepEqual(received, [...initial.slice(2), ...more]);

  // 3. Survive 403::Unknown client: handshake again, resubscribe from the
  //    last received replay id, lose and repeat nothing.
  const before = handshakes;
  await arm({ fault: 'unknown_client', match: 'connect', count: 1 });
  await waitFor('a second handshake', () => handshakes > before);
  await new Promise((r) => setTimeout(r, 300)); // let the resubscribe land
  const after = await publish(channel, 3, `${name}-c`);
  await waitFor('events after the new handshake', () => received.length >= 9);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(received, [...initial.slice(2), ...more, ...after], 'no loss, no duplicates');

  const all = await clients();
  assert.ok(all.some((c) => c.state === 'unknown_client_fault'), 'the first client was forgotten');
  assert.ok(all.some((c) => c.state === 'connected'), 'a new client is connected');
  await client.stop();
  console.log(`${name}: ok (${received.length} events, ${handshakes} handshakes)`);
}
