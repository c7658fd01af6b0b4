#include "qg/typed.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "qg/internal/sync.h"
#include "qg/internal/utf8.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace qg {

using internal::Mutex;
using internal::MutexLock;
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr char kAny[] = "google.protobuf.Any";

// The well-known types protobuf JSON writes in a form of their own (a string,
// a number, any JSON value), not as an object of their fields.
bool HasSpecialJson(const Descriptor* d) {
  static const auto* const kNames = new absl::flat_hash_set<std::string>{
      kAny,
      "google.protobuf.Struct",
      "google.protobuf.Value",
      "google.protobuf.ListValue",
      "google.protobuf.Timestamp",
      "google.protobuf.Duration",
      "google.protobuf.FieldMask",
      "google.protobuf.Empty",
      "google.protobuf.DoubleValue",
      "google.protobuf.FloatValue",
      "google.protobuf.Int64Value",
      "google.protobuf.UInt64Value",
      "google.protobuf.Int32Value",
      "google.protobuf.UInt32Value",
      "google.protobuf.BoolValue",
      "google.protobuf.StringValue",
      "google.protobuf.BytesValue",
  };
  return kNames->contains(d->full_name());
}

std::string FieldPath(absl::string_view parent, absl::string_view name) {
  return parent.empty() ? std::string(name) : absl::StrCat(parent, ".", name);
}

// ---------------------------------------------------------------------------
// Printing: what protobuf JSON cannot carry.

// Makes messages of the type an `Any` holds, generated or not.
class AnyFactory {
 public:
  std::unique_ptr<Message> New(const Descriptor* d) {
    const Message* prototype =
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
    if (prototype == nullptr) {
      if (dynamic_ == nullptr) {
        dynamic_ = std::make_unique<google::protobuf::DynamicMessageFactory>();
      }
      prototype = dynamic_->GetPrototype(d);
    }
    return prototype == nullptr ? nullptr
                                : std::unique_ptr<Message>(prototype->New());
  }

 private:
  std::unique_ptr<google::protobuf::DynamicMessageFactory> dynamic_;
};

absl::Status CheckPrintable(const Message& message, const std::string& path,
                            AnyFactory& factory);

absl::Status CheckString(const std::string& s, const std::string& path) {
  size_t bad = internal::FirstInvalidUtf8(s);
  if (bad == absl::string_view::npos) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "field ", path, ": not valid UTF-8 at byte ", bad, " of ", s.size(),
      " (protobuf JSON would drop the bad bytes; use a bytes field for "
      "binary data)"));
}

// A message field's value: an `Any` is checked as the message it holds.
absl::Status CheckMessageValue(const Message& m, const std::string& path,
                               AnyFactory& factory) {
  const Descriptor* d = m.GetDescriptor();
  if (d->full_name() != kAny) return CheckPrintable(m, path, factory);
  const Reflection* r = m.GetReflection();
  const FieldDescriptor* url = d->FindFieldByNumber(1);
  const FieldDescriptor* value = d->FindFieldByNumber(2);
  if (url == nullptr || value == nullptr) return absl::OkStatus();
  std::string type_url = r->GetString(m, url);
  absl::string_view name = type_url;
  if (size_t slash = name.rfind('/'); slash != absl::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  const Descriptor* held =
      d->file()->pool()->FindMessageTypeByName(std::string(name));
  // An unknown type or unreadable bytes: protobuf's printer refuses them.
  if (held == nullptr) return absl::OkStatus();
  std::unique_ptr<Message> inner = factory.New(held);
  if (inner == nullptr) return absl::OkStatus();
  std::string inner_path = absl::StrCat(path, "(", held->full_name(), ")");
  if (!inner->ParsePartialFromString(r->GetString(m, value))) {
    // Parsing checks UTF-8, so the invalid string cannot be pointed to.
    return absl::InvalidArgumentError(absl::StrCat(
        "field ", inner_path, ": not valid UTF-8 in a string, or not a ",
        held->full_name(),
        " at all: the packed bytes do not parse (use a bytes field for "
        "binary data)"));
  }
  if (!inner->IsInitialized()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field ", inner_path,
        ": required fields missing: ", inner->InitializationErrorString()));
  }
  return CheckPrintable(*inner, inner_path, factory);
}

