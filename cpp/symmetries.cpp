#include "symmetries.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "interrupt.hpp"
#include "parallel.hpp"

namespace intrinsic_flow {

namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

// Samples per chunk: a function of the sample count only (never of the thread count), at most 32
// chunks so that the per-chunk partial gradients stay small.
long chunk_size(long n) { return std::max<long>(128, (n + 31) / 32); }

// Threads only pay off beyond this much work per parallel region (multiply-adds): below it the
// fork/join of every step costs more than the loop (results are the same either way).
constexpr double kParallelWork = 4.0e6;

double uniform_open(std::uint64_t word) { return (static_cast<double>(word >> 11) + 0.5) * 0x1.0p-53; }

void check_saves(const std::vector<long>& saves, long n_steps) {
  long previous = -1;
  for (long s : saves) {
    if (s <= previous || s > n_steps)
      throw std::invalid_argument("save_steps must be strictly increasing integers in [0, n_steps = " +
                                  std::to_string(n_steps) + "], got " + std::to_string(s));
    previous = s;
  }
}

// Target values y for the rows of X.
double target_value(int kind, const VectorRef& coef, int d_H, const double* x, long d) {
  if (kind == 0) {
    double y = 0.0;
    for (long k = 0; k < d; ++k) y += coef[k] * x[k] * x[k] * x[k];
    return y;
  }
  if (kind == 1) {
    double s = 0.0;
    for (long k = 0; k < d_H; ++k) s += x[k] * x[k];
    return std::sqrt(s);
  }
  double y = 0.0;
  for (long k = 0; k < d; ++k) y += coef[k] * x[k];
  return y;
}

void draw_input(int kind, double scale, long d, std::uint64_t seed, std::uint64_t index, double* out) {
  sym_normals(seed, index, static_cast<int>(d), out);
  double factor = scale;
  if (kind == 1) {
    double s = 0.0;
    for (long k = 0; k < d; ++k) s += out[k] * out[k];
    factor = scale / std::sqrt(s);
  }
  for (long k = 0; k < d; ++k) out[k] *= factor;
}

// Gradient evaluation of the particle system, with all buffers made once.
class ParticleSystem {
 public:
  ParticleSystem(long m, long d, long n, const ParticleOptions& options)
      : m_(m), d_(d), n_(n), chunk_(chunk_size(n)), n_chunks_((n + chunk_ - 1) / chunk_), options_(options),
        part_(n_chunks_ * (d + 1), m), z_(n_chunks_, m), xbuf_(options.method == 2 ? n_chunks_ * chunk_ : 0, d),
        loss_part_(n_chunks_),
        parallel_(static_cast<double>(n) * static_cast<double>(m) * static_cast<double>(d) >= kParallelWork) {}

  // Velocity (va, vBt) = minus the mean-field gradient at (a, Bt); returns 1/2 mean R^2. Samples
  // are the rows of X, or the batch of `step` drawn from the seeded generator (SGD).
  double velocity(const Vector& a, const RowMatrix& Bt, const RowMatrixRef& X, const VectorRef& y, long step,
                  Vector& va, RowMatrix& vBt) {
    const bool online = options_.method == 2;
    parallel_for_static<long>(n_chunks_, n_chunks_ > 1 && parallel_, [&](long c) {
      const long begin = c * chunk_;
      const long end = std::min(n_, begin + chunk_);
      auto part = part_.middleRows(c * (d_ + 1), d_ + 1);
      part.setZero();
      auto z = z_.row(c);
      double loss = 0.0;
      for (long i = begin; i < end; ++i) {
        const double* x;
        double yi;
        if (online) {
          double* row = xbuf_.row(i).data();
          const long per_step = options_.symmetric ? n_ / 2 : n_;
          const long k = options_.symmetric && i >= per_step ? i - per_step : i;
          draw_input(options_.input_kind, options_.input_scale, d_, options_.seed,
                     static_cast<std::uint64_t>(step) * static_cast<std::uint64_t>(per_step) + static_cast<std::uint64_t>(k), row);
          if (k != i)
            for (long q = 0; q < d_; ++q) row[q] = -row[q];
          x = row;
          yi = target_value(options_.target_kind, options_.coef, options_.d_H, x, d_);
        } else {
          x = X.row(i).data();
          yi = y[i];
        }
        z.noalias() = x[0] * Bt.row(0);
        for (long k = 1; k < d_; ++k) z.noalias() += x[k] * Bt.row(k);
        const double f = z.cwiseMax(0.0).dot(a.transpose()) / static_cast<double>(m_);
        const double r = f - yi;
        loss += r * r;
        part.row(0).noalias() += r * z.cwiseMax(0.0);
        z = (z.array() > 0.0).cast<double>() * r;
        for (long k = 0; k < d_; ++k) part.row(k + 1).noalias() += x[k] * z;
      }
      loss_part_[c] = loss;
    });
    // chunks summed in index order, in parallel over blocks of particles
    const double inv_n = 1.0 / static_cast<double>(n_);
    return finish(a, va, vBt, inv_n);
  }

