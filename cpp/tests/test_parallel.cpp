// The parallel loops of the core: every iteration runs once, an exception thrown by any iteration
// is rethrown after the loop on the calling thread (never std::terminate), and the thread count
// is range-checked.
#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.hpp"
#include "parallel.hpp"

using namespace intrinsic_flow;

namespace {

void test_every_iteration_once() {
  set_max_threads(2);
  for (bool parallel : {false, true}) {
    std::vector<int> hits(1000, 0);
    parallel_for_dynamic<long>(1000, parallel, 7, [&](long i) { ++hits[i]; });
    parallel_for_static<int>(1000, parallel, [&](int i) { ++hits[i]; });
    bool all_twice = true;
    for (int h : hits) all_twice = all_twice && h == 2;
    CHECK(all_twice);
  }
}

void test_exception_propagates() {
  set_max_threads(2);
  for (bool parallel : {false, true}) {
    std::atomic<int> after{0};
    CHECK_THROWS(parallel_for_dynamic<long>(10000, parallel, 1,
                                            [&](long i) {
                                              if (i == 37) throw std::invalid_argument("sample 37 is bad");
                                              if (i > 5000) ++after;
                                            }),
                 std::invalid_argument, "sample 37 is bad");
    // iterations not yet started when the loop failed are skipped: none after it when serial (with
    // threads, how many others started first depends on scheduling, so nothing is asserted there)
    if (!parallel) CHECK(after.load() == 0);
    CHECK_THROWS(parallel_for_static<int>(100, parallel,
                                          [&](int i) {
                                            if (i % 10 == 3) throw std::length_error("too big at " + std::to_string(i));
                                          }),
                 std::length_error, "too big at ");
  }
  // the loop is usable again afterwards
  int sum = 0;
  parallel_for_static<int>(10, false, [&](int i) { sum += i; });
  CHECK_EQ(sum, 45);
}

void test_thread_count_range() {
  CHECK_THROWS(set_max_threads(0), std::invalid_argument, "n = 0 is out of range");
  CHECK_THROWS(set_max_threads(static_cast<long long>(max_thread_count()) + 1), std::invalid_argument,
               "out of range");
  set_max_threads(1);
  CHECK(max_threads() == 1);
  set_max_threads(2);
  CHECK(max_threads() == (openmp_enabled() ? 2 : 1));
}

}  // namespace

int main() {
  test_every_iteration_once();
  test_exception_propagates();
  test_thread_count_range();
  return check::finish("test_parallel");
}