// Element `index` of repeated field `f` of `m`, or its value when `index` is
// -1.
absl::Status CheckValue(const Message& m, const FieldDescriptor* f, int index,
                        const std::string& path, AnyFactory& factory) {
  const Reflection* r = m.GetReflection();
  if (f->type() == FieldDescriptor::TYPE_STRING) {
    std::string scratch;
    const std::string& s =
        index < 0 ? r->GetStringReference(m, f, &scratch)
                  : r->GetRepeatedStringReference(m, f, index, &scratch);
    return CheckString(s, path);
  }
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    return CheckMessageValue(
        index < 0 ? r->GetMessage(m, f) : r->GetRepeatedMessage(m, f, index),
        path, factory);
  }
  return absl::OkStatus();
}

// How a map key appears in a field path: `labels["k"]`, `by_id[7]`.
std::string MapKeyText(const Message& entry, const FieldDescriptor* key) {
  const Reflection* r = entry.GetReflection();
  switch (key->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return absl::StrCat("\"", absl::CHexEscape(r->GetString(entry, key)),
                          "\"");
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(r->GetInt32(entry, key));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(r->GetInt64(entry, key));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(r->GetUInt32(entry, key));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(r->GetUInt64(entry, key));
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(entry, key) ? "true" : "false";
    default:
      return "?";
  }
}

// The first thing in `message` (at `path`, "" for the top) that protobuf
// JSON would not carry exactly and that is not caught by reading it back:
// invalid UTF-8, unknown fields, extensions.
absl::Status CheckPrintable(const Message& message, const std::string& path,
                            AnyFactory& factory) {
  const Reflection* r = message.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown =
      r->GetUnknownFields(message);
  if (!unknown.empty()) {
    std::vector<int> numbers;
    for (int i = 0; i < unknown.field_count(); ++i) {
      int n = unknown.field(i).number();
      if (numbers.empty() || numbers.back() != n) numbers.push_back(n);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        path.empty() ? "" : absl::StrCat("field ", path, ": "),
        "unknown field(s) numbered ", absl::StrJoin(numbers, ", "),
        ", which protobuf JSON cannot carry (a message parsed from a newer "
        "schema's binary?)"));
  }
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->is_extension()) {
      return absl::InvalidArgumentError(
          absl::StrCat("extension ", f->full_name(), " is set",
                       path.empty() ? "" : absl::StrCat(" in field ", path),
                       ": protobuf JSON does not carry extensions"));
    }
    std::string fpath = FieldPath(path, f->name());
    if (f->is_map()) {
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      for (int i = 0; i < r->FieldSize(message, f); ++i) {
        const Message& entry = r->GetRepeatedMessage(message, f, i);
        if (key->type() == FieldDescriptor::TYPE_STRING) {
          const Reflection* er = entry.GetReflection();
          if (absl::Status s =
                  CheckString(er->GetString(entry, key), fpath + " (a key)");
              !s.ok()) {
            return s;
          }
        }
        if (absl::Status s = CheckValue(
                entry, value, -1,
                absl::StrCat(fpath, "[", MapKeyText(entry, key), "]"), factory);
            !s.ok()) {
          return s;
        }
      }
    } else if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(message, f); ++i) {
        if (absl::Status s = CheckValue(
                message, f, i, absl::StrCat(fpath, "[", i, "]"), factory);
            !s.ok()) {
          return s;
        }
      }
    } else if (absl::Status s = CheckValue(message, f, -1, fpath, factory);
               !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// `m` in protobuf's binary format, map entries in key order.
std::string Deterministic(const Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializePartialToCodedStream(&coded);
  }
  return out;
}

// The differences between `a` and `b` (NaN equal to NaN), empty when none.
std::string Differences(const Message& a, const Message& b) {
  // Usually the same bytes; the differencer, slower, also tells a NaN from
  // another NaN and a repacked Any from a changed one.
  if (Deterministic(a) == Deterministic(b)) return "";
  std::string report;
  {
    google::protobuf::util::DefaultFieldComparator comparator;
    comparator.set_treat_nan_as_equal(true);
    google::protobuf::util::MessageDifferencer differencer;
    differencer.set_field_comparator(&comparator);
    differencer.ReportDifferencesToString(&report);
    if (differencer.Compare(a, b)) return "";
  }  // the report is complete once the differencer is gone
  absl::StripTrailingAsciiWhitespace(&report);
  if (report.empty()) return "they differ";
  // At most 300 bytes, cut on a character boundary.
  return internal::StorableText(absl::StrReplaceAll(report, {{"\n", "; "}}),
                                300);
}

