#include "flow.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "interrupt.hpp"

namespace intrinsic_flow {

namespace {

// Reductions in one fixed order, whatever the alignment of the data: Eigen's reductions on a Map
// start their vector loop at the first aligned element, so their rounding depended on where a
// buffer happened to be allocated (another thread's workspace, an earlier unrelated allocation).
// These make results bit-identical for a given input. Two accumulators of 8 lanes take alternate
// blocks of 8 terms (instruction-level parallelism); lane j adds the terms of its blocks at offset
// j, in order. Fixed-size Eigen arrays over unaligned Maps give elementwise vector code whose
// rounding cannot depend on alignment; the lanes are then combined in a fixed tree.
using Lanes = Eigen::Array<double, 8, 1>;
using LanesMap = Eigen::Map<const Lanes>;

inline double combine(const Lanes& a) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

inline double fixed_dot(const double* x, const double* y, std::int64_t n) {
  Lanes even = Lanes::Zero(), odd = Lanes::Zero();
  std::int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    even += LanesMap(x + k) * LanesMap(y + k);
    odd += LanesMap(x + k + 8) * LanesMap(y + k + 8);
  }
  if (k + 8 <= n) {
    even += LanesMap(x + k) * LanesMap(y + k);
    k += 8;
  }
  double total = combine(even + odd);
  for (; k < n; ++k) total += x[k] * y[k];
  return total;
}

inline double fixed_sum(const double* x, std::int64_t n) {
  Lanes even = Lanes::Zero(), odd = Lanes::Zero();
  std::int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    even += LanesMap(x + k);
    odd += LanesMap(x + k + 8);
  }
  if (k + 8 <= n) {
    even += LanesMap(x + k);
    k += 8;
  }
  double total = combine(even + odd);
  for (; k < n; ++k) total += x[k];
  return total;
}

// A per-thread scratch buffer of at least size doubles, reused across calls (no allocation per
// right-side evaluation once it has grown).
inline double* scratch(std::vector<double>& buffer, std::int64_t size) {
  if (static_cast<std::int64_t>(buffer.size()) < size) buffer.resize(static_cast<std::size_t>(size));
  return buffer.data();
}

}  // namespace

QuadraticObjective::QuadraticObjective(Vector target, Vector weights_squared)
    : target_(std::move(target)), weights_squared_(std::move(weights_squared)) {
  if (target_.size() != weights_squared_.size())
    throw std::invalid_argument("QuadraticObjective: target and weights have different lengths");
}

double QuadraticObjective::value_and_gradient(const double* lifted, double* gradient) const {
  const std::int64_t d = target_.size();
  const double* target = target_.data();
  const double* weights_squared = weights_squared_.data();
  for (std::int64_t p = 0; p < d; ++p) gradient[p] = weights_squared[p] * (lifted[p] - target[p]);
  // f = 1/2 sum_p (z_p - t_p) w_p^2 (z_p - t_p), summed in a fixed order
  double s0 = 0.0, s1 = 0.0;
  std::int64_t p = 0;
  for (; p + 2 <= d; p += 2) {
    s0 += (lifted[p] - target[p]) * gradient[p];
    s1 += (lifted[p + 1] - target[p + 1]) * gradient[p + 1];
  }
  for (; p < d; ++p) s0 += (lifted[p] - target[p]) * gradient[p];
  return 0.5 * (s0 + s1);
}

MatrixRegressionObjective::MatrixRegressionObjective(RowMatrix inputs, RowMatrix targets)
    : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  if (inputs_.rows() != targets_.rows() || inputs_.rows() < 1)
    throw std::invalid_argument("MatrixRegressionObjective: X and Y need the same number (>= 1) of rows");
}

double MatrixRegressionObjective::value_and_gradient(const double* lifted, double* gradient) const {
  // residual R = X Z^T - Y (n, n_out); grad = R^T X / n; f = |R|^2 / (2n). Plain loops in a fixed
  // order into a per-thread buffer: bit-identical results, nothing allocated per evaluation.
  const std::int64_t n = inputs_.rows(), n_in = inputs_.cols(), n_out = targets_.cols();
  thread_local std::vector<double> buffer;
  double* residual = scratch(buffer, n * n_out);
  const double* X = inputs_.data();
  const double* Y = targets_.data();
  for (std::int64_t s = 0; s < n; ++s)
    for (std::int64_t i = 0; i < n_out; ++i)
      residual[s * n_out + i] = fixed_dot(X + s * n_in, lifted + i * n_in, n_in) - Y[s * n_out + i];
  std::fill(gradient, gradient + n_out * n_in, 0.0);
  for (std::int64_t s = 0; s < n; ++s)
    for (std::int64_t i = 0; i < n_out; ++i) {
      const double r = residual[s * n_out + i];
      for (std::int64_t j = 0; j < n_in; ++j) gradient[i * n_in + j] += r * X[s * n_in + j];
    }
  const double count = static_cast<double>(n);
  for (std::int64_t k = 0; k < n_out * n_in; ++k) gradient[k] /= count;
  return 0.5 * fixed_dot(residual, residual, n * n_out) / count;
}

