"""A Python Pub/Sub client against sfemu, the way Salesforce's Python
examples use the API: TLS, auth metadata, GetTopic/GetSchema, Avro with the
avro package, Publish, Subscribe with flow control, change event bitmaps,
and a resumed stream with CUSTOM from the last replay id."""
import io
import json
import os
import sys
import threading
import urllib.parse
import urllib.request

import avro.io
import avro.schema
import grpc

import pubsub_api_pb2 as pb2
import pubsub_api_pb2_grpc as pb2_grpc

URL = os.environ["SFEMU_URL"]
ADMIN = os.environ["SFEMU_ADMIN_URL"]
ORG_ID = "00D000000000001AAA"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def post(url, data, form=False):
    body = urllib.parse.urlencode(data).encode() if form else json.dumps(data).encode()
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    req = urllib.request.Request(url, data=body, headers={"Content-Type": kind})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def admin_publish(channel, events):
    return post(ADMIN + "/admin/orgs/default/events", {"channel": channel, "events": events})["replay_ids"]


token = post(URL + "/services/oauth2/token", {
    "grant_type": "password", "client_id": "sfemu-client", "client_secret": "sfemu-secret",
    "username": "user@example.com", "password": "password"}, form=True)
metadata = (("accesstoken", token["access_token"]), ("instanceurl", token["instance_url"]),
            ("tenantid", ORG_ID))

with open(os.environ["SFEMU_PUBSUB_CA"], "rb") as f:
    creds = grpc.ssl_channel_credentials(root_certificates=f.read())
port = os.environ["SFEMU_PUBSUB"].rsplit(":", 1)[1]
channel = grpc.secure_channel("localhost:" + port, creds)
stub = pb2_grpc.PubSubStub(channel)

schemas = {}


def schema(schema_id):
    if schema_id not in schemas:
        info = stub.GetSchema(pb2.SchemaRequest(schema_id=schema_id), metadata=metadata)
        schemas[schema_id] = avro.schema.parse(info.schema_json)
    return schemas[schema_id]


def decode(event):
    s = schema(event.event.schema_id)
    return avro.io.DatumReader(s).read(avro.io.BinaryDecoder(io.BytesIO(event.event.payload)))


def encode(s, record):
    buf = io.BytesIO()
    avro.io.DatumWriter(s).write(record, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def bitmap_names(s, bitmaps):
    """Salesforce's documented expansion: hex -> bits, bit i = field i;
    'p-0x..' names the children of the compound field at position p."""
    names = []
    for b in bitmaps:
        if b.startswith("0x"):
            bits = bin(int(b, 16))[2:][::-1]
            names += [s.fields[i].name for i, c in enumerate(bits) if c == "1"]
        else:
            pos, hexa = b.split("-", 1)
            parent = s.fields[int(pos)]
            child = [t for t in parent.type.schemas if t.type == "record"][0]
            bits = bin(int(hexa, 16))[2:][::-1]
            names += [parent.name + "." + child.fields[i].name for i, c in enumerate(bits) if c == "1"]
    return names


class Subscription:
    """A Subscribe stream fed from a queue of FetchRequests, as the
    Salesforce examples do; counts credit to check flow control."""

    def __init__(self, topic, preset, replay_id=b"", batch=3):
        self.batch = batch
        self.outstanding = 0
        self.exceeded = False
        self.cond = threading.Condition()
        self.requests = [pb2.FetchRequest(topic_name=topic, replay_preset=preset, replay_id=replay_id,
                                          num_requested=batch)]
        self.outstanding = batch
        self.closed = False
        self.call = stub.Subscribe(self._requests(), metadata=metadata)

    def _requests(self):
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.requests or self.closed)
                if self.closed:
                    return
                req = self.requests.pop(0)
            yield req

    def receive(self, n):
        got = []
        for resp in self.call:
            with self.cond:
                self.outstanding -= len(resp.events)
                if self.outstanding < 0 or resp.pending_num_requested != self.outstanding:
                    self.exceeded = True
                got += list(resp.events)
                if self.outstanding == 0 and len(got) < n:
                    self.requests.append(pb2.FetchRequest(num_requested=self.batch))
                    self.outstanding = self.batch
                    self.cond.notify_all()
            if len(got) >= n:
                break
        return got

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.call.cancel()