// ---------------------------------------------------------------------------
// Reading: enum values protobuf would drop.

// Whether a message of type `d` can hold an enum field whose JSON is walked
// below (not one inside a type with special JSON).
bool HasEnumFields(const Descriptor* d,
                   absl::flat_hash_set<const Descriptor*>& seen) {
  if (HasSpecialJson(d) || !seen.insert(d).second) return false;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) return true;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        HasEnumFields(f->message_type(), seen)) {
      return true;
    }
  }
  return false;
}

// `HasEnumFields()`, remembered for the generated message types (which live
// as long as the process).
bool MayHoldEnums(const Descriptor* d) {
  absl::flat_hash_set<const Descriptor*> seen;
  if (d->file()->pool() != google::protobuf::DescriptorPool::generated_pool()) {
    return HasEnumFields(d, seen);
  }
  static Mutex mu;
  static auto* const known = new absl::flat_hash_map<const Descriptor*, bool>;
  {
    MutexLock lock(mu);
    if (auto it = known->find(d); it != known->end()) return it->second;
  }
  bool has = HasEnumFields(d, seen);
  MutexLock lock(mu);
  known->emplace(d, has);
  return has;
}

// The field that protobuf's JSON parser reads JSON key `key` into: by its
// JSON name (lowerCamelCase or json_name) or its proto name.
const FieldDescriptor* FieldForKey(const Descriptor* d, absl::string_view key) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->json_name() == key || f->name() == key) return f;
  }
  return nullptr;
}

// A number written as protobuf reads one in an enum's string: optional sign,
// digits only.
bool EnumNumberInString(absl::string_view s, int32_t* n) {
  absl::string_view digits = s;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    digits.remove_prefix(1);
  }
  if (digits.empty()) return false;
  for (char c : digits) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return absl::SimpleAtoi(s, n);
}

std::string CheckEnumJson(const rapidjson::Value& v, const EnumDescriptor* e,
                          const std::string& path) {
  if (e->full_name() == "google.protobuf.NullValue") return "";
  if (v.IsString()) {
    std::string s(v.GetString(), v.GetStringLength());
    int32_t n = 0;
    if (e->FindValueByName(s) != nullptr ||
        (EnumNumberInString(s, &n) && e->FindValueByNumber(n) != nullptr)) {
      return "";
    }
    return absl::StrCat("field ", path, ": unknown value \"",
                        absl::CHexEscape(s), "\" of enum ", e->full_name());
  }
  if (!v.IsNumber()) return "";
  // Only integral numbers within int32 got this far: protobuf refuses others.
  double d = v.GetDouble();
  if (d != std::trunc(d) || d < std::numeric_limits<int32_t>::min() ||
      d > std::numeric_limits<int32_t>::max()) {
    return "";
  }
  int32_t n = static_cast<int32_t>(d);
  bool closed = e->file()->syntax() == FileDescriptor::SYNTAX_PROTO2;
  if (closed && e->FindValueByNumber(n) == nullptr) {
    return absl::StrCat("field ", path, ": unknown value ", n, " of enum ",
                        e->full_name());
  }
  return "";
}

std::string CheckMessageJson(const rapidjson::Value& v, const Descriptor* d,
                             const std::string& path);

std::string CheckFieldValueJson(const rapidjson::Value& v,
                                const FieldDescriptor* f,
                                const std::string& path) {
  if (v.IsNull()) return "";
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
    return CheckEnumJson(v, f->enum_type(), path);
  }
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    return CheckMessageJson(v, f->message_type(), path);
  }
  return "";
}

