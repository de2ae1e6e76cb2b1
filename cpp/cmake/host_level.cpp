// Prints the best core level of the machine that compiles: the level a source install builds by
// default (INTRINSIC_FLOW_CPU_VARIANTS=host).
#include <cstdio>

#include "../bindings/cpu/supported_levels.hpp"

int main() {
  std::puts(intrinsic_flow::supported_levels().back().c_str());
  return 0;
}