double LiftedLoss::value_and_gradient(const double* theta, double* gradient) const {
  // grad l = J^T grad f(z) as a vector-Jacobian product: O(d + paths x depth) for the
  // path-lifting instead of forming the d x D Jacobian; z and grad f in a per-thread buffer.
  const std::int64_t d = lifting_.n_lifted();
  thread_local std::vector<double> buffer;
  double* lifted = scratch(buffer, 2 * d);
  double* lifted_gradient = lifted + d;
  lifting_.lift(theta, lifted);
  const double value = objective_->value_and_gradient(lifted, lifted_gradient);
  lifting_.vjp(theta, lifted_gradient, gradient);
  return value;
}

NetworkRegression::NetworkRegression(std::vector<int> widths, std::vector<bool> has_bias, bool relu,
                                     RowMatrix inputs, RowMatrix targets)
    : widths_(std::move(widths)), has_bias_(std::move(has_bias)), relu_(relu), inputs_(std::move(inputs)),
      targets_(std::move(targets)), inputs_t_(inputs_.transpose()), targets_t_(targets_.transpose()) {
  const int L = static_cast<int>(widths_.size()) - 1;
  if (L < 1 || static_cast<int>(has_bias_.size()) != L)
    throw std::invalid_argument("NetworkRegression: need >= 2 widths and one bias flag per layer");
  if (inputs_.cols() != widths_.front() || targets_.cols() != widths_.back() || inputs_.rows() != targets_.rows() ||
      inputs_.rows() < 1)
    throw std::invalid_argument("NetworkRegression: X must be (n, d_in) and Y (n, d_out) with n >= 1");
  for (int l = 0; l < L; ++l) {
    weight_offsets_.push_back(n_params_);
    n_params_ += widths_[l + 1] * widths_[l];
    bias_offsets_.push_back(has_bias_[l] ? n_params_ : -1);
    if (has_bias_[l]) n_params_ += widths_[l + 1];
  }
}

double NetworkRegression::value_and_gradient(const double* theta, double* gradient) const {
  const auto n = static_cast<double>(inputs_.rows());
  double value = 0.0;
  backpropagate(theta, gradient, [&](ConstMatrixMap output_t, MatrixMap output_gradient_t) {
    output_gradient_t = output_t - targets_t_;
    value = 0.5 * fixed_dot(output_gradient_t.data(), output_gradient_t.data(), output_gradient_t.size()) / n;
    output_gradient_t /= n;
  });
  return value;
}

namespace {

// y += a x over one row of samples; restrict: the rows never overlap, so this vectorises as is.
inline void axpy(double a, const double* __restrict x, double* __restrict y, std::int64_t n) {
  for (std::int64_t s = 0; s < n; ++s) y[s] += a * x[s];
}

}  // namespace

