// Tests of typed payloads (qg/typed.h, and the reading typed handlers get
// through qg/worker/work_map.h): a message is stored exactly or refused, and
// a handler gets exactly what was stored or a failed job.
#include "qg/typed.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/testing/database_test.h"
#include "qg/testing/job.h"
#include "qg/testing/status_matchers.h"
#include "qg/typed_test.pb.h"
#include "qg/typed_test_proto2.pb.h"
#include "qg/worker/work_map.h"
#include "qg/worker/worker.h"

namespace qg {
namespace {

using ::qg::typed_test::Color;
using ::qg::typed_test::Inner;
using ::qg::typed_test::Legacy;
using ::qg::typed_test::NewerPayload;
using ::qg::typed_test::Payload;
using ::qg_testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Whether `a` and `b` hold the same values (NaN equal to NaN); the
// differences otherwise, in `diff`.
bool SameMessage(const google::protobuf::Message& a,
                 const google::protobuf::Message& b, std::string* diff) {
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  differencer.ReportDifferencesToString(diff);
  return differencer.Compare(a, b);
}

// A Payload with every field kind set, to values JSON can carry exactly:
// a NUL, non-ASCII text, zero in a oneof and in an optional field, NaN,
// the extremes of 64-bit integers, bytes that are not UTF-8.
Payload FullPayload() {
  Payload p;
  static constexpr char kText[] =
      "nul \0 and \xc3\xa9\xf0\x9f\x98\x80 \"quoted\"\n\t\\ \x7f";
  p.set_text(std::string(kText, sizeof(kText) - 1));
  p.add_texts("one");
  p.add_texts("");
  (*p.mutable_labels())["k\xc3\xa9y"] = "v\xc3\xa0lue";
  p.mutable_inner()->set_text("inner");
  p.mutable_inner()->set_color(typed_test::GREEN);
  p.mutable_inner()->add_colors(typed_test::RED);
  p.add_inners()->set_text("first");
  p.add_inners()->add_colors(static_cast<Color>(7));  // open enum: kept
  (*p.mutable_inner_by_name())["x"].set_color(typed_test::RED);
  p.set_choice_number(0);
  Inner packed;
  packed.set_text("packed");
  packed.set_color(typed_test::GREEN);
  p.mutable_any()->PackFrom(packed);
  (*p.mutable_json()->mutable_fields())["s"].set_string_value("text");
  (*p.mutable_json()->mutable_fields())["n"].set_number_value(1.5);
  (*p.mutable_json()->mutable_fields())["null"].set_null_value(
      google::protobuf::NULL_VALUE);
  p.mutable_value()->mutable_list_value()->add_values()->set_bool_value(true);
  p.mutable_mask()->add_paths("inner.text");
  p.mutable_mask()->add_paths("color_by_name");
  p.mutable_wrapped()->set_value("");
  p.set_color(static_cast<Color>(9));
  p.add_colors(typed_test::RED);
  p.add_colors(typed_test::COLOR_UNSPECIFIED);
  (*p.mutable_color_by_name())["g"] = typed_test::GREEN;
  p.set_maybe(0);
  p.set_ratio(std::nan(""));
  p.set_share(0.1f);
  p.set_big(std::numeric_limits<int64_t>::min());
  p.set_huge(std::numeric_limits<uint64_t>::max());
  p.set_raw(std::string("\xff\x00\xfe", 3));
  p.mutable_at()->set_seconds(1800000000);
  p.mutable_at()->set_nanos(123456789);
  p.mutable_wait()->set_seconds(-5);
  (*p.mutable_by_id())[-1] = "minus one";
  p.set_flag(true);
  return p;
}

TEST(TypedTest, EveryFieldKindReadsBackExactly) {
  Payload sent = FullPayload();
  QG_ASSERT_OK_AND_ASSIGN(NewJob job, NewTypedJob(sent));
  EXPECT_EQ(job.type, "qg.typed_test.Payload");
  Payload received;
  QG_ASSERT_OK(ParseTypedArgs(job.args, received));
  std::string diff;
  EXPECT_TRUE(SameMessage(sent, received, &diff)) << diff << job.args;
}

// A typed output is the message's protobuf JSON, refused as args are.
TEST(TypedTest, SetOutputWritesTheMessageAsJsonOrRefusesIt) {
  std::unique_ptr<Job> job = qg_testing::NewTestJob({.type = "T"});
  Payload sent = FullPayload();
  QG_ASSERT_OK(SetOutput(*job, sent));
  ASSERT_TRUE(job->output().has_value());
  Payload back;
  QG_ASSERT_OK(ParseTypedArgs(*job->output(), back));
  std::string diff;
  EXPECT_TRUE(SameMessage(sent, back, &diff)) << diff;
  Payload bad;
  bad.set_text("bad \xff utf8");
  EXPECT_THAT(SetOutput(*job, bad),
              qg_testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                   ::testing::HasSubstr("output of job 1")));
  EXPECT_EQ(*job->output(), MessageToArgs(sent).value());
}

// Issue 23, item 3: invalid UTF-8 was dropped from the JSON ("bad \xff\xfe
// utf8" became "bad  utf8") and the job enqueued. Every place a string can
// be is refused, naming the field.
TEST(TypedTest, InvalidUtf8AnywhereIsRefusedNamingTheField) {
  const std::string bad = "bad \xff\xfe utf8";
  struct Case {
    std::string field;
    Payload payload;
  };
  std::vector<Case> cases;
  auto add = [&](std::string field, auto set) {
    Payload p;
    p.set_text("fine");
    set(p);
    cases.push_back({std::move(field), std::move(p)});
  };
  add("text", [&](Payload& p) { p.set_text(bad); });
  add("texts[1]", [&](Payload& p) {
    p.add_texts("ok");
    p.add_texts(bad);
  });
  add("labels (a key)", [&](Payload& p) { (*p.mutable_labels())[bad] = "v"; });
  add("labels[\"k\"]", [&](Payload& p) { (*p.mutable_labels())["k"] = bad; });
  add("inner.text", [&](Payload& p) { p.mutable_inner()->set_text(bad); });
  add("inners[0].text", [&](Payload& p) { p.add_inners()->set_text(bad); });
  add("inner_by_name[\"x\"].text",
      [&](Payload& p) { (*p.mutable_inner_by_name())["x"].set_text(bad); });
  add("choice_text", [&](Payload& p) { p.set_choice_text(bad); });
  // Packed bytes with invalid UTF-8 do not parse: the field is the Any's.
  add("any(qg.typed_test.Inner)", [&](Payload& p) {
    Inner inner;
    inner.set_text(bad);
    p.mutable_any()->PackFrom(inner);
  });
  add("json.fields[\"a\"].string_value", [&](Payload& p) {
    (*p.mutable_json()->mutable_fields())["a"].set_string_value(bad);
  });
  add("wrapped.value",
      [&](Payload& p) { p.mutable_wrapped()->set_value(bad); });
  add("mask.paths[0]", [&](Payload& p) { p.mutable_mask()->add_paths(bad); });
  add("text", [&](Payload& p) { p.set_text("\xed\xa0\x80"); });  // surrogate
  add("text", [&](Payload& p) { p.set_text("\xc0\xaf"); });      // overlong
  for (const Case& c : cases) {
    absl::StatusOr<NewJob> job = NewTypedJob(c.payload);
    EXPECT_THAT(job,
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("qg.typed_test.Payload"),
                               HasSubstr(absl::StrCat("field ", c.field,
                                                      ": not valid UTF-8")),
                               HasSubstr("bytes"))))
        << c.field << ": " << (job.ok() ? job->args : "");
    EXPECT_THAT(MessageToArgs(c.payload),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

// Values protobuf prints as JSON that does not read back as the same message
// are refused, not stored changed.
TEST(TypedTest, JsonThatReadsBackDifferentlyIsRefused) {
  std::vector<Payload> cases(3);
  cases[0].mutable_value()->set_number_value(std::nan(""));  // -> "NaN"
  cases[1].mutable_value()->set_number_value(
      std::numeric_limits<double>::infinity());  // -> "Infinity"
  cases[2].mutable_mask()->add_paths("fooBar");  // -> read as "foo_bar"
  for (const Payload& p : cases) {
    EXPECT_THAT(NewTypedJob(p),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("does not read back as the same message")))
        << p.ShortDebugString();
  }
}

// Fields JSON cannot carry at all: unknown fields (a message parsed from a
// newer schema's binary) and extensions.
TEST(TypedTest, UnknownFieldsAndExtensionsAreRefused) {
  NewerPayload newer;
  newer.set_text("hi");
  newer.set_added_later("only the newer schema knows me");
  newer.mutable_inner()->set_text("in");
  Payload older;
  ASSERT_TRUE(older.ParseFromString(newer.SerializeAsString()));
  EXPECT_THAT(NewTypedJob(older),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("unknown field"), HasSubstr("99"))));

  Legacy legacy;
  legacy.set_id("1");
  legacy.SetExtension(typed_test::note, "an extension");
  EXPECT_THAT(NewTypedJob(legacy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("extension qg.typed_test.note")));
}

