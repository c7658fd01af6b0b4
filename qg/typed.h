// qg/typed.h
// -----------------------------------------------------------------------------
//
// Protobuf-typed job payloads: a message becomes a `NewJob` whose type is the
// message's full name and whose args are its protobuf JSON, readable by Ruby
// and Go workers. Handlers get the message back through
// `WorkMap::Register<T>()` (qg/worker/work_map.h), which reads the args with
// `ArgsToMessage()`.
//
// A payload is stored exactly or refused: `NewTypedJob()` fails rather than
// store JSON that reads back as another message, and a handler gets exactly
// what was stored or its job fails (and is retried) with a message saying
// why.
//
// Example:
//   example::SendEmail email;
//   email.set_to("ada@example.com");
//   QG_ASSIGN_OR_RETURN(qg::NewJob job, qg::NewTypedJob(email));
//   // job.type: "example.SendEmail"
//   // job.args: {"to":"ada@example.com"}
//   QG_ASSIGN_OR_RETURN(int64_t id, client->Enqueue(job));
#ifndef QG_TYPED_H_
#define QG_TYPED_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "qg/job.h"

namespace qg {

// NewTypedJob()
//
// `base` with `args` set to `message`'s protobuf JSON (`MessageToArgs()`)
// and, when `base.type` is empty, `type` set to the message's full name.
// `InvalidArgument` when the JSON would not carry the message exactly (see
// `MessageToArgs()`).
absl::StatusOr<NewJob> NewTypedJob(const google::protobuf::Message& message,
                                   NewJob base = {});

// MessageToArgs()
//
// The protobuf JSON of `message` (field names in lowerCamelCase), checked to
// read back through `ArgsToMessage()` as the same message. `InvalidArgument`,
// naming the field where there is one, for:
//   - a string that is not valid UTF-8, wherever it is (nested and repeated
//     fields, map keys and values, oneofs, inside `Any`, `Struct` and the
//     wrappers): protobuf's printer would drop the bad bytes. Use a `bytes`
//     field for binary data.
//   - unknown fields (kept from parsing a newer schema's binary) and
//     extensions, which protobuf JSON does not carry;
//   - a proto2 message missing required fields;
//   - any other value whose JSON reads back differently, such as a
//     `google.protobuf.Value` holding NaN or an infinity (printed as the
//     strings "NaN", "Infinity") or a `FieldMask` path not in snake_case;
//   - what protobuf cannot print at all (a `Timestamp` out of range, an
//     `Any` of a type it does not know).
// Example:
//   "field labels[\"k\"]: not valid UTF-8 at byte 4 of 12 (...)"
absl::StatusOr<std::string> MessageToArgs(
    const google::protobuf::Message& message);

// ArgsToMessage()
//
// Reads job args (protobuf JSON, RFC 8259) into `message`, as a handler
// registered with `WorkMap::Register<T>()` gets them (`ParseTypedArgs()` in
// qg/worker/work_map.h is this function). For rolling deploys, where a
// producer may be newer than some workers:
//   - unknown fields are ignored: a newer producer may add fields;
//   - an enum value given by a name this binary does not know (or by a number
//     in a string that is not one of its values) fails with
//     `InvalidArgument`, naming the field and the value; protobuf would drop
//     it silently, leaving the field unset or a list shorter, and the handler
//     would run with another payload. The job fails and is retried with
//     backoff, so it runs once a worker that knows the value takes it;
//   - an enum number it does not know is kept in an open (proto3) enum field,
//     as protobuf does, and fails the parse for a closed (proto2) enum, whose
//     field protobuf would leave unset.
// Other args that do not parse are `InvalidArgument` with protobuf's
// complaint. Every message starts "args do not parse as <full name>: ", e.g.
//   args do not parse as shop.Order: field colors[1]: unknown value "BLUE"
//   of enum shop.Color (...)
absl::Status ArgsToMessage(absl::string_view args,
                           google::protobuf::Message& message);

// SetOutput()
//
// Sets `job`'s output (`Job::SetOutput()`, kept in its history record) to
// `message` as protobuf JSON, checked as `MessageToArgs()` checks args;
// `InvalidArgument` naming what is wrong (the output is then unchanged).
absl::Status SetOutput(Job& job, const google::protobuf::Message& message);

}  // namespace qg

#endif  // QG_TYPED_H_
