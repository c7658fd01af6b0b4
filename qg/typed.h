// qg/typed.h
// -----------------------------------------------------------------------------
//
// Protobuf-typed job payloads: a message becomes a `NewJob` whose type is the
// message's full name and whose args are its protobuf JSON, readable by Ruby
// and Go workers. Handlers get the message back through
// `WorkMap::Register<T>()` (qg/worker/work_map.h).
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

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "qg/job.h"

namespace qg {

// NewTypedJob()
//
// `base` with `args` set to `message`'s protobuf JSON and, when `base.type` is
// empty, `type` set to the message's full name. `InvalidArgument` if the
// message cannot be printed as JSON.
absl::StatusOr<NewJob> NewTypedJob(const google::protobuf::Message& message,
                                   NewJob base = {});

// The protobuf JSON of `message` (field names in lowerCamelCase).
absl::StatusOr<std::string> MessageToArgs(
    const google::protobuf::Message& message);

}  // namespace qg

#endif  // QG_TYPED_H_
