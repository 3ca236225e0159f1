// The official CometD JavaScript client against sfemu, with the replay map
// added in an outgoing extension as Salesforce's samples do.
import { adapt } from 'cometd-nodejs-client';
import { CometD } from 'cometd';
import { token, url, scenario } from './common.mjs';

adapt();

const auth = await token();
const cometd = new CometD();

await scenario('cometd', {
  start(channel, replayFrom, onEvent, onHandshake) {
    let lastReplayId = replayFrom;
    cometd.configure({
      url: `${auth.instance_url}/cometd/62.0`,
      requestHeaders: { Authorization: `Bearer ${auth.access_token}` },
      appendMessageTypeToURL: false,
      logLevel: 'warn',
    });
    cometd.registerExtension('replay', {
      outgoing(message) {
        if (message.channel === '/meta/handshake') {
          message.ext = { ...(message.ext || {}), replay: true };
        } else if (message.channel === '/meta/subscribe') {
          message.ext = { ...(message.ext || {}), replay: { [channel]: lastReplayId } };
        }
        return message;
      },
    });
    cometd.addListener('/meta/handshake', (reply) => {
      if (!reply.successful) return;
      onHandshake();
      cometd.subscribe(channel, (message) => {
        lastReplayId = message.data.event.replayId;
        onEvent(lastReplayId);
      }, (sub) => {
        if (!sub.successful) console.error('subscribe failed', sub.error);
      });
    });
    cometd.handshake();
  },
  stop() {
    return new Promise((resolve) => cometd.disconnect(() => resolve()));
  },
});
if (!url) process.exit(1);
process.exit(0);