// A proto2 message missing a required field made protobuf's serializer abort
// the process; now it is an InvalidArgument.
TEST(TypedTest, MissingRequiredFieldIsRefusedNotACrash) {
  Legacy legacy;
  legacy.set_size(Legacy::LARGE);
  EXPECT_THAT(NewTypedJob(legacy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("qg.typed_test.Legacy"),
                             HasSubstr("required"), HasSubstr("id"))));
}

// Issue 23, item 4: an older worker dropped enum names it did not know,
// silently, so the handler ran with another payload. Now the parse fails,
// naming the field and the value, wherever the enum is.
TEST(TypedTest, UnknownEnumNamesFailTheParse) {
  struct Case {
    std::string args;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"color":"BLUE"})", R"(field color: unknown value "BLUE")"},
           {R"({"colors":["RED","BLUE","GREEN"]})",
            R"(field colors[1]: unknown value "BLUE")"},
           {R"({"colorByName":{"a":"RED","b":"BLUE"}})",
            R"(field color_by_name["b"]: unknown value "BLUE")"},
           {R"({"inner":{"color":"BLUE"}})",
            R"(field inner.color: unknown value "BLUE")"},
           {R"({"inners":[{},{"colors":["BLUE"]}]})",
            R"(field inners[1].colors[0]: unknown value "BLUE")"},
           {R"({"innerByName":{"k":{"color":"BLUE"}}})",
            R"(field inner_by_name["k"].color: unknown value "BLUE")"},
           {R"({"color":"red"})", R"(field color: unknown value "red")"},
           // A number in a string is read only when it is a known value.
           {R"({"color":"7"})", R"(field color: unknown value "7")"},
       }) {
    Payload p;
    EXPECT_THAT(
        ParseTypedArgs(c.args, p),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 AllOf(HasSubstr("args do not parse as "
                                 "qg.typed_test.Payload"),
                       HasSubstr(c.want), HasSubstr("qg.typed_test.Color"))))
        << c.args;
  }
}