template <typename OutputLoss>
void NetworkRegression::backpropagate(const double* theta, double* gradient, OutputLoss output_loss) const {
  // Activations are stored transposed, (width, n): every inner loop runs over the n samples,
  // contiguous, as an axpy or a dot product. A per-thread workspace holds pre[l] (w_{l+1}, n),
  // act[l] (w_l, n) for hidden layers and two delta buffers (widest, n): nothing is allocated.
  const int L = static_cast<int>(widths_.size()) - 1;
  const std::int64_t n = inputs_t_.cols();
  const std::int64_t widest = *std::max_element(widths_.begin(), widths_.end());
  std::vector<std::int64_t> pre_at(L), act_at(L, -1);
  std::int64_t size = 0;
  for (int l = 0; l < L; ++l) { pre_at[l] = size; size += widths_[l + 1] * n; }
  for (int l = 1; l < L; ++l) { act_at[l] = size; size += widths_[l] * n; }
  const std::int64_t delta_at = size;
  size += 2 * widest * n;
  thread_local std::vector<double> workspace;
  if (static_cast<std::int64_t>(workspace.size()) < size) workspace.resize(size);
  double* base = workspace.data();
  auto layer_input = [&](int l) { return l == 0 ? inputs_t_.data() : base + act_at[l]; };

  // Forward: pre[l] = W act[l] + b, act[l+1] = relu(pre[l]) on hidden layers.
  for (int l = 0; l < L; ++l) {
    const int in = widths_[l], out = widths_[l + 1];
    const double* weight = theta + weight_offsets_[l];
    const double* below = layer_input(l);
    double* pre = base + pre_at[l];
    for (int j = 0; j < out; ++j) {
      double* row = pre + j * n;
      std::fill(row, row + n, has_bias_[l] ? theta[bias_offsets_[l] + j] : 0.0);
      for (int i = 0; i < in; ++i) axpy(weight[j * in + i], below + i * n, row, n);
    }
    if (l + 1 < L) {
      double* act = base + act_at[l + 1];
      for (std::int64_t k = 0; k < out * n; ++k) act[k] = relu_ ? std::max(pre[k], 0.0) : pre[k];
    }
  }
  double* delta = base + delta_at;  // d l / d pre[l], (w_{l+1}, n), from the top
  double* below_delta = delta + widest * n;
  output_loss(ConstMatrixMap(base + pre_at[L - 1], widths_[L], n), MatrixMap(delta, widths_[L], n));
  for (int l = L - 1; l >= 0; --l) {
    const int in = widths_[l], out = widths_[l + 1];
    const double* below = layer_input(l);
    const double* weight = theta + weight_offsets_[l];
    for (int j = 0; j < out; ++j) {  // grad W = delta act^T: dot products over the samples
      const double* delta_row = delta + j * n;
      for (int i = 0; i < in; ++i) gradient[weight_offsets_[l] + j * in + i] = fixed_dot(delta_row, below + i * n, n);
      if (has_bias_[l]) gradient[bias_offsets_[l] + j] = fixed_sum(delta_row, n);
    }
    if (l > 0) {  // below_delta = W^T delta, masked by relu'(pre[l-1]) (sigma'(0) = 0)
      const double* pre_below = base + pre_at[l - 1];
      for (int i = 0; i < in; ++i) {
        double* row = below_delta + i * n;
        std::fill(row, row + n, 0.0);
        for (int j = 0; j < out; ++j) axpy(weight[j * in + i], delta + j * n, row, n);
        if (relu_)
          for (std::int64_t s = 0; s < n; ++s) row[s] = pre_below[i * n + s] > 0.0 ? row[s] : 0.0;
      }
      std::swap(delta, below_delta);
    }
  }
}

ChainLiftedLoss::ChainLiftedLoss(std::vector<int> widths, std::shared_ptr<const LiftedObjective> objective,
                                 double offset_scale)
    : chain_(widths, std::vector<bool>(widths.size() - 1, false), false,
             RowMatrix::Identity(widths.front(), widths.front()), RowMatrix::Zero(widths.front(), widths.back())),
      objective_(std::move(objective)), scale_(offset_scale) {}

// z = Z.ravel() with Z = W_L ... W_1 is the transpose of the chain's output on X = I; the
// gradient is the backpropagation of grad f(Z)^T. For the neural ODE W_k = I + A_k / K.
double ChainLiftedLoss::value_and_gradient(const double* theta, double* gradient) const {
  const int D = chain_.n_params();
  thread_local std::vector<double> buffer;  // W_k = I + A_k / K, reused: no allocation per evaluation
  const double* factors = theta;
  if (scale_ != 0.0) {
    double* scaled = scratch(buffer, D);
    for (int e = 0; e < D; ++e) scaled[e] = scale_ * theta[e];
    const int n = chain_.widths().front();
    for (int k = 0; k * n * n < D; ++k)
      for (int i = 0; i < n; ++i) scaled[static_cast<std::int64_t>(k) * n * n + i * n + i] += 1.0;
    factors = scaled;
  }
  double value = 0.0;
  // on X = I the transposed output of the chain is Z itself, and its gradient grad f(Z)
  chain_.backpropagate(factors, gradient, [&](ConstMatrixMap Z, MatrixMap lifted_gradient) {
    value = objective_->value_and_gradient(Z.data(), lifted_gradient.data());
  });
  if (scale_ != 0.0) Eigen::Map<Vector>(gradient, D) *= scale_;
  return value;
}

