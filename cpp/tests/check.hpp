// A tiny assertion helper for the C++ tests of the core: each CHECK counts, a failed one prints
// where and why and makes the test program exit with status 1 (ctest reports it), and the
// program goes on so that one run shows every failure.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace check {

struct Counts {
  int checks = 0;
  int failures = 0;
};

inline Counts& counts() {
  static Counts c;
  return c;
}

inline void report(bool ok, const std::string& what, const char* file, int line) {
  ++counts().checks;
  if (ok) return;
  ++counts().failures;
  std::fprintf(stderr, "%s:%d: FAILED %s\n", file, line, what.c_str());
}

// |a - b| <= tol (1 + max(|a|, |b|)): relative for large values, absolute near zero.
inline bool close(double a, double b, double tol) {
  return std::abs(a - b) <= tol * (1.0 + std::max(std::abs(a), std::abs(b)));
}

inline std::string near_message(const char* a, const char* b, double x, double y, double tol) {
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer), " (%.17g vs %.17g, difference %.3g, tolerance %.3g)", x, y, std::abs(x - y), tol);
  return std::string(a) + " ~ " + b + buffer;
}

// Prints the totals; the return value is the program's exit status.
inline int finish(const char* name) {
  std::printf("%s: %d checks, %d failed\n", name, counts().checks, counts().failures);
  return counts().failures == 0 ? 0 : 1;
}

}  // namespace check

#define CHECK(condition) ::check::report(static_cast<bool>(condition), #condition, __FILE__, __LINE__)

#define CHECK_EQ(a, b)                                                                                  \
  do {                                                                                                  \
    const auto check_a_ = (a);                                                                          \
    const auto check_b_ = (b);                                                                          \
    ::check::report(check_a_ == check_b_,                                                               \
                    std::string(#a " == " #b " (") + std::to_string(check_a_) + " vs " +                \
                        std::to_string(check_b_) + ")",                                                 \
                    __FILE__, __LINE__);                                                                \
  } while (0)

// a and b agree to tol relative to their size (see check::close).
#define CHECK_NEAR(a, b, tol)                                                                           \
  do {                                                                                                  \
    const double check_a_ = (a), check_b_ = (b), check_tol_ = (tol);                                    \
    ::check::report(::check::close(check_a_, check_b_, check_tol_),                                     \
                    ::check::near_message(#a, #b, check_a_, check_b_, check_tol_), __FILE__, __LINE__); \
  } while (0)

// statement throws an exception of type Type whose what() contains text.
#define CHECK_THROWS(statement, Type, text)                                                             \
  do {                                                                                                  \
    bool check_caught_ = false;                                                                         \
    std::string check_message_ = "nothing thrown";                                                      \
    try {                                                                                               \
      statement;                                                                                        \
    } catch (const Type& error) {                                                                       \
      check_message_ = error.what();                                                                    \
      check_caught_ = check_message_.find(text) != std::string::npos;                                   \
    } catch (...) {                                                                                     \
      check_message_ = "another exception type";                                                        \
    }                                                                                                   \
    ::check::report(check_caught_, std::string(#statement " throws " #Type " with \"") + (text) +       \
                                       "\" (got: " + check_message_ + ")",                              \
                    __FILE__, __LINE__);                                                                \
  } while (0)
