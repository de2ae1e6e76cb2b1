// Thread control for the core. Every parallel loop runs over independent samples and writes
// each result to its own slot, so results never depend on the thread count.
//
// No exception may leave an OpenMP region (the runtime calls std::terminate): every parallel loop
// of the core runs its body through ParallelErrors, which keeps the first exception thrown by any
// iteration, skips the iterations not yet started, and rethrows it after the loop, on the calling
// thread, where the bindings turn it into a Python exception.
#pragma once

#include <atomic>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace intrinsic_flow {

inline bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

// The process-wide thread count (0 until set_num_threads is called: then the OpenMP default,
// OMP_NUM_THREADS or all cores). An atomic, not omp_set_num_threads, which sets a per-thread
// value: a count set from one thread must reach parallel loops started from any other (scan
// workers, Dask threads). One object for the whole module (an inline function's static).
inline std::atomic<int>& process_threads() {
  static std::atomic<int> value{0};
  return value;
}

// A per-call count (the n_threads argument of the Python API), set on the calling thread for the
// duration of one call by ThreadCountScope; 0 means "use the process-wide count".
inline int& call_threads() {
  thread_local int value = 0;
  return value;
}

inline int default_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// The process-wide count: what a parallel loop uses when its call names no count.
inline int max_threads() {
  const int set = process_threads().load(std::memory_order_relaxed);
  return set > 0 ? set : default_threads();
}

// The count the next parallel loop started from this thread uses (per call, else process-wide).
inline int current_threads() {
  const int call = call_threads();
  return call > 0 ? call : max_threads();
}

inline int available_cores() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
#endif
}

// Oversubscription beyond this gains nothing, and a runtime asked for 10^5 threads dies creating
// their stacks: the accepted range is 1 .. kThreadsPerCore x cores.
constexpr int kThreadsPerCore = 64;

inline int max_thread_count() { return kThreadsPerCore * available_cores(); }

inline std::string thread_count_error(const std::string& value) {
  return "set_num_threads: n = " + value + " is out of range; accepted 1 <= n <= " +
         std::to_string(max_thread_count()) + " (" + std::to_string(kThreadsPerCore) + " x " +
         std::to_string(available_cores()) + " cores)";
}

// Throws std::invalid_argument naming n, its value and the accepted range.
inline void set_max_threads(long long n) {
  if (n < 1 || n > max_thread_count()) throw std::invalid_argument(thread_count_error(std::to_string(n)));
  process_threads().store(static_cast<int>(n), std::memory_order_relaxed);
}

// Sets the per-call count of the calling thread for its lifetime; n = 0 keeps the count already in
// force (an enclosing call's, else the process-wide one). n is validated as set_max_threads does.
class ThreadCountScope {
 public:
  explicit ThreadCountScope(long long n) : saved_(call_threads()) {
    if (n == 0) return;
    if (n < 1 || n > max_thread_count()) throw std::invalid_argument(thread_count_error(std::to_string(n)));
    call_threads() = static_cast<int>(n);
  }
  ~ThreadCountScope() { call_threads() = saved_; }
  ThreadCountScope(const ThreadCountScope&) = delete;
  ThreadCountScope& operator=(const ThreadCountScope&) = delete;

 private:
  int saved_;
};

// Collects the first exception thrown inside a parallel region; see the note at the top.
class ParallelErrors {
 public:
  // Runs body() unless an earlier iteration failed; never throws.
  template <typename Body>
  void run(Body&& body) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      body();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  // Rethrows the first exception, if any; call after the region, outside it.
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::exception_ptr first_;
};

// for (i = 0; i < n; ++i) body(i), in parallel when parallel is true; iterations are handed out
// one at a time (dynamic schedule with chunk `chunk`). An exception in any iteration is rethrown
// here after the loop.
template <typename Index, typename Body>
void parallel_for_dynamic(Index n, bool parallel, Index chunk, Body&& body) {
  ParallelErrors errors;
  (void)parallel;
  (void)chunk;
  const int threads = current_threads();
  (void)threads;
#pragma omp parallel for schedule(dynamic, chunk) if (parallel) num_threads(threads)
  for (Index i = 0; i < n; ++i) errors.run([&] { body(i); });
  errors.rethrow();
}

// Same with a static schedule (equal contiguous blocks per thread).
template <typename Index, typename Body>
void parallel_for_static(Index n, bool parallel, Body&& body) {
  ParallelErrors errors;
  (void)parallel;
  const int threads = current_threads();
  (void)threads;
#pragma omp parallel for schedule(static) if (parallel) num_threads(threads)
  for (Index i = 0; i < n; ++i) errors.run([&] { body(i); });
  errors.rethrow();
}

}  // namespace intrinsic_flow
