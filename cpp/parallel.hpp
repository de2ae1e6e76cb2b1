// Thread control for the core. Every parallel loop runs over independent samples and writes
// each result to its own slot, so results never depend on the thread count.
#pragma once

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

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_max_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

}  // namespace intrinsic_flow