namespace {

// The right side theta' = -grad l; returns l, or NaN when theta, l or the gradient is not finite.
double velocity(const GradientField& field, const Vector& theta, Vector& out, long& n_evaluations) {
  out.resize(theta.size());  // no allocation once out has its size
  if (!theta.allFinite()) {
    out.setConstant(std::nan(""));
    return std::nan("");
  }
  const double value = field.value_and_gradient(theta.data(), out.data());
  ++n_evaluations;
  out = -out;
  if (!std::isfinite(value) || !out.allFinite()) return std::nan("");
  return value;
}

void save_state(FlowResult& result, double t, const Vector& state, double value) {
  result.times.push_back(t);
  result.states.push_back(state);
  result.values.push_back(value);
}

void stop(FlowResult& result, double t, const std::string& reason) {
  result.completed = false;
  result.time_reached = t;
  result.reason = reason;
}

const char* kNonFinite = "the loss or its gradient is not finite";
// rk45 step control: the smallest factor a rejection applies, and the step (relative to t_end)
// below which a rejected step stops the flow (reference/flows.py has the same constants).
constexpr double rk45_min_factor = 0.2;
constexpr double rk45_min_step = 1e-12;  // the messages below print it

}  // namespace

namespace {
// Classic RK4.
constexpr double rk4_c[4] = {0.0, 0.5, 0.5, 1.0};
constexpr double rk4_a[4 * 4] = {0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 1.0, 0};
constexpr double rk4_b[4] = {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6};
// Dormand & Prince (1980), the RK5(4)7M pair: the 7th row of a is b (b_7 = 0), so the last stage is
// f(y_new), the next step's first (first same as last).
constexpr double dopri_c[7] = {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0};
constexpr double dopri_a[7 * 7] = {
    0, 0, 0, 0, 0, 0, 0,
    1.0 / 5, 0, 0, 0, 0, 0, 0,
    3.0 / 40, 9.0 / 40, 0, 0, 0, 0, 0,
    44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0, 0, 0,
    19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0, 0, 0,
    9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656, 0, 0,
    35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0};
constexpr double dopri_b[7] = {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0};
constexpr double dopri_e[7] = {71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40};
}  // namespace

const ButcherTableau kClassicRK4{4, rk4_c, rk4_a, rk4_b, nullptr};
const ButcherTableau kDormandPrince54{7, dopri_c, dopri_a, dopri_b, dopri_e};

RungeKuttaStepper::RungeKuttaStepper(const ButcherTableau& tableau, Eigen::Index size)
    : tableau_(tableau), k_(tableau.stages, Vector(size)), stage_(size) {}

double RungeKuttaStepper::step(const GradientField& field, const Vector& y, double h, Vector& y_new, Vector* error,
                               long& n_evaluations) {
  const int s = tableau_.stages;
  double value = 0.0;
  for (int i = 1; i < s; ++i) {
    // Terms with a_ij = 0 are skipped: they would add 0 x k_j, and NaN when k_j is not finite.
    stage_ = y;
    for (int j = 0; j < i; ++j) {
      const double a = tableau_.a[i * s + j];
      if (a != 0.0) stage_ += (h * a) * k_[j];
    }
    value = velocity(field, stage_, k_[i], n_evaluations);
    if (std::isnan(value)) return value;
  }
  y_new = y;
  for (int j = 0; j < s; ++j)
    if (tableau_.b[j] != 0.0) y_new += (h * tableau_.b[j]) * k_[j];
  if (error != nullptr && tableau_.e != nullptr) {
    error->setZero(y.size());
    for (int j = 0; j < s; ++j)
      if (tableau_.e[j] != 0.0) *error += (h * tableau_.e[j]) * k_[j];
  }
  return value;
}

FlowResult integrate_rk4(const GradientField& field, const Vector& theta0, const std::vector<double>& times,
                         const std::vector<bool>& save) {
  FlowResult result;
  // stages and the next state are sized once: no allocation per step besides the saves
  RungeKuttaStepper rk(kClassicRK4, theta0.size());
  Vector y = theta0, y_new(theta0.size());
  for (size_t step = 0; step < times.size(); ++step) {
    poll_interrupt();
    const double t = times[step];
    const double value = velocity(field, y, rk.k(0), result.n_evaluations);
    if (std::isnan(value)) {
      stop(result, t, kNonFinite);
      return result;
    }
    if (save[step]) save_state(result, t, y, value);
    result.time_reached = t;
    if (step + 1 == times.size()) break;
    if (std::isnan(rk.step(field, y, times[step + 1] - t, y_new, nullptr, result.n_evaluations)) ||
        !y_new.allFinite()) {
      stop(result, t, kNonFinite);
      return result;
    }
    y.swap(y_new);
  }
  return result;
}

