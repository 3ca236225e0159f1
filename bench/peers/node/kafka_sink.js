// What both Node peers share: a kafkajs producer with acks=all (idempotent,
// no compression) to which records are added per topic and sent in one
// request per 5 ms tick (like linger), never awaited per record.
'use strict';
const { Kafka, logLevel } = require('kafkajs');

async function kafkaSink(brokers, clientId) {
  const kafka = new Kafka({ clientId, brokers: [brokers], logLevel: logLevel.ERROR });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let pending = new Map();
  let sending = Promise.resolve();
  setInterval(() => {
    if (pending.size === 0) return;
    const topicMessages = [...pending].map(([topic, messages]) => ({ topic, messages }));
    pending = new Map();
    sending = sending.then(() => producer.sendBatch({ topicMessages, acks: -1 }))
      .catch((e) => { console.error('send failed', e); process.exit(1); });
  }, 5);
  return (topic, message) => {
    let list = pending.get(topic);
    if (!list) pending.set(topic, (list = []));
    list.push(message);
  };
}

module.exports = { kafkaSink };