# Platform events: publish through Pub/Sub, read back decoded.
admin_publish("/event/Demo__e", [{"Text__c": "seed", "Amount__c": 1.5}])
topic = stub.GetTopic(pb2.TopicRequest(topic_name="/event/Demo__e"), metadata=metadata)
check(topic.can_publish and len(topic.schema_id) == 22, "GetTopic: can publish, 22-character schema id")
s = schema(topic.schema_id)
check(s.namespace == "com.sforce.eventbus" and s.name == "Demo__e", "schema is com.sforce.eventbus.Demo__e")
events = [pb2.ProducerEvent(id="py-%d" % i, schema_id=topic.schema_id, payload=encode(s, {
    "CreatedDate": 1700000000000 + i, "CreatedById": "005000000000001AAA",
    "Text__c": "python %d" % i, "Amount__c": float(i)})) for i in range(7)]
resp = stub.Publish(pb2.PublishRequest(topic_name="/event/Demo__e", events=events), metadata=metadata)
check(len(resp.results) == 7 and all(not r.HasField("error") for r in resp.results), "Publish: 7 results, no errors")
check([r.correlation_key for r in resp.results] == ["py-%d" % i for i in range(7)], "correlation keys echo ids")

sub = Subscription("/event/Demo__e", pb2.EARLIEST, batch=3)
got = sub.receive(8)
check(len(got) == 8, "Subscribe EARLIEST: the seed and the 7 published events")
records = [decode(e) for e in got]
check(records[0]["Text__c"] == "seed", "the admin-published event decodes")
check([r["Text__c"] for r in records[1:]] == ["python %d" % i for i in range(7)], "published events decode in order")
check(records[3]["CreatedDate"] == 1700000000002, "CreatedDate is epoch milliseconds")
check([e.replay_id for e in got[1:]] == [r.replay_id for r in resp.results], "replay ids match Publish's")
check(not sub.exceeded, "flow control: never more than requested, pending_num_requested exact")
last = got[4].replay_id
sub.close()

# A stream cut mid-way resumes with CUSTOM from its last id: nothing lost or repeated.
sub = Subscription("/event/Demo__e", pb2.CUSTOM, replay_id=last, batch=2)
rest = sub.receive(3)
check([e.replay_id for e in rest] == [e.replay_id for e in got[5:]], "CUSTOM resumes right after the last id")
check(not sub.exceeded, "flow control on the resumed stream")
sub.close()

# Change events: bitmaps expand to the right field names.
admin_publish("/data/AccountChangeEvent", [
    {"ChangeEventHeader": {"changeType": "CREATE", "changedFields": ["Name", "Industry"]},
     "Name": "Acme", "Industry": "Energy", "BillingAddress": {"City": "Paris", "Street": "1 rue"}},
    {"ChangeEventHeader": {"changeType": "UPDATE", "changedFields": ["BillingAddress.Street", "Phone"],
                           "nulledFields": ["Industry"]},
     "Phone": "555", "BillingAddress": {"Street": "2 rue"}}])
sub = Subscription("/data/AccountChangeEvent", pb2.EARLIEST, batch=5)
cdc = sub.receive(2)
sub.close()
first, second = decode(cdc[0]), decode(cdc[1])
s1, s2 = schema(cdc[0].event.schema_id), schema(cdc[1].event.schema_id)
check(first["ChangeEventHeader"]["changeType"] == "CREATE", "changeType enum decodes")
check(bitmap_names(s1, first["ChangeEventHeader"]["changedFields"]) == ["Name", "Industry"],
      "changedFields bitmap expands to Name, Industry")
check(sorted(bitmap_names(s2, second["ChangeEventHeader"]["changedFields"])) == ["BillingAddress.Street", "Phone"],
      "changedFields bitmap expands to Phone and the compound BillingAddress.Street")
check(bitmap_names(s2, second["ChangeEventHeader"]["nulledFields"]) == ["Industry"], "nulledFields expands to Industry")
check(second["Name"] is None and second["BillingAddress"]["City"] is None, "unchanged fields are null")

# Auth failures carry Salesforce's error-code trailer.
try:
    stub.GetTopic(pb2.TopicRequest(topic_name="/event/Demo__e"),
                  metadata=(("accesstoken", "bogus"), ("instanceurl", URL), ("tenantid", ORG_ID)))
    check(False, "a bogus token is refused")
except grpc.RpcError as e:
    codes = dict(e.trailing_metadata() or ())
    check(e.code() == grpc.StatusCode.UNAUTHENTICATED and
          codes.get("error-code") == "sfdc.platform.eventbus.grpc.service.auth.error",
          "a bogus token: UNAUTHENTICATED with the auth error-code trailer")

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
