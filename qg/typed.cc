#include "qg/typed.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace qg {

absl::StatusOr<std::string> MessageToArgs(
    const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot print ", message.GetTypeName(),
                     " as JSON: ", std::string(status.message())));
  }
  return json;
}

absl::StatusOr<NewJob> NewTypedJob(const google::protobuf::Message& message,
                                   NewJob base) {
  absl::StatusOr<std::string> args = MessageToArgs(message);
  if (!args.ok()) return args.status();
  base.args = std::move(*args);
  if (base.type.empty()) base.type = message.GetDescriptor()->full_name();
  return base;
}

}  // namespace qg
