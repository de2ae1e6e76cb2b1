// Interruption of the core's long loops (a Ctrl-C in Python). The core knows nothing of Python: a
// front end installs a check once (set_interrupt_check), and every long loop calls
// poll_interrupt() between its steps, on the thread that called it (never inside an OpenMP
// region). The check runs at most every 50 ms, so polling costs one clock read per step; when it
// says stop, poll_interrupt throws Interrupted, which unwinds the loop and its buffers normally.
#pragma once

#include <atomic>
#include <chrono>
#include <stdexcept>

namespace intrinsic_flow {

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

using InterruptCheck = bool (*)();

inline std::atomic<InterruptCheck>& interrupt_check() {
  static std::atomic<InterruptCheck> check{nullptr};
  return check;
}

// The check every loop polls (nullptr: none, as in the C++ tests).
inline void set_interrupt_check(InterruptCheck check) { interrupt_check().store(check); }

inline void poll_interrupt() {
  using clock = std::chrono::steady_clock;
  const InterruptCheck check = interrupt_check().load(std::memory_order_relaxed);
  if (check == nullptr) return;
  thread_local clock::time_point last = clock::now();
  const clock::time_point now = clock::now();
  if (now - last < std::chrono::milliseconds(50)) return;
  last = now;
  if (check()) throw Interrupted();
}

}  // namespace intrinsic_flow
