// jsforce's streaming API (Faye underneath) against sfemu, given an access
// token and an instance URL, with jsforce's own Replay extension.
import { createRequire } from 'node:module';
import { token, scenario } from './common.mjs';

const require = createRequire(import.meta.url);
const jsforce = require('jsforce');
const { StreamingExtension } = require('jsforce/lib/api/streaming');

const auth = await token();
const conn = new jsforce.Connection({
  accessToken: auth.access_token,
  instanceUrl: auth.instance_url,
  version: '62.0',
});
let client;

await scenario('jsforce', {
  start(channel, replayFrom, onEvent, onHandshake) {
    const replay = new StreamingExtension.Replay(channel, replayFrom);
    const handshakes = {
      incoming(message, callback) {
        if (message.channel === '/meta/handshake' && message.successful) onHandshake();
        callback(message);
      },
    };
    client = conn.streaming.createClient([replay, handshakes]);
    client.subscribe(channel, (data) => onEvent(data.event.replayId));
  },
  async stop() {
    client.disconnect();
  },
});
process.exit(0);