  long chunks() const { return n_chunks_; }

 private:
  double finish(const Vector& a, Vector& va, RowMatrix& vBt, double inv_n) {
    const long block = 256;
    const long n_blocks = (m_ + block - 1) / block;
    const bool parallel = static_cast<double>(n_chunks_) * static_cast<double>(m_) * static_cast<double>(d_ + 1) >= kParallelWork;
    parallel_for_static<long>(n_blocks, n_blocks > 1 && parallel, [&](long b) {
      const long j0 = b * block;
      const long w = std::min(m_, j0 + block) - j0;
      va.segment(j0, w) = part_.row(0).segment(j0, w).transpose();
      for (long c = 1; c < n_chunks_; ++c) va.segment(j0, w) += part_.row(c * (d_ + 1)).segment(j0, w).transpose();
      va.segment(j0, w) *= -inv_n;
      for (long k = 0; k < d_; ++k) {
        auto out = vBt.row(k).segment(j0, w);
        out = part_.row(k + 1).segment(j0, w);
        for (long c = 1; c < n_chunks_; ++c) out += part_.row(c * (d_ + 1) + k + 1).segment(j0, w);
        out.array() *= -inv_n * a.segment(j0, w).transpose().array();
      }
    });
    double loss = 0.0;
    for (long c = 0; c < n_chunks_; ++c) loss += loss_part_[c];
    return 0.5 * loss * inv_n;
  }

