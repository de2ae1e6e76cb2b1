// Mean-field two-layer ReLU networks without bias, f(x) = (1/m) sum_j a_j relu(b_j . x), trained
// as particle systems (Hajjar & Chizat, "On the symmetries in the dynamics of wide two-layer neural
// networks", arXiv 2211.08771), and the reduced angle dynamics of a radial target.
//
// Time scaling: the step `lr` is eta in "learning rate m * eta on 1/2 mean (f - y)^2", so each
// particle moves by eta times the mean-field velocity: a_j -= eta E[R relu(b_j.x)],
// b_j -= eta E[R a_j 1{b_j.x > 0} x], R = f - y. RK4 integrates the same velocity field with time
// step lr (time t = lr * steps).
//
// Determinism: samples are processed in fixed chunks of kChunk (independent of the thread count),
// each chunk accumulates its own partial gradient, and the chunks are summed in index order.
// Random inputs are drawn per sample index from a counter-based generator (splitmix64 of the seed
// and the index), so every bit is independent of the number of threads.
#pragma once

#include <cstdint>
#include <vector>

#include "types.hpp"

namespace intrinsic_flow {

constexpr long kSymChunk = 512;

// Counter-based random words: word n of the stream of (seed, index).
inline std::uint64_t sym_mix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Fills out[0..n) with standard normals of the stream (seed, index) (Box-Muller on word pairs).
void sym_normals(std::uint64_t seed, std::uint64_t index, int n, double* out);

// Inputs of samples start..start+count: kind 0 Gaussian N(0, scale^2 I_d), kind 1 uniform on the
// sphere of radius scale. Row i of the result is sample start + i.
RowMatrix sym_draw_inputs(int kind, double scale, int d, std::uint64_t seed, std::uint64_t start, long count);

struct ParticleOptions {
  int method = 0;           // 0 GD on a fixed sample, 1 RK4 on a fixed sample, 2 online SGD
  double lr = 0.01;         // eta (mean-field scaling) or the RK4 time step
  long n_steps = 0;
  std::vector<long> save_steps;  // sorted, in [0, n_steps]
  // online SGD only
  int input_kind = 0;       // 0 Gaussian, 1 sphere
  double input_scale = 1.0;
  int target_kind = 0;      // 0 cubic sum_k coef_k x_k^3, 1 radial ||x_{:d_H}||, 2 linear coef.x
  Vector coef;
  int d_H = 1;
  long batch = 0;
  std::uint64_t seed = 0;
  // symmetric batches: sample i < batch/2 is drawn from stream step * batch/2 + i, and sample
  // batch/2 + i is its negative (batch even); an odd target keeps the pair symmetry exactly
  bool symmetric = false;
};

struct ParticleResult {
  RowMatrix a;       // (n_saves, m)
  RowMatrix B;       // (n_saves, m * d), row-major (m, d) per save
  Vector loss;       // (n_saves,): 1/2 mean (f - y)^2 on the sample or batch of that step
};

// a0 (m), B0 (m, d); X (N, d), y (N) for methods 0 and 1 (ignored by SGD).
ParticleResult particle_train(const VectorRef& a0, const RowMatrixRef& B0, const RowMatrixRef& X, const VectorRef& y,
                              const ParticleOptions& options);

// f(x_i) = (1/m) sum_j a_j relu(b_j . x_i) for the rows of X.
Vector particle_predict(const VectorRef& a, const RowMatrixRef& B, const RowMatrixRef& X);

// Target values of the online-SGD families for the rows of X.
Vector sym_target(int kind, const VectorRef& coef, int d_H, const RowMatrixRef& X);

struct ReducedOptions {
  int d = 30;
  int d_H = 5;
  double lr = 5e-3;
  long n_steps = 0;
  long n_samples = 1000;  // N_b, fresh Monte Carlo samples per step
  std::uint64_t seed = 0;
  std::vector<long> save_steps;
};

struct ReducedResult {
  RowMatrix c;      // (n_saves, m)
  RowMatrix theta;  // (n_saves, m)
  Vector loss;      // (n_saves,): unbiased Monte Carlo estimate of 1/2 E R(phi)^2 at that step
};

// Monte Carlo samples of the reduced dynamics for step `step`: rows (cos phi, sin phi, r, s, r', s').
RowMatrix reduced_samples(int d, int d_H, std::uint64_t seed, std::uint64_t step, long n_samples);

// The reduced angle dynamics: c' = 2 eps c G(theta), theta' = eps dG/dtheta (explicit Euler with
// Monte Carlo G), eps = sign(c0).
ReducedResult reduced_train(const VectorRef& c0, const VectorRef& theta0, const ReducedOptions& options);

}  // namespace intrinsic_flow