FlowResult integrate_rk45(const GradientField& field, const Vector& theta0, const std::vector<double>& stops,
                          const std::vector<bool>& save, bool save_all_steps, double rtol, long max_steps) {
  FlowResult result;
  const double t_end = stops.back();
  // stages, the next state, the error and its scaled ratio are sized once: no allocation per step
  RungeKuttaStepper rk(kDormandPrince54, theta0.size());
  Vector y = theta0, y_new(theta0.size()), error(theta0.size()), ratio(theta0.size());
  double value = velocity(field, y, rk.k(0), result.n_evaluations);
  if (std::isnan(value)) {
    stop(result, 0.0, kNonFinite);
    return result;
  }
  if (save[0] || save_all_steps) save_state(result, 0.0, y, value);
  double t = 0.0, h = t_end / 100.0;
  size_t next_stop = 1;
  long n_steps = 0;
  while (next_stop < stops.size()) {
    poll_interrupt();
    if (++n_steps > max_steps) {
      stop(result, t, "more than max_steps = " + std::to_string(max_steps) + " steps");
      return result;
    }
    const double target = stops[next_stop];
    const bool lands = t + h >= target - 1e-12 * t_end;
    const double step = lands ? target - t : h;
    const double last_value = rk.step(field, y, step, y_new, &error, result.n_evaluations);
    if (std::isnan(last_value)) {
      // A stage left the domain (overflow): rejected like any error-control failure, with the
      // smallest factor; the flow stops only when the step can no longer shrink.
      ++result.n_rejected;
      if (step <= rk45_min_step * t_end) {
        stop(result, t, std::string(kNonFinite) + " even with steps below 1e-12 t_end");
        return result;
      }
      h = step * rk45_min_factor;
      continue;
    }
    // error_i / (rtol (1 + max(|y_i|, |y_new_i|))), RMS
    ratio.array() = error.array() / (rtol * (1.0 + y.array().abs().max(y_new.array().abs())));
    const double err = std::sqrt(ratio.squaredNorm() / static_cast<double>(y.size()));
    // The factor is rounded down to a power 2^(k/8): the error estimate cancels digits, and a
    // discrete set of factors keeps the step sequence the same in both backends.
    const double raw = err == 0.0 ? 5.0 : std::min(5.0, std::max(rk45_min_factor, 0.9 * std::pow(err, -0.2)));
    const double factor = std::pow(2.0, std::floor(8.0 * std::log2(raw)) / 8.0);
    if (!(err <= 1.0)) {  // NaN too (an overflow in y_new)
      ++result.n_rejected;
      if (step <= rk45_min_step * t_end) {
        stop(result, t, "the error control failed even with steps below 1e-12 t_end");
        return result;
      }
      h = step * std::min(1.0, factor);
      continue;
    }
    // First same as last: the last stage was evaluated at y_new itself.
    y.swap(y_new);
    rk.k(0).swap(rk.k(kDormandPrince54.stages - 1));
    value = last_value;
    t = lands ? target : t + step;
    result.time_reached = t;
    if (lands) {
      if (save[next_stop] || save_all_steps) save_state(result, t, y, value);
      ++next_stop;
    } else if (save_all_steps) {
      save_state(result, t, y, value);
    }
    h = lands ? std::max(h, step * factor) : step * factor;
  }
  return result;
}

FlowResult gradient_descent(const GradientField& field, const Vector& theta0, double lr, int n_steps) {
  FlowResult result;
  Vector y = theta0, v;
  for (int step = 0; step <= n_steps; ++step) {
    poll_interrupt();
    const double value = velocity(field, y, v, result.n_evaluations);
    if (std::isnan(value)) {
      stop(result, step, kNonFinite);
      return result;
    }
    save_state(result, step, y, value);
    result.time_reached = step;
    if (step < n_steps) y = y + lr * v;
  }
  return result;
}

}  // namespace intrinsic_flow