// The first enum value in `v`, the JSON of a message of type `d`, that
// protobuf would drop: a description of it, or "" when there is none. Keys
// no field has are skipped, as the parser skips them; so are types with
// special JSON (in an `Any`, protobuf itself refuses unknown enum names).
std::string CheckMessageJson(const rapidjson::Value& v, const Descriptor* d,
                             const std::string& path) {
  if (!v.IsObject() || HasSpecialJson(d)) return "";
  for (const auto& member : v.GetObject()) {
    const FieldDescriptor* f =
        FieldForKey(d, absl::string_view(member.name.GetString(),
                                         member.name.GetStringLength()));
    if (f == nullptr) continue;
    const rapidjson::Value& fv = member.value;
    std::string fpath = FieldPath(path, f->name());
    std::string found;
    if (f->is_map()) {
      if (!fv.IsObject()) continue;
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      for (const auto& entry : fv.GetObject()) {
        std::string name(entry.name.GetString(), entry.name.GetStringLength());
        std::string key_text =
            key->cpp_type() == FieldDescriptor::CPPTYPE_STRING
                ? absl::StrCat("\"", absl::CHexEscape(name), "\"")
                : name;
        found = CheckFieldValueJson(entry.value, value,
                                    absl::StrCat(fpath, "[", key_text, "]"));
        if (!found.empty()) return found;
      }
    } else if (f->is_repeated()) {
      if (!fv.IsArray()) continue;
      for (rapidjson::SizeType i = 0; i < fv.Size(); ++i) {
        found = CheckFieldValueJson(fv[i], f, absl::StrCat(fpath, "[", i, "]"));
        if (!found.empty()) return found;
      }
    } else {
      found = CheckFieldValueJson(fv, f, fpath);
      if (!found.empty()) return found;
    }
  }
  return "";
}

absl::Status ParseError(const Message& message, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("args do not parse as ", message.GetTypeName(), ": ", why));
}

}  // namespace

absl::StatusOr<std::string> MessageToArgs(const Message& message) {
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot store ", message.GetTypeName(), " as JSON exactly: ", why));
  };
  // Serializing a message without its required fields aborts the process.
  if (!message.IsInitialized()) {
    return refuse(absl::StrCat("required fields missing: ",
                               message.InitializationErrorString()));
  }
  AnyFactory factory;
  if (absl::Status s = CheckPrintable(message, "", factory); !s.ok()) {
    return refuse(s.message());
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot print ", message.GetTypeName(),
                     " as JSON: ", std::string(status.message())));
  }
  // What no check above names: the JSON must read back as the same message.
  std::unique_ptr<Message> back(message.New());
  status = google::protobuf::util::JsonStringToMessage(json, back.get(),
                                                       /*options=*/{});
  std::string differences =
      status.ok() ? Differences(message, *back) : std::string(status.message());
  if (!differences.empty()) {
    return refuse(absl::StrCat(
        "its protobuf JSON does not read back as the same message (",
        differences, ")"));
  }
  return json;
}

absl::StatusOr<NewJob> NewTypedJob(const Message& message, NewJob base) {
  absl::StatusOr<std::string> args = MessageToArgs(message);
  if (!args.ok()) return args.status();
  base.args = std::move(*args);
  if (base.type.empty()) base.type = message.GetDescriptor()->full_name();
  return base;
}

absl::Status ArgsToMessage(absl::string_view args, Message& message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // a newer producer may add fields
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(args.data(), args.size()), &message,
      options);
  if (!status.ok()) {
    return ParseError(message, std::string(status.message()));
  }
  // ignore_unknown_fields also makes protobuf drop enum values it does not
  // know (names, and numbers of closed enums): look for them in the JSON.
  if (!MayHoldEnums(message.GetDescriptor())) return absl::OkStatus();
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(args.data(), args.size());
  if (doc.HasParseError()) {
    message.Clear();
    return ParseError(
        message, absl::StrCat("not RFC 8259 JSON: ",
                              rapidjson::GetParseError_En(doc.GetParseError()),
                              " at offset ", doc.GetErrorOffset()));
  }
  std::string dropped = CheckMessageJson(doc, message.GetDescriptor(), "");
  if (!dropped.empty()) {
    message.Clear();
    return ParseError(
        message,
        absl::StrCat(dropped,
                     " (from a newer producer? Deploy workers that know a "
                     "value before producers use it; a job with it fails "
                     "and is retried with backoff)"));
  }
  return absl::OkStatus();
}

absl::Status SetOutput(Job& job, const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = MessageToArgs(message);
  if (!json.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "output of job ", job.id(), ": ", json.status().message()));
  }
  return job.SetOutput(*json);
}

}  // namespace qg
