#pragma once
// What one Pub/Sub ConsumerEvent becomes in Kafka (README: "The Pub/Sub
// API"): the value in the channel's value_format, and the key and header
// fields a CometD event of the same channel would have.
//
// - json: the Avro record as JSON (avro_json.h, JsonMode::Json).
// - cometd_compatible: the "data" object CometD delivers for the event,
//   {"schema":..,"payload":..,"event":{..}}, with the payload rendered as
//   CometD renders it; only event.replayId is absent (a Pub/Sub replay id
//   is opaque bytes, carried in the sf.replay_id header as base64).
// - avro: the payload bytes unchanged; sf.schema names the writer schema.
//
// Keys follow the channel's key policy; a JSON pointer is read as over
// CometD (/payload/Field), against the record.

#include <string>

#include <simdjson.h>

#include "config/config.h"
#include "decode/batch_decoder.h"
#include "pubsub_api.pb.h"
#include "pubsub/writer_schema.h"

namespace sfk::pubsub {

class EventValues {
public:
    // Fills `out` (views into `batch`'s storage or into `ev`, which must
    // outlive it) and returns true; or false with `error` (never payload
    // contents) for the dead-letter path.
    bool build(const config::Channel &channel, const WriterSchema &schema, const eventbus::v1::ConsumerEvent &ev,
               decode::Batch &batch, decode::Event &out, std::string &error);

private:
    // Header fields and the key from the record's JSON in json_.
    void readFields(const config::Channel &channel, decode::Batch &batch, decode::Event &out);

    std::string json_;    // the record as JSON, with simdjson's padding
    std::string value_;
    simdjson::ondemand::parser parser_;
};

} // namespace sfk::pubsub