  long m_, d_, n_, chunk_, n_chunks_;
  const ParticleOptions& options_;
  RowMatrix part_, z_, xbuf_;
  Vector loss_part_;
  bool parallel_;
};


// -2 log(u_1 ... u_j): a chi-square variable with 2j degrees of freedom (a sum of j exponentials),
// from words first .. first + j - 1 of the stream; the product is logged every 8 factors so that it
// never underflows.
double chi2_even(std::uint64_t key, std::uint64_t first, int j) {
  double acc = 0.0, prod = 1.0;
  for (int i = 0; i < j; ++i) {
    prod *= uniform_open(sym_mix64(key + (first + static_cast<std::uint64_t>(i)) * kGolden));
    if (i % 8 == 7) {
      acc += std::log(prod);
      prod = 1.0;
    }
  }
  return -2.0 * (acc + std::log(prod));
}

// One Monte Carlo sample of the reduced dynamics from the stream (seed, index), out = (cos phi,
// sin phi, r, s, r', s'): cos^2 phi = X / (X + Y) with X ~ chi2(d_H), Y ~ chi2(d_perp) (a
// Beta(d_H/2, d_perp/2) variable), r = g / sqrt(g^2 + chi2(d_H - 1)) with g normal (the first
// coordinate of a uniform point of S^{d_H - 1}, i.e. +-sqrt(Beta(1/2, (d_H - 1)/2))), s likewise with
// d_perp, and (r', s') an independent copy of (r, s) for the predictor. Words 0-7 give eight normals
// (Box-Muller pairs); a chi-square of even order 2j uses j uniforms, one of odd order adds the
// square of one of the normals 4-7.
void reduced_sample(std::uint64_t seed, std::uint64_t index, int d, int d_H, double* out) {
  const std::uint64_t key = sym_mix64(sym_mix64(seed) + index);
  double n[8];
  for (int k = 0; k < 8; k += 2) {
    const double u1 = uniform_open(sym_mix64(key + static_cast<std::uint64_t>(k) * kGolden));
    const double u2 = uniform_open(sym_mix64(key + static_cast<std::uint64_t>(k + 1) * kGolden));
    const double radius = std::sqrt(-2.0 * std::log(u1));
    n[k] = radius * std::cos(kTwoPi * u2);
    n[k + 1] = radius * std::sin(kTwoPi * u2);
  }
  const int d_perp = d - d_H;
  std::uint64_t word = 8;
  auto chi2 = [&](int dof, double odd_normal) {
    const int j = dof / 2;
    double value = j > 0 ? chi2_even(key, word, j) : 0.0;
    word += static_cast<std::uint64_t>(j);
    if (dof % 2) value += odd_normal * odd_normal;
    return value;
  };
  const double X = chi2(d_H, n[4]);
  const double Y = chi2(d_perp, n[5]);
  const double RH = chi2(d_H - 1, n[4]);
  const double RP = chi2(d_perp - 1, n[5]);
  const double RH2 = chi2(d_H - 1, n[6]);
  const double RP2 = chi2(d_perp - 1, n[7]);
  out[0] = std::sqrt(X / (X + Y));
  out[1] = std::sqrt(Y / (X + Y));
  out[2] = n[0] / std::sqrt(n[0] * n[0] + RH);
  out[3] = n[1] / std::sqrt(n[1] * n[1] + RP);
  out[4] = n[2] / std::sqrt(n[2] * n[2] + RH2);
  out[5] = n[3] / std::sqrt(n[3] * n[3] + RP2);
}

}  // namespace

void sym_normals(std::uint64_t seed, std::uint64_t index, int n, double* out) {
  const std::uint64_t key = sym_mix64(sym_mix64(seed) + index);
  for (int k = 0; k < n; k += 2) {
    const std::uint64_t pair = static_cast<std::uint64_t>(k / 2);
    const double u1 = uniform_open(sym_mix64(key + (2 * pair) * kGolden));
    const double u2 = uniform_open(sym_mix64(key + (2 * pair + 1) * kGolden));
    const double radius = std::sqrt(-2.0 * std::log(u1));
    out[k] = radius * std::cos(kTwoPi * u2);
    if (k + 1 < n) out[k + 1] = radius * std::sin(kTwoPi * u2);
  }
}

RowMatrix sym_draw_inputs(int kind, double scale, int d, std::uint64_t seed, std::uint64_t start, long count) {
  RowMatrix X(count, d);
  parallel_for_static<long>(count, count > 256, [&](long i) {
    draw_input(kind, scale, d, seed, start + static_cast<std::uint64_t>(i), X.row(i).data());
  });
  return X;
}

Vector sym_target(int kind, const VectorRef& coef, int d_H, const RowMatrixRef& X) {
  Vector y(X.rows());
  for (Eigen::Index i = 0; i < X.rows(); ++i) y[i] = target_value(kind, coef, d_H, X.row(i).data(), X.cols());
  return y;
}

Vector particle_predict(const VectorRef& a, const RowMatrixRef& B, const RowMatrixRef& X) {
  const long m = B.rows(), d = B.cols(), n = X.rows();
  if (a.size() != m || X.cols() != d) throw std::invalid_argument("particle_predict: shapes of a, B and X disagree");
  const RowMatrix Bt = B.transpose();
  const long chunk = chunk_size(n);
  const long n_chunks = (n + chunk - 1) / chunk;
  RowMatrix z(n_chunks, m);
  Vector f(n);
  const bool parallel = static_cast<double>(n) * static_cast<double>(m) * static_cast<double>(d) >= kParallelWork;
  parallel_for_static<long>(n_chunks, n_chunks > 1 && parallel, [&](long c) {
    auto zc = z.row(c);
    for (long i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i) {
      zc.noalias() = X(i, 0) * Bt.row(0);
      for (long k = 1; k < d; ++k) zc.noalias() += X(i, k) * Bt.row(k);
      f[i] = zc.cwiseMax(0.0).dot(a.transpose()) / static_cast<double>(m);
    }
  });
  return f;
}

