// A history for the report's tests (tests/report_test.cc, tests/report_data_test.cc).
#pragma once

namespace report_test {

// Token 1: a write of a, a read of a, then (after that read ended) a read of the initial
// value: a new-old inversion (lines 5 and 7). Token 2 is linearizable; process 4's read
// never completes; process 3's second write comes long after.
inline constexpr const char* kViolatingHistory =
    R"({"process":0,"type":"invoke","f":"write","token":"1","value":{"name":"a","low":0,"mid":5,"high":9},"time":1000}
{"process":3,"type":"invoke","f":"write","token":"2","value":{"name":"b","low":0,"mid":5,"high":9},"time":1100}
{"process":1,"type":"invoke","f":"read","token":"1","time":1500}
{"process":3,"type":"ok","f":"write","token":"2","value":{"name":"b","low":0,"mid":5,"high":9},"version":1,"time":1900}
{"process":1,"type":"ok","f":"read","token":"1","value":{"name":"a","low":0,"mid":5,"high":9},"version":1,"time":2000}
{"process":2,"type":"invoke","f":"read","token":"1","time":2500}
{"process":2,"type":"ok","f":"read","token":"1","value":null,"version":0,"time":3000}
{"process":4,"type":"invoke","f":"read","token":"2","time":3100}
{"process":0,"type":"ok","f":"write","token":"1","value":{"name":"a","low":0,"mid":5,"high":9},"version":1,"time":4000}
{"process":3,"type":"invoke","f":"write","token":"2","value":{"name":"c","low":0,"mid":5,"high":9},"time":90000}
{"process":3,"type":"ok","f":"write","token":"2","value":{"name":"c","low":0,"mid":5,"high":9},"version":2,"time":95000}
)";

}  // namespace report_test
