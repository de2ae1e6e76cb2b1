// Arithmetic in the field F_p, p = 2^61 - 1 (a Mersenne prime: x mod p = (x & p) + (x >> 61)), as
// functions on residues in 0 .. p-1 and as a scalar type (Fp) for templates written over a ring
// (path_sums.hpp).
#pragma once

#include <cstdint>

namespace intrinsic_flow {

constexpr std::uint64_t kLieModulus = (std::uint64_t(1) << 61) - 1;

namespace fp {

using u64 = std::uint64_t;
using u128 = unsigned __int128;
constexpr u64 P = kLieModulus;

inline u64 reduce(u128 x) {
  u64 s = static_cast<u64>(x & P) + static_cast<u64>(x >> 61);
  s = (s & P) + (s >> 61);
  return s >= P ? s - P : s;
}
inline u64 mul(u64 a, u64 b) { return reduce(static_cast<u128>(a) * b); }
inline u64 add(u64 a, u64 b) {
  const u64 s = a + b;
  return s >= P ? s - P : s;
}
inline u64 sub(u64 a, u64 b) { return a >= b ? a - b : a + P - b; }
inline u64 power(u64 base, u64 exponent) {
  u64 result = 1;
  while (exponent) {
    if (exponent & 1) result = mul(result, base);
    base = mul(base, base);
    exponent >>= 1;
  }
  return result;
}
inline u64 inverse(u64 a) { return power(a, P - 2); }

}  // namespace fp

// A residue of F_p (value in 0 .. p-1) with + and *.
struct Fp {
  std::uint64_t value = 0;
  Fp() = default;
  explicit Fp(std::uint64_t v) : value(v) {}  // v must be reduced already
  friend Fp operator+(Fp a, Fp b) { return Fp(fp::add(a.value, b.value)); }
  friend Fp operator*(Fp a, Fp b) { return Fp(fp::mul(a.value, b.value)); }
  friend bool operator==(Fp a, Fp b) { return a.value == b.value; }
};

}  // namespace intrinsic_flow