ParticleResult particle_train(const VectorRef& a0, const RowMatrixRef& B0, const RowMatrixRef& X, const VectorRef& y,
                              const ParticleOptions& options) {
  const long m = B0.rows(), d = B0.cols();
  if (a0.size() != m) throw std::invalid_argument("particle_train: a has length " + std::to_string(a0.size()) +
                                                  ", expected m = " + std::to_string(m));
  if (options.method < 0 || options.method > 2) throw std::invalid_argument("particle_train: method must be 0, 1 or 2");
  const bool online = options.method == 2;
  const long n = online ? options.batch : X.rows();
  if (n < 1) throw std::invalid_argument("particle_train: the sample (or batch) is empty");
  if (!online && (X.cols() != d || y.size() != n)) throw std::invalid_argument("particle_train: X must be (N, d) and y (N,)");
  if (online && options.symmetric && n % 2 != 0) throw std::invalid_argument("particle_train: a symmetric batch must be even");
  if (online && options.target_kind != 1 && options.coef.size() != d)
    throw std::invalid_argument("particle_train: coef must have length d");
  check_saves(options.save_steps, options.n_steps);

  const long n_saves = static_cast<long>(options.save_steps.size());
  ParticleResult result;
  result.a.resize(n_saves, m);
  result.B.resize(n_saves, m * d);
  result.loss.resize(n_saves);

  ParticleSystem system(m, d, n, options);
  Vector a = a0;
  RowMatrix Bt = B0.transpose();
  Vector va(m), a_stage(m), a_acc(m);
  RowMatrix vBt(d, m), B_stage(d, m), B_acc(d, m);
  const double h = options.lr;
  long next = 0;
  for (long step = 0; step <= options.n_steps; ++step) {
    poll_interrupt();
    const bool save = next < n_saves && options.save_steps[static_cast<size_t>(next)] == step;
    if (step == options.n_steps && !save) break;
    const double loss = system.velocity(a, Bt, X, y, step, va, vBt);
    if (save) {
      result.a.row(next) = a.transpose();
      Eigen::Map<RowMatrix>(result.B.row(next).data(), m, d) = Bt.transpose();
      result.loss[next] = loss;
      ++next;
    }
    if (step == options.n_steps) break;
    if (options.method != 1) {
      a.noalias() += h * va;
      Bt.noalias() += h * vBt;
      continue;
    }
    // classical RK4 on the mean-field velocity field; a_acc accumulates k1 + 2 k2 + 2 k3 + k4
    a_acc = va;
    B_acc = vBt;
    const double weights[3] = {0.5, 0.5, 1.0};
    for (int stage = 0; stage < 3; ++stage) {
      a_stage = a + (weights[stage] * h) * va;
      B_stage = Bt + (weights[stage] * h) * vBt;
      system.velocity(a_stage, B_stage, X, y, step, va, vBt);
      const double w = stage < 2 ? 2.0 : 1.0;
      a_acc.noalias() += w * va;
      B_acc.noalias() += w * vBt;
    }
    a.noalias() += (h / 6.0) * a_acc;
    Bt.noalias() += (h / 6.0) * B_acc;
  }
  return result;
}

RowMatrix reduced_samples(int d, int d_H, std::uint64_t seed, std::uint64_t step, long n_samples) {
  RowMatrix S(n_samples, 6);
  for (long i = 0; i < n_samples; ++i)
    reduced_sample(seed, step * static_cast<std::uint64_t>(n_samples) + static_cast<std::uint64_t>(i), d, d_H, S.row(i).data());
  return S;
}

