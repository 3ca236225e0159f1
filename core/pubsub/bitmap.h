#pragma once
// Salesforce's change event bitmaps (ChangeEventHeader changedFields,
// nulledFields, diffFields over Pub/Sub) back to field names.
//
// An element "0x..." is a hex bitmap over the event record's fields: bit i
// (counted from the last hex digit) is the field at position i of the writer
// schema, so "0x06" is fields 1 and 2 (position 0 is ChangeEventHeader). An
// element "P-0x..." is the same over the fields of the compound field at
// position P (a ["null", record] such as Name or an address); its names are
// "Parent.Child". An empty element or "0x" names no field. This is the
// convention sfemu's encoder writes (emulator/pubsub/bitmap.cpp, README
// "Pub/Sub API") and Salesforce's Pub/Sub documentation describes.

#include <string>
#include <string_view>
#include <vector>

#include "pubsub/writer_schema.h"

namespace sfk::pubsub {

// Appends the names one bitmap element stands for, in field order. False
// with `error` when the element is malformed or names a field the record
// does not have (the payload does not belong to this schema).
bool expandBitmap(const SchemaNode &record, std::string_view bitmap, std::vector<std::string> &names,
                  std::string &error);

} // namespace sfk::pubsub