// What a newer producer may add and an older worker still reads: unknown
// fields are ignored, unknown enum numbers are kept (proto3), and names or
// numbers in strings it knows are read.
TEST(TypedTest, UnknownFieldsAreIgnoredAndUnknownEnumNumbersKept) {
  Payload p;
  QG_ASSERT_OK(ParseTypedArgs(
      R"({"addedLater":"x","color":7,"colors":["RED",9,"2"],)"
      R"("inner":{"newer":{"color":"BLUE"},"color":"GREEN"},)"
      R"("any":{"@type":"type.googleapis.com/qg.typed_test.Inner",)"
      R"("text":"t","addedLater":1}})",
      p));
  EXPECT_EQ(p.color(), 7);
  ASSERT_EQ(p.colors_size(), 3);
  EXPECT_EQ(p.colors(0), typed_test::RED);
  EXPECT_EQ(p.colors(1), 9);
  EXPECT_EQ(p.colors(2), typed_test::GREEN);
  EXPECT_EQ(p.inner().color(), typed_test::GREEN);
  Inner packed;
  ASSERT_TRUE(p.any().UnpackTo(&packed));
  EXPECT_EQ(packed.text(), "t");
}

// A proto2 (closed) enum keeps an unknown number out of the field, in the
// message's unknown fields: the handler would see the field unset. Refused.
TEST(TypedTest, UnknownNumbersOfAClosedEnumFailTheParse) {
  Legacy legacy;
  QG_ASSERT_OK(
      ParseTypedArgs(R"({"id":"1","size":2,"sizes":["SMALL"]})", legacy));
  EXPECT_EQ(legacy.size(), Legacy::LARGE);
  EXPECT_THAT(ParseTypedArgs(R"({"id":"1","sizes":[1,7]})", legacy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("field sizes[1]: unknown value 7"),
                             HasSubstr("qg.typed_test.Legacy.Size"))));
}