ReducedResult reduced_train(const VectorRef& c0, const VectorRef& theta0, const ReducedOptions& options) {
  const long m = c0.size();
  const int d = options.d, d_H = options.d_H;
  if (theta0.size() != m) throw std::invalid_argument("reduced_train: c0 and theta0 must have the same length");
  if (d_H < 1 || d_H >= d) throw std::invalid_argument("reduced_train: need 1 <= d_H < d");
  const long n = options.n_samples;
  if (n < 1) throw std::invalid_argument("reduced_train: n_samples must be >= 1");
  check_saves(options.save_steps, options.n_steps);
  const long n_saves = static_cast<long>(options.save_steps.size());
  ReducedResult result;
  result.c.resize(n_saves, m);
  result.theta.resize(n_saves, m);
  result.loss.resize(n_saves);

  const long chunk = chunk_size(n);
  const long n_chunks = (n + chunk - 1) / chunk;
  Vector c = c0, theta = theta0, eps(m), cos_t(m), sin_t(m), G(m), V(m);
  for (long j = 0; j < m; ++j) eps[j] = c0[j] >= 0.0 ? 1.0 : -1.0;
  RowMatrix part(2 * n_chunks, m);
  Vector loss_part(n_chunks);
  const double inv_m = 1.0 / static_cast<double>(m);
  long next = 0;
  for (long step = 0; step <= options.n_steps; ++step) {
    poll_interrupt();
    const bool save = next < n_saves && options.save_steps[static_cast<size_t>(next)] == step;
    if (step == options.n_steps && !save) break;
    cos_t = theta.array().cos();
    sin_t = theta.array().sin();
    parallel_for_static<long>(n_chunks, n_chunks > 1 && static_cast<double>(n) * static_cast<double>(m) * 4.0 >= kParallelWork,
                              [&](long ch) {
      auto pg = part.row(2 * ch);
      auto pv = part.row(2 * ch + 1);
      pg.setZero();
      pv.setZero();
      double loss = 0.0;
      for (long i = ch * chunk; i < std::min(n, (ch + 1) * chunk); ++i) {
        double sample[6];
        reduced_sample(options.seed, static_cast<std::uint64_t>(step) * static_cast<std::uint64_t>(n) + static_cast<std::uint64_t>(i), d,
                       d_H, sample);
        const double cos_phi = sample[0];
        // the predictor uses an independent (r', s'): the residual is then independent of the
        // (r, s) of the reaction term given phi, and R psi is an unbiased estimate of the integrand
        const double alpha_f = cos_phi * sample[4];
        const double beta_f = sample[1] * sample[5];
        const double f = ((alpha_f * cos_t.transpose().array() + beta_f * sin_t.transpose().array()).max(0.0) *
                          c.transpose().array()).sum() * inv_m;
        const double alpha = cos_phi * sample[2];
        const double beta = sample[1] * sample[3];
        const auto argument = alpha * cos_t.transpose().array() + beta * sin_t.transpose().array();
        const double r = cos_phi - f;
        // two independent estimates of R(phi): their product is unbiased for R(phi)^2
        const double f_same = (argument.max(0.0) * c.transpose().array()).sum() * inv_m;
        loss += r * (cos_phi - f_same);
        pg.array() += r * argument.max(0.0);
        pv.array() += (argument > 0.0).select(r * (beta * cos_t.transpose().array() - alpha * sin_t.transpose().array()), 0.0);
      }
      loss_part[ch] = loss;
    });
    G = part.row(0).transpose();
    V = part.row(1).transpose();
    for (long ch = 1; ch < n_chunks; ++ch) {
      G += part.row(2 * ch).transpose();
      V += part.row(2 * ch + 1).transpose();
    }
    const double scale = static_cast<double>(d) / static_cast<double>(n);
    if (save) {
      double loss = 0.0;
      for (long ch = 0; ch < n_chunks; ++ch) loss += loss_part[ch];
      result.c.row(next) = c.transpose();
      result.theta.row(next) = theta.transpose();
      result.loss[next] = 0.5 * loss / static_cast<double>(n);
      ++next;
    }
    if (step == options.n_steps) break;
    c.array() *= 1.0 + (2.0 * options.lr * scale) * eps.array() * G.array();
    theta.array() += (options.lr * scale) * eps.array() * V.array();
  }
  return result;
}

}  // namespace intrinsic_flow