// Messages of a descriptor pool of the caller's (not the generated one) get
// the same checks both ways.
TEST(TypedTest, DynamicMessagesGetTheSameChecks) {
  google::protobuf::DescriptorPoolDatabase generated(
      *google::protobuf::DescriptorPool::generated_pool());
  google::protobuf::DescriptorPool pool(&generated);
  const google::protobuf::Descriptor* d =
      pool.FindMessageTypeByName("qg.typed_test.Payload");
  ASSERT_NE(d, nullptr);
  ASSERT_NE(d, Payload::descriptor());
  google::protobuf::DynamicMessageFactory factory(&pool);
  std::unique_ptr<google::protobuf::Message> m(factory.GetPrototype(d)->New());
  EXPECT_THAT(ArgsToMessage(R"({"colors":["RED","BLUE"]})", *m),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(R"(field colors[1]: unknown value "BLUE")")));
  QG_ASSERT_OK(ArgsToMessage(R"({"text":"hi","colors":["GREEN"]})", *m));
  QG_ASSERT_OK_AND_ASSIGN(std::string args, MessageToArgs(*m));
  EXPECT_EQ(args, R"({"text":"hi","colors":["GREEN"]})");
  m->GetReflection()->SetString(m.get(), d->FindFieldByName("text"),
                                "bad \xff");
  EXPECT_THAT(MessageToArgs(*m),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field text: not valid UTF-8")));
}

// Through the database and a worker: what NewTypedJob made is what the
// handler gets; a newer producer's enum value fails the job (kept, retried)
// instead of running the handler with a changed payload.
class TypedJobTest : public qg_testing::DatabaseTest {
 protected:
  TypedJobTest() : DatabaseTest({.max_conns = 2}) {}
};

TEST_F(TypedJobTest, HandlerGetsExactlyWhatWasEnqueued) {
  Payload sent = FullPayload();
  QG_ASSERT_OK_AND_ASSIGN(NewJob job, NewTypedJob(sent));
  QG_ASSERT_OK(client_->Enqueue(job).status());
  WorkMap work_map;
  Payload received;
  int calls = 0;
  work_map.Register<Payload>([&](Job&, const Payload& p) {
    received = p;
    ++calls;
    return absl::OkStatus();
  });
  Worker worker(client_.get(), &work_map);
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_EQ(calls, 1);
  std::string diff;
  EXPECT_TRUE(SameMessage(sent, received, &diff)) << diff;
  EXPECT_EQ(CountJobs(), 0);
}

TEST_F(TypedJobTest, NewerProducersEnumValueFailsTheJobOnAnOlderWorker) {
  NewerPayload newer;
  newer.set_text("hello");
  newer.set_color(NewerPayload::BLUE);
  newer.add_colors(NewerPayload::RED);
  newer.add_colors(NewerPayload::BLUE);
  newer.add_colors(NewerPayload::GREEN);
  newer.set_added_later("ignored by older workers");
  QG_ASSERT_OK_AND_ASSIGN(
      NewJob job, NewTypedJob(newer, {.type = "qg.typed_test.Payload"}));
  QG_ASSERT_OK_AND_ASSIGN(int64_t id, client_->Enqueue(job));
  WorkMap work_map;
  int calls = 0;
  work_map.Register<Payload>([&](Job&, const Payload&) {
    ++calls;
    return absl::OkStatus();
  });
  Worker worker(client_.get(), &work_map);
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(QueryInt("SELECT error_count FROM que_jobs WHERE job_id = $1",
                     {absl::StrCat(id)}),
            1);
  EXPECT_THAT(Query("SELECT last_error FROM que_jobs WHERE job_id = $1",
                    {absl::StrCat(id)}),
              HasSubstr(R"(field color: unknown value "BLUE")"));
}

}  // namespace
}  // namespace qg
